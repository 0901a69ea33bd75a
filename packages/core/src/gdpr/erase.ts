import type { RedisGateway } from "../cache/redis.js";
import type { Db, Statement } from "../db/db.js";
import { eraseFromArchives } from "../backup/archive.js";
import { recordErasure } from "../backup/erasure-log.js";
import type { BlobStore } from "../storage/blob.js";
import type { UserHasher } from "./hash.js";
import { USER_TABLES } from "./tables.js";
import { defineScript, runScript } from "../cache/scripts.js";

export { USER_TABLES };
/** How long cache writes stay refused for a user being erased (the erasure takes seconds). */
const ERASING_TTL_SECONDS = 900;

export interface ErasureResult {
  user_id: string;
  deleted: { postgres: Record<string, number>; redis_keys: number; wal_messages: number; archives_rewritten: number };
}

/**
 * The user's Redis data, every key declared (Upstash `allow-key-locking`), its cost bounded by the
 * user's own data (no scan of the WAL or the keyspace). The user's queued messages are one lex
 * range of `wal:owners`, inside fixed hashes, so they are found and removed here. Dedupe keys
 * (and the previous layout's message hashes) are separate keys named in the user's index sets: the
 * caller reads the sets first and declares what they held; a member that is not declared (written
 * between the read and this script) is left with its set, and the script answers how many, so the
 * caller reads again and repeats (nothing is dropped from an index before its key is deleted).
 * KEYS: [1] in-flight, [2] messages, [3] attempts, [4] tokens, [5] owners, [6] the user's dedupe
 * set, [7] the previous layout's dedupe set, [8] its WAL set, then F fixed keys, D dedupe keys,
 * L legacy message hashes. ARGV: owners range min, max, F, D, L, then the L legacy message ids.
 * Returns {messages removed, keys removed, members not declared}.
 */
const ERASE_REDIS = defineScript(`
local F, D, L = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local messages, keys = 0, 0
for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[5], ARGV[1], ARGV[2])) do
  local id = string.match(member, ':([^:]*)$')
  messages = messages + redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[5], member)
end
local declared = {}
for i = 9 + F, 8 + F + D do declared[KEYS[i]] = true end
for i = 6, 5 + L do declared[ARGV[i]] = true end
local missing = 0
for _, set in ipairs({KEYS[6], KEYS[7], KEYS[8]}) do
  for _, member in ipairs(redis.call('SMEMBERS', set)) do
    if not declared[member] then missing = missing + 1 end
  end
end
for i = 9 + F, 8 + F + D do keys = keys + redis.call('DEL', KEYS[i]) end
for i = 1, L do
  messages = messages + redis.call('DEL', KEYS[8 + F + D + i])
  redis.call('ZREM', KEYS[1], ARGV[5 + i])
end
if missing == 0 then
  for i = 9, 8 + F do keys = keys + redis.call('DEL', KEYS[i]) end
end
return {messages, keys, missing}
`);

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
    // The id wherever it appears in free-form JSON: strings and keys (substrings), numbers.
    { text: count(`UPDATE recovery_operations SET metadata = hitl_scrub_json(metadata, $1), error_details = hitl_scrub_json(error_details, $1)
        WHERE strpos(metadata::text, $1) > 0 OR strpos(error_details::text, $1) > 0`), params: [userId] },
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
 * 5. the archived objects that hold the user.
 */
export async function eraseUser(deps: { db: Db; redis: RedisGateway; hasher: UserHasher; storage?: BlobStore }, userId: string, actor: string): Promise<ErasureResult> {
  if (deps.storage) await recordErasure(deps.storage, deps.hasher.hash(userId), new Date(), actor);
  const before = await eraseRedis(deps.redis, userId);
  const results = await deps.db.transaction(erasureStatements(deps.hasher, userId, actor));
  const postgres: Record<string, number> = {};
  USER_TABLES.forEach((t, i) => (postgres[t] = Number(results[i + 1]![0]!.n)));
  postgres.protocol_audit_log = Number(results[USER_TABLES.length + 1]![0]!.n);
  postgres.recovery_operations = Number(results[USER_TABLES.length + 2]![0]!.n);
  // The sets as the first pass read them: one round trip unless something was added meanwhile.
  const after = await eraseRedis(deps.redis, userId, before.indexed);
  const archives = deps.storage ? await eraseFromArchives(deps.db, deps.storage, deps.hasher, userId) : 0;
  const counts = { postgres, redis_keys: before.keys + after.keys, wal_messages: before.messages + after.messages, archives_rewritten: archives };
  await deps.db.transaction([
    { text: "UPDATE erasures SET counts = $2::jsonb WHERE id = $1", params: [results[0]![0]!.id, JSON.stringify(counts)] },
    { text: "DELETE FROM pending_erasures WHERE user_id = $1", params: [userId] },
  ]);
  return { user_id: userId, deleted: counts };
}

/** What the user's index sets named when last read (dedupe keys; the previous layout's message ids). */
interface Indexed { dedupe: string[]; legacyIds: string[] }

/** One round trip: the `erasing` mark (no cache write for the user from now on), then the index sets. */
async function markAndRead(redis: RedisGateway, userId: string): Promise<Indexed> {
  const u = redis.keys.user(userId);
  const legacy = redis.keys.legacyUser(userId);
  const [, dedupe, legacyDedupe, legacyIds] = await redis.run("gdpr.redis.read", (r) => {
    const p = r.pipeline();
    p.set(u.erasing, "1", { ex: ERASING_TTL_SECONDS });
    p.smembers(u.dedupe);
    p.smembers(legacy.dedupe);
    p.smembers(legacy.wal);
    return p.exec<[unknown, string[], string[], string[]]>();
  });
  return { dedupe: [...new Set([...dedupe, ...legacyDedupe])], legacyIds };
}

/**
 * The user's Redis data, every key derived from the key layout (cache/keys.ts). With `known` (what
 * an earlier pass read) the sets are not read first: one round trip when nothing was added since.
 */
async function eraseRedis(redis: RedisGateway, userId: string, known?: Indexed): Promise<{ messages: number; keys: number; indexed: Indexed }> {
  const w = redis.keys.wal;
  const u = redis.keys.user(userId);
  const legacy = redis.keys.legacyUser(userId);
  const fixed = [...new Set([u.ctx, u.history, u.status, u.protocol, u.dedupe, ...legacy.keys])];
  let indexed = known ?? await markAndRead(redis, userId);
  let messages = 0;
  let keys = 0;
  for (let attempt = 0; ; attempt++) {
    const [lo, hi] = w.ownerRange(userId);
    const legacyKeys = indexed.legacyIds.map((id) => w.legacyMessage(id));
    const [m, k, missing] = await redis.run("gdpr.redis", (r) => runScript<[number, number, number]>(r, ERASE_REDIS,
      [w.inflight, w.messages, w.attempts, w.tokens, w.owners, u.dedupe, legacy.dedupe, legacy.wal, ...fixed, ...indexed.dedupe, ...legacyKeys],
      [lo, hi, String(fixed.length), String(indexed.dedupe.length), String(legacyKeys.length), ...indexed.legacyIds]));
    messages += m;
    keys += k;
    if (missing === 0) return { messages, keys, indexed };
    // Keys added to the user's sets since they were read: read again (bounded: each pass removes what it declared).
    if (attempt >= 5) throw new Error("erasure: the user's Redis index kept growing; retry the erasure");
    indexed = await markAndRead(redis, userId);
  }
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
