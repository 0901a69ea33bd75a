import type { RedisStore } from "../cache/redis.js";
import type { Db, Statement } from "../db/db.js";
import { recordErasure } from "../backup/erasure-log.js";
import type { BlobStore } from "../storage/blob.js";
import type { UserHasher } from "./hash.js";
import { USER_ID_FIELDS, USER_TABLES } from "./tables.js";
import { ERASED_REASON } from "../exports/erased.js";
import { defineScript, runScript } from "../cache/scripts.js";

export { USER_ID_FIELDS, USER_TABLES };
/** How long cache writes stay refused for a user being erased (the erasure takes seconds). */
const ERASING_TTL_SECONDS = 900;

export interface ErasureResult {
  user_id: string;
  deleted: { postgres: Record<string, number>; redis_keys: number; wal_messages: number; archives_rewritten: number };
}

/**
 * The user's Redis data, every key declared (Upstash `allow-key-locking`), its cost bounded by the
 * user's own data (no scan of the WAL or the keyspace). First the `:erasing` mark that refuses
 * cache writes for the user, then the user's cache keys, and the user's queued messages: one lex
 * range of `wal:owners`, inside fixed hashes. Dedupe keys (and the previous layout's message
 * hashes) are keys of their own, named in the user's index sets, so a script can only delete the
 * ones it was passed: it deletes those, and answers the members it was not passed (and keeps the
 * sets while any remain); the caller passes them to its next call. An erasure makes two calls
 * anyway (before and after Postgres), so this costs no extra round trip unless a set grows between
 * them. Dedupe keys answer only their own user's retries, so nothing is served from them meanwhile.
 * KEYS: [1] the erasing mark, [2] in-flight, [3] attempts, [4] tokens, [5] owners, [6] the user's
 * dedupe set, [7] the previous layout's dedupe set, [8] its WAL set, [9..24] the WAL's body hashes,
 * then F cache keys, D dedupe keys, L legacy message hashes. ARGV: mark ttl, owners range min, max, F, D, L,
 * then the L legacy message ids.
 * Returns {messages removed, keys removed, dedupe keys not passed, legacy message ids not passed}.
 */
const ERASE_REDIS = defineScript(`
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
local F, D, L = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local messages, keys = 0, 0
for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[5], ARGV[2], ARGV[3])) do
  local id = string.match(member, ':([^:]*)$')
  messages = messages + redis.call('HDEL', KEYS[9 + (tonumber(string.sub(id, 1, 1), 16) or 0)], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[5], member)
end
local first = 25
for i = first, first + F - 1 do keys = keys + redis.call('DEL', KEYS[i]) end
local passed = {}
for i = first + F, first + F + D - 1 do
  passed[KEYS[i]] = true
  keys = keys + redis.call('DEL', KEYS[i])
end
for i = 1, L do
  passed[ARGV[6 + i]] = true
  messages = messages + redis.call('DEL', KEYS[first + F + D + i - 1])
  redis.call('ZREM', KEYS[2], ARGV[6 + i])
end
local dedupe, legacy = {}, {}
for _, set in ipairs({KEYS[6], KEYS[7]}) do
  for _, member in ipairs(redis.call('SMEMBERS', set)) do
    if not passed[member] then dedupe[#dedupe + 1] = member end
  end
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[8])) do
  if not passed[id] then legacy[#legacy + 1] = id end
end
if #dedupe == 0 and #legacy == 0 then
  for i = 6, 8 do keys = keys + redis.call('DEL', KEYS[i]) end
end
return {messages, keys, dedupe, legacy}
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
    {
      text: count(
        `UPDATE protocol_audit_log SET user_id = 'erased:' || (SELECT max(id) FROM erasures WHERE user_hash = $2), reason = NULL WHERE user_id = $1`,
      ),
      params: [userId, hash],
    },
    // Free-form JSON names a user only in its `user_id` and `user_ids` fields (USER_ID_FIELDS):
    // those values, when they are the id, and nothing else (migration 0020). cta_data and memory
    // context belong to one user and go with the user's rows above.
    {
      text: count(`UPDATE recovery_operations r SET metadata = s.metadata, error_details = s.error_details
        FROM (SELECT id, hitl_erase_user_fields(metadata, ARRAY[$1]) AS metadata, hitl_erase_user_fields(error_details, ARRAY[$1]) AS error_details
          FROM recovery_operations WHERE strpos(metadata::text, $1) > 0 OR strpos(error_details::text, $1) > 0) s
        WHERE r.id = s.id AND (r.metadata IS DISTINCT FROM s.metadata OR r.error_details IS DISTINCT FROM s.error_details)`),
      params: [userId],
    },
    // Kept until the Redis part is done (see completePendingErasures); deleted in the same request when it is.
    { text: "INSERT INTO pending_erasures (user_id) VALUES ($1) ON CONFLICT DO NOTHING", params: [userId] },
    // Every export holding the user (export_users) is marked erased: no download URL is given any
    // more, and its object is deleted after this transaction (eraseUser). A running export is
    // marked too: its job sees it and deletes what it wrote (exports/run.ts). Repeatable: an
    // erased export's object is deleted again by a repeated erasure.
    {
      text: `WITH x AS (UPDATE exports SET state = 'erased', error = $2, finished_at = coalesce(finished_at, now()), lease_holder = NULL, lease_expires_at = NULL
          WHERE id IN (SELECT export_id FROM export_users WHERE user_hash = $1) RETURNING object_key)
        SELECT count(*)::int AS n, coalesce(array_agg(object_key), '{}') AS keys FROM x`,
      params: [hash, ERASED_REASON],
    },
    // An export asked for by the user's id keeps no trace of it in its filters.
    {
      text: count(`UPDATE exports SET filters = jsonb_set(filters, '{user_id}', '"erased"') WHERE filters->>'user_id' = $1`),
      params: [userId],
    },
  ];
}

/**
 * DELETE /v1/users/:id, idempotent (a repeat answers zeros, and finishes what an interrupted one
 * left). In order:
 * 1. the erasure is recorded in the bucket (any later restore re-applies it; a record whose
 *    erasure then fails is re-applied too, which is what was asked), and, at the same time,
 * 2. Redis: the user's queued messages, dedupe keys and cache keys, and a mark refusing cache
 *    writes for the user. If Redis is unavailable this answers 503 with nothing erased in Postgres.
 * 3. Postgres, one transaction (with a pending-erasure row, and the count of archived objects);
 * 4. Redis again (whatever was queued or cached between 2 and 3); if that fails the answer is 503
 *    and the pending row stays: the retry, any instance whose breaker closes, or the daily job
 *    completes it. Nothing of the user can be cached meanwhile (the mark) or read from Postgres.
 *    Exports holding the user are marked erased in that transaction, then their files deleted
 *    (`deleted.postgres.exports` counts them).
 * 5. the archived objects that hold the user are counted, not rewritten: the Archive job rewrites
 *    them (eraseArchivedUsers, from the erasures row of step 3), since the API may not write
 *    archives/ (infra/permissions.ts). `archives_rewritten` is that count.
 */
export async function eraseUser(
  deps: { db: Db; redis: RedisStore; hasher: UserHasher; storage?: BlobStore & { delete?(keys: string[]): Promise<void> } },
  userId: string,
  actor: string,
): Promise<ErasureResult> {
  const hash = deps.hasher.hash(userId);
  // The bucket's record and the first Redis call side by side: both done before Postgres is touched
  // (Redis is never restored from a backup, so erasing it before the record is written loses nothing).
  // One Redis call before Postgres (the mark, caches and queued messages; it answers the dedupe
  // keys), one after (those, and whatever was queued or cached meanwhile).
  const [, before] = await Promise.all([
    deps.storage ? recordErasure(deps.storage, hash, new Date(), actor) : undefined,
    eraseRedis(deps.redis, userId, NONE, "once"),
  ]);
  // The archived objects holding the user are counted in the erasure's own transaction (one round trip).
  const results = await deps.db.transaction([
    ...erasureStatements(deps.hasher, userId, actor),
    { text: "SELECT count(*)::int AS n FROM archive_users WHERE user_hash = $1", params: [hash] },
  ]);
  const postgres: Record<string, number> = {};
  USER_TABLES.forEach((t, i) => (postgres[t] = Number(results[i + 1]![0]!.n)));
  postgres.protocol_audit_log = Number(results[USER_TABLES.length + 1]![0]!.n);
  postgres.recovery_operations = Number(results[USER_TABLES.length + 2]![0]!.n);
  const archives = Number(results.at(-1)![0]!.n);
  const exports = results[USER_TABLES.length + 4]![0] as { n: number; keys: string[] };
  postgres.exports = Number(exports.n);
  // The erased exports' files (the API may delete under exports/ only, infra/permissions.ts).
  if (exports.keys.length) await deps.storage?.delete?.(exports.keys);
  const after = await eraseRedis(deps.redis, userId, before.left);
  const counts = {
    postgres,
    redis_keys: before.keys + after.keys,
    wal_messages: before.messages + after.messages,
    archives_rewritten: archives,
  };
  await deps.db.transaction([
    { text: "UPDATE erasures SET counts = $2::jsonb WHERE id = $1", params: [results[0]![0]!.id, JSON.stringify(counts)] },
    { text: "DELETE FROM pending_erasures WHERE user_id = $1", params: [userId] },
  ]);
  return { user_id: userId, deleted: counts };
}

/** Keys of the user's index sets that a call was not passed: the next call deletes them. */
interface Leftover {
  dedupe: string[];
  legacyIds: string[];
}
const NONE: Leftover = { dedupe: [], legacyIds: [] };

/** Dedupe keys passed to one call at most (a request stays small; the rest go to the next call). */
const MAX_KEYS_PER_CALL = 1000;

/** One round trip: see ERASE_REDIS. Every key comes from the key layout (cache/keys.ts). */
async function eraseRedisOnce(
  redis: RedisStore,
  userId: string,
  all: Leftover,
): Promise<{ messages: number; keys: number; left: Leftover }> {
  const pass = { dedupe: all.dedupe.slice(0, MAX_KEYS_PER_CALL), legacyIds: all.legacyIds.slice(0, MAX_KEYS_PER_CALL) };
  const w = redis.keys.wal;
  const u = redis.keys.user(userId);
  const legacy = redis.keys.legacyUser(userId);
  const caches = [...new Set([u.ctx, u.history, u.status, u.protocol, ...legacy.keys])].filter(
    (k) => k !== u.dedupe && k !== legacy.dedupe && k !== legacy.wal,
  );
  const [lo, hi] = w.ownerRange(userId);
  const legacyKeys = pass.legacyIds.map((id) => w.legacyMessage(id));
  const [messages, keys, dedupe, legacyIds] = await redis.run("gdpr.redis", (r) =>
    runScript<[number, number, string[], string[]]>(
      r,
      ERASE_REDIS,
      [
        u.erasing,
        w.inflight,
        w.attempts,
        w.tokens,
        w.owners,
        u.dedupe,
        legacy.dedupe,
        legacy.wal,
        ...w.messageBuckets,
        ...caches,
        ...pass.dedupe,
        ...legacyKeys,
      ],
      [
        String(ERASING_TTL_SECONDS),
        lo,
        hi,
        String(caches.length),
        String(pass.dedupe.length),
        String(legacyKeys.length),
        ...pass.legacyIds,
      ],
    ),
  );
  return { messages, keys, left: { dedupe: [...new Set(dedupe.map(String))], legacyIds: legacyIds.map(String) } };
}

/**
 * The user's Redis data. With `until: "done"` it repeats until the index sets are empty (bounded);
 * otherwise one call, answering what is left for the next one.
 */
async function eraseRedis(
  redis: RedisStore,
  userId: string,
  pass: Leftover = NONE,
  until: "once" | "done" = "done",
): Promise<{ messages: number; keys: number; left: Leftover }> {
  let messages = 0;
  let keys = 0;
  for (let attempt = 0; ; attempt++) {
    const r = await eraseRedisOnce(redis, userId, pass);
    messages += r.messages;
    keys += r.keys;
    pass = r.left;
    const done = pass.dedupe.length === 0 && pass.legacyIds.length === 0;
    if (until === "once" || done) return { messages, keys, left: pass };
    if (attempt >= 100) throw new Error("erasure: the user's Redis index sets kept growing; retry the erasure");
  }
}

/**
 * Finishes erasures whose Redis part was interrupted (pending_erasures): run when a Redis breaker
 * closes and by the daily job. Returns how many it completed.
 */
export async function completePendingErasures(deps: { db: Db; redis: RedisStore }, limit = 100): Promise<number> {
  const pending = await deps.db.query<{ user_id: string }>("SELECT user_id FROM pending_erasures ORDER BY created_at LIMIT $1", [limit]);
  let done = 0;
  for (const { user_id } of pending) {
    await eraseRedis(deps.redis, user_id);
    await deps.db.query("DELETE FROM pending_erasures WHERE user_id = $1", [user_id]);
    done++;
  }
  return done;
}
