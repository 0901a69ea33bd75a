import type { Readable } from "node:stream";
import type { StreamingBlobStore } from "./blob.js";

export class OutsidePrefixError extends Error {
  override name = "OutsidePrefixError";
  constructor(op: string, key: string, prefix: string) {
    super(`${op} of ${key} refused: this job writes and deletes under ${prefix} only`);
  }
}

/**
 * `store` for one job: it reads anywhere, but writes and deletes only under `prefix` (its own sets),
 * as its IAM grant allows (infra/permissions.ts): a bug that computes another job's key fails here
 * first, the same way locally and in Lambda.
 */
export function scopedStore(store: StreamingBlobStore, prefix: string): StreamingBlobStore {
  const check = (op: string, key: string) => {
    if (!key.startsWith(prefix)) throw new OutsidePrefixError(op, key, prefix);
  };
  return {
    get: (key) => store.get(key),
    read: (key) => store.read(key),
    list: (p) => store.list(p),
    put: async (key, body, contentType) => {
      check("put", key);
      await store.put(key, body, contentType);
    },
    upload: async (key: string, body: Readable, contentType?: string) => {
      check("upload", key);
      await store.upload(key, body, contentType);
    },
    delete: async (keys) => {
      for (const k of keys) check("delete", k);
      await store.delete(keys);
    },
  };
}
