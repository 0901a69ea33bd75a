import { defineScript } from "../cache/scripts.js";
import type { Redis } from "@upstash/redis";
import type { Db } from "../db/db.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import { recordSet } from "./catalog.js";
import { manifestText, newSetId, setPrefix, type Manifest } from "./manifest.js";
import { GzipObjectWriter } from "./gzip-object.js";
import { verifySet } from "./verify.js";

/** Keys per SCAN step and per snapshot script: two REST round trips per batch. */
export const REDIS_BATCH = 1000;

export type RedisValue = string | string[] | Record<string, string> | (string | number)[];
export interface RedisLine {
  k: string;
  t: "string" | "hash" | "list" | "set" | "zset";
  ttl: number;
  v: RedisValue;
}

export interface RedisBackupDeps {
  redis: Redis;
  prefix: string;
  store: StreamingBlobStore;
  db?: Db;
  now?: () => Date;
  progress?: (line: string) => void;
}

/**
 * A logical Redis snapshot (Upstash has no DUMP/RESTORE): SCAN the service's keys, then per batch
 * one script returning type, PTTL and value, written as NDJSON through gzip to S3.
 */
export async function backupRedis(deps: RedisBackupDeps): Promise<{ manifest: Manifest; verified: boolean }> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const id = newSetId(startedAt);
  const prefix = setPrefix("redis", id);
  if (deps.db) await recordSet(deps.db, { kind: "redis", id, prefix, started_at: startedAt.toISOString() });
  const writer = new GzipObjectWriter(deps.store, `${prefix}keys.ndjson.gz`);
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
    format: 1,
    kind: "redis",
    id,
    prefix,
    started_at: startedAt.toISOString(),
    finished_at: now().toISOString(),
    objects: [object],
    key_counts: counts,
    totals: { objects: 1, bytes: object.bytes, rows: object.rows },
  };
  await deps.store.put(`${prefix}manifest.json`, manifestText(manifest), "application/json");
  const verification = await verifySet(deps.store, "redis", id);
  if (deps.db) await recordSet(deps.db, manifest, verification.ok);
  return { manifest, verified: verification.ok };
}

/**
 * Type, remaining TTL and value of each key in one script (one round trip per batch, and a
 * consistent view of each key). Keys that vanished since the SCAN come back as "none" and are skipped.
 */
const SNAPSHOT = defineScript(
  `
local out = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  local v = false
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  else t = 'none' end
  out[i] = {t, redis.call('PTTL', k), v}
end
return out
`,
  { readOnly: true },
);

export async function snapshotKeys(redis: Redis, keys: string[]): Promise<RedisLine[]> {
  const rows = await redis.eval<string[], [string, number, RedisValue][]>(SNAPSHOT, keys, []);
  const out: RedisLine[] = [];
  rows.forEach(([t, ttl, v], i) => {
    if (t === "none" || v === null) return;
    out.push({ k: keys[i]!, t: t as RedisLine["t"], ttl: Number(ttl), v: t === "hash" ? pairsToObject(v) : v });
  });
  return out;
}

/** HGETALL arrives as a flat field/value list when the client does not deserialize. */
function pairsToObject(v: RedisValue): RedisValue {
  if (!Array.isArray(v)) return v;
  const out: Record<string, string> = {};
  for (let i = 0; i < v.length; i += 2) out[String(v[i])] = String(v[i + 1]);
  return out;
}
