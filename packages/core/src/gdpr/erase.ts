import type { RedisGateway } from "../cache/redis.js";
import type { Db, Statement } from "../db/db.js";
import { walKeys } from "../wal/keys.js";
import { eraseFromArchives } from "../backup/archive.js";
import { recordErasure } from "../backup/erasure-log.js";
import type { BlobStore } from "../storage/blob.js";
import type { UserHasher } from "./hash.js";
import { USER_TABLES } from "./tables.js";

export { USER_TABLES };
/** Per-user cache keys (DESIGN.md). */
const USER_KEY_SUFFIXES = ["ctx", "history", "status", "protocol", "processing"];
const SCAN_COUNT = 1000;


export interface ErasureResult {
  user_id: string;
  deleted: { postgres: Record<string, number>; redis_keys: number; wal_messages: number; archives_rewritten: number };
}

/** Removes the user's queued WAL messages (pending, in flight, dead-lettered) in one script. */
const ERASE_WAL = `
local prefix, user = ARGV[1], ARGV[2]
local removed = 0
local function mine(id) return redis.call('HGET', prefix .. id, 'user_id') == user end
local function drop(id) redis.call('DEL', prefix .. id); removed = removed + 1 end
for _, list in ipairs({KEYS[1], KEYS[3]}) do
  for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do
    if mine(id) then redis.call('LREM', list, 0, id); drop(id) end
  end
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if mine(id) then redis.call('ZREM', KEYS[2], id); drop(id) end
end
return removed
`;

/**
 * The Postgres part, one transaction: the log entry (a hash, never the id), every row of the user,
 * audit rows pseudonymised (the action trail stays, no personal text), recovery metadata scrubbed.
 * Also what a restore re-applies (see `reapplyErasures`).
 */
export function erasureStatements(hasher: UserHasher, userId: string, actor: string): Statement[] {
  const hash = hasher.hash(userId);
  const count = (sql: string) => `WITH d AS (${sql} RETURNING 1) SELECT count(*)::int AS n FROM d`;
  return [
    { text: "INSERT INTO erasures (user_hash, requested_by) VALUES ($1, $2) RETURNING id", params: [hash, actor] },
    ...USER_TABLES.map((t) => ({ text: count(`DELETE FROM ${t} WHERE user_id = $1`), params: [userId] })),
    { text: count(`UPDATE protocol_audit_log SET user_id = 'erased:' || (SELECT max(id) FROM erasures WHERE user_hash = $2), reason = NULL WHERE user_id = $1`), params: [userId, hash] },
    { text: count(`UPDATE recovery_operations SET metadata = replace(metadata::text, to_json($1::text)::text, '"[erased]"')::jsonb,
        error_details = replace(error_details::text, to_json($1::text)::text, '"[erased]"')::jsonb
        WHERE strpos(metadata::text, to_json($1::text)::text) > 0 OR strpos(error_details::text, to_json($1::text)::text) > 0`), params: [userId] },
  ];
}

/**
 * DELETE /v1/users/:id. The erasure is first recorded in the bucket (so any later restore re-applies
 * it), then Postgres (one transaction), Redis (the user's keys, dedupe keys and queued WAL
 * messages) and the archived objects that hold the user. Idempotent: a repeat answers zeros.
 */
export async function eraseUser(deps: { db: Db; redis: RedisGateway; hasher: UserHasher; storage?: BlobStore }, userId: string, actor: string): Promise<ErasureResult> {
  if (deps.storage) await recordErasure(deps.storage, deps.hasher.hash(userId), new Date(), actor);
  const results = await deps.db.transaction(erasureStatements(deps.hasher, userId, actor));
  const postgres: Record<string, number> = {};
  USER_TABLES.forEach((t, i) => (postgres[t] = Number(results[i + 1]![0]!.n)));
  postgres.protocol_audit_log = Number(results[USER_TABLES.length + 1]![0]!.n);
  postgres.recovery_operations = Number(results[USER_TABLES.length + 2]![0]!.n);
  const walMessages = await eraseWal(deps.redis, userId);
  const redisKeys = await eraseKeys(deps.redis, userId);
  const archives = deps.storage ? await eraseFromArchives(deps.db, deps.storage, deps.hasher, userId) : 0;
  const counts = { postgres, redis_keys: redisKeys, wal_messages: walMessages, archives_rewritten: archives };
  await deps.db.query("UPDATE erasures SET counts = $2::jsonb WHERE id = $1", [results[0]![0]!.id, JSON.stringify(counts)]);
  return { user_id: userId, deleted: counts };
}

function eraseWal(redis: RedisGateway, userId: string): Promise<number> {
  const k = walKeys(redis);
  return redis.run("gdpr.wal", (r) => r.eval<string[], number>(ERASE_WAL, [k.pending, k.inflight, k.dead], [k.msgPrefix, userId]));
}

/** The fixed per-user keys, plus every key under user:{id}: and the WAL dedupe keys (SCAN, exact match). */
async function eraseKeys(redis: RedisGateway, userId: string): Promise<number> {
  const userPrefix = redis.key("user", userId, "");
  const dedupePrefix = redis.key("wal", "dedupe", userId, "");
  const keys = new Set([...USER_KEY_SUFFIXES.map((s) => userPrefix + s), redis.key("buffer", userId)]);
  for (const [prefix, tail] of [[userPrefix, /^[a-z_]+$/], [dedupePrefix, /^\d+$/]] as const) {
    let cursor = "0";
    do {
      const [next, found] = await redis.run("gdpr.scan", (r) => r.scan(cursor, { match: `${prefix}*`, count: SCAN_COUNT }));
      cursor = String(next);
      for (const key of found) if (tail.test(key.slice(prefix.length))) keys.add(key);
    } while (cursor !== "0");
  }
  return redis.run("gdpr.del", (r) => r.del(...keys));
}
