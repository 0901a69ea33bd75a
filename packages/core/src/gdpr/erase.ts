import type { RedisGateway } from "../cache/redis.js";
import type { Db, Statement } from "../db/db.js";
import { walKeys } from "../wal/keys.js";
import { archivedObjectsOf } from "../backup/archive.js";
import { recordErasure } from "../backup/erasure-log.js";
import type { BlobStore } from "../storage/blob.js";
import type { UserHasher } from "./hash.js";
import { USER_ID_FIELDS, USER_TABLES } from "./tables.js";
import { defineScript } from "../cache/scripts.js";
import { runScript } from "../cache/scripts.js";

export { USER_ID_FIELDS, USER_TABLES };
/** Per-user cache keys (DESIGN.md) and the user's WAL indexes. */
const USER_KEY_SUFFIXES = ["ctx", "history", "status", "protocol", "processing", "wal", "dedupe"];
/** How long cache writes stay refused for a user being erased (the erasure takes seconds). */
const ERASING_TTL_SECONDS = 900;

export interface ErasureResult {
  user_id: string;
  deleted: { postgres: Record<string, number>; redis_keys: number; wal_messages: number; archives_rewritten: number };
}

/**
 * The user's Redis data in one script, its cost bounded by the user's own data (no scan of the
 * WAL or the keyspace): first the `:erasing` mark that refuses cache writes for the user, then
 * every message in the user's WAL index (hash deleted, lease dropped; an id left in the pending or
 * dead list has no message and is skipped by claims), the dedupe keys in the user's index, and
 * the user's fixed keys. KEYS[1] in-flight zset; ARGV: key prefix, user id, mark ttl, fixed keys.
 * Returns {messages removed, keys removed}.
 */
const ERASE_REDIS = defineScript(`
local base, user = ARGV[1], ARGV[2]
local userBase = base .. 'user:' .. user .. ':'
redis.call('SET', userBase .. 'erasing', '1', 'EX', ARGV[3])
local messages, keys = 0, 0
for _, id in ipairs(redis.call('SMEMBERS', userBase .. 'wal')) do
  messages = messages + redis.call('DEL', base .. 'wal:msg:' .. id)
  redis.call('ZREM', KEYS[1], id)
end
for _, key in ipairs(redis.call('SMEMBERS', userBase .. 'dedupe')) do keys = keys + redis.call('DEL', key) end
for i = 4, #ARGV do keys = keys + redis.call('DEL', ARGV[i]) end
return {messages, keys}
`);

/**
 * The Postgres part, one transaction: the log entry (a hash, never the id), every row of the user,
 * audit rows pseudonymised (the action trail stays, no personal text), the user's id erased from
 * recovery operations' user-id fields (USER_ID_FIELDS).
 * Also what a restore re-applies (see `reapplyErasures`).
 */
export function erasureStatements(hasher: UserHasher, userId: string, actor: string): Statement[] {
  const hash = hasher.hash(userId);
  const count = (sql: string) => `WITH d AS (${sql} RETURNING 1) SELECT count(*)::int AS n FROM d`;
  return [
    { text: "INSERT INTO erasures (user_hash, requested_by) VALUES ($1, $2) RETURNING id", params: [hash, actor] },
    ...USER_TABLES.map((t) => ({ text: count(`DELETE FROM ${t} WHERE user_id = $1`), params: [userId] })),
    { text: count(`UPDATE protocol_audit_log SET user_id = 'erased:' || (SELECT max(id) FROM erasures WHERE user_hash = $2), reason = NULL WHERE user_id = $1`), params: [userId, hash] },
    // Free-form JSON names a user only in its `user_id` and `user_ids` fields (USER_ID_FIELDS):
    // those values, when they are the id, and nothing else (migration 0020). cta_data and memory
    // context belong to one user and go with the user's rows above.
    { text: count(`UPDATE recovery_operations r SET metadata = s.metadata, error_details = s.error_details
        FROM (SELECT id, hitl_erase_user_fields(metadata, ARRAY[$1]) AS metadata, hitl_erase_user_fields(error_details, ARRAY[$1]) AS error_details
          FROM recovery_operations WHERE strpos(metadata::text, $1) > 0 OR strpos(error_details::text, $1) > 0) s
        WHERE r.id = s.id AND (r.metadata IS DISTINCT FROM s.metadata OR r.error_details IS DISTINCT FROM s.error_details)`), params: [userId] },
    // Kept until the Redis part is done (see completePendingErasures); deleted in the same request when it is.
    { text: "INSERT INTO pending_erasures (user_id) VALUES ($1) ON CONFLICT DO NOTHING", params: [userId] },
  ];
}

/**
 * DELETE /v1/users/:id, idempotent (a repeat answers zeros, and finishes what an interrupted one
 * left). In order:
 * 1. the erasure is recorded in the bucket (any later restore re-applies it; a record whose
 *    erasure then fails is re-applied too, which is what was asked);
 * 2. Redis: the user's queued messages, dedupe keys and cache keys, and a mark refusing cache
 *    writes for the user. If Redis is unavailable this answers 503 with nothing erased.
 * 3. Postgres, one transaction (with a pending-erasure row);
 * 4. Redis again (whatever was queued or cached between 2 and 3); if that fails the answer is 503
 *    and the pending row stays: the retry, any instance whose breaker closes, or the daily job
 *    completes it. Nothing of the user can be cached meanwhile (the mark) or read from Postgres.
 * 5. the archived objects that hold the user are counted, not rewritten: the Archive job rewrites
 *    them (eraseArchivedUsers, from the erasures row of step 3), since the API may not write
 *    archives/ (infra/permissions.ts). `archives_rewritten` is that count.
 */
export async function eraseUser(deps: { db: Db; redis: RedisGateway; hasher: UserHasher; storage?: BlobStore }, userId: string, actor: string): Promise<ErasureResult> {
  if (deps.storage) await recordErasure(deps.storage, deps.hasher.hash(userId), new Date(), actor);
  const before = await eraseRedis(deps.redis, userId);
  const results = await deps.db.transaction(erasureStatements(deps.hasher, userId, actor));
  const postgres: Record<string, number> = {};
  USER_TABLES.forEach((t, i) => (postgres[t] = Number(results[i + 1]![0]!.n)));
  postgres.protocol_audit_log = Number(results[USER_TABLES.length + 1]![0]!.n);
  postgres.recovery_operations = Number(results[USER_TABLES.length + 2]![0]!.n);
  const after = await eraseRedis(deps.redis, userId);
  const archives = await archivedObjectsOf(deps.db, deps.hasher.hash(userId));
  const counts = { postgres, redis_keys: before.keys + after.keys, wal_messages: before.messages + after.messages, archives_rewritten: archives };
  await deps.db.transaction([
    { text: "UPDATE erasures SET counts = $2::jsonb WHERE id = $1", params: [results[0]![0]!.id, JSON.stringify(counts)] },
    { text: "DELETE FROM pending_erasures WHERE user_id = $1", params: [userId] },
  ]);
  return { user_id: userId, deleted: counts };
}

async function eraseRedis(redis: RedisGateway, userId: string): Promise<{ messages: number; keys: number }> {
  const k = walKeys(redis);
  const fixed = [...USER_KEY_SUFFIXES.map((s) => redis.key("user", userId, s)), redis.key("buffer", userId)];
  const [messages, keys] = await redis.run("gdpr.redis", (r) => runScript<[number, number]>(r, ERASE_REDIS, [k.inflight],
    [redis.key(""), userId, String(ERASING_TTL_SECONDS), ...fixed]));
  return { messages, keys };
}

/**
 * Finishes erasures whose Redis part was interrupted (pending_erasures): run when a Redis breaker
 * closes and by the daily job. Returns how many it completed.
 */
export async function completePendingErasures(deps: { db: Db; redis: RedisGateway }, limit = 100): Promise<number> {
  const pending = await deps.db.query<{ user_id: string }>("SELECT user_id FROM pending_erasures ORDER BY created_at LIMIT $1", [limit]);
  let done = 0;
  for (const { user_id } of pending) {
    await eraseRedis(deps.redis, user_id);
    await deps.db.query("DELETE FROM pending_erasures WHERE user_id = $1", [user_id]);
    done++;
  }
  return done;
}
