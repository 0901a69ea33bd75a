import type { Redis } from "@upstash/redis";
import type { Db } from "../db/db.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import { recordSet } from "./catalog.js";
import { newSetId, setPrefix, type Manifest } from "./manifest.js";
import { NdjsonObjectWriter } from "./ndjson.js";
import { verifySet } from "./verify.js";

/** Keys per SCAN step and per pipeline: three REST round trips per batch. */
export const REDIS_BATCH = 1000;

export type RedisValue = string | string[] | Record<string, string> | (string | number)[];
export interface RedisLine { k: string; t: "string" | "hash" | "list" | "set" | "zset"; ttl: number; v: RedisValue }

export interface RedisBackupDeps { redis: Redis; prefix: string; store: StreamingBlobStore; db?: Db; now?: () => Date; progress?: (line: string) => void }

/**
 * A logical Redis snapshot (Upstash has no DUMP/RESTORE): SCAN the service's keys, then per batch
 * one pipeline of TYPE + PTTL and one of the values, written as NDJSON through gzip to S3.
 */
export async function backupRedis(deps: RedisBackupDeps): Promise<{ manifest: Manifest; verified: boolean }> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const id = newSetId(startedAt);
  const prefix = setPrefix("redis", id);
  if (deps.db) await recordSet(deps.db, { kind: "redis", id, prefix, started_at: startedAt.toISOString() });
  const writer = new NdjsonObjectWriter(deps.store, `${prefix}keys.ndjson.gz`);
  const counts: Record<string, number> = {};
  let cursor = "0";
  do {
    const [next, keys] = await deps.redis.scan(cursor, { match: `${deps.prefix}*`, count: REDIS_BATCH });
    cursor = String(next);
    if (keys.length) {
      const lines = await snapshotKeys(deps.redis, keys);
      for (const l of lines) counts[l.t] = (counts[l.t] ?? 0) + 1;
      await writer.write(lines.map((l) => JSON.stringify(l)));
      deps.progress?.(`  ${writer.rows} keys`);
    }
  } while (cursor !== "0");
  const object = await writer.close();
  const manifest: Manifest = {
    format: 1, kind: "redis", id, prefix, started_at: startedAt.toISOString(), finished_at: now().toISOString(),
    objects: [object], key_counts: counts, totals: { objects: 1, bytes: object.bytes, rows: object.rows },
  };
  await deps.store.put(`${prefix}manifest.json`, JSON.stringify(manifest, null, 2), "application/json");
  const verification = await verifySet(deps.store, "redis", id);
  if (deps.db) await recordSet(deps.db, manifest, verification.ok);
  return { manifest, verified: verification.ok };
}

/** Two pipelines: types and remaining TTLs, then values. Keys that vanish in between are skipped. */
export async function snapshotKeys(redis: Redis, keys: string[]): Promise<RedisLine[]> {
  const meta = redis.pipeline();
  for (const k of keys) { meta.type(k); meta.pttl(k); }
  const m = await meta.exec<(string | number)[]>();
  const values = redis.pipeline();
  const kept: { k: string; t: RedisLine["t"]; ttl: number }[] = [];
  keys.forEach((k, i) => {
    const t = m[i * 2] as string;
    const ttl = Number(m[i * 2 + 1]);
    if (t === "string") values.get(k);
    else if (t === "hash") values.hgetall(k);
    else if (t === "list") values.lrange(k, 0, -1);
    else if (t === "set") values.smembers(k);
    else if (t === "zset") values.zrange(k, 0, -1, { withScores: true });
    else return;
    kept.push({ k, t: t as RedisLine["t"], ttl });
  });
  if (kept.length === 0) return [];
  const v = await values.exec<RedisValue[]>();
  return kept.map((x, i) => ({ ...x, v: x.t === "hash" ? pairsToObject(v[i]!) : v[i]! })).filter((l) => l.v !== null);
}

/** HGETALL arrives as a flat field/value list when the client does not deserialize. */
function pairsToObject(v: RedisValue): RedisValue {
  if (!Array.isArray(v)) return v;
  const out: Record<string, string> = {};
  for (let i = 0; i < v.length; i += 2) out[String(v[i])] = String(v[i + 1]);
  return out;
}
