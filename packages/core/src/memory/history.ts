import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { Logger } from "../log.js";
import { decodeEnvelope, encodeEnvelope } from "./envelope.js";
import { defineScript, runScript } from "../cache/scripts.js";

/** Messages kept in the cached window (reference: 50). */
export const HISTORY_WINDOW = 50;
/** History cache TTL, refreshed on every write (reference: 7 days). */
export const HISTORY_TTL_SECONDS = 7 * 24 * 3600;
/** Member at score -1 that says the cached window is complete (rebuilt from Postgres). */
export const COMPLETE_MARKER = "__complete";

export interface HistoryEntry {
  id: number;
  role: "user" | "assistant";
  content: string;
  timestamp: string;
  bubbles?: string[];
}

/**
 * The history cache is a sorted set scored by the durable row id, so concurrent appends and a
 * concurrent rebuild merge instead of overwriting each other (the earlier system's
 * read-modify-write of a JSON string lost messages). Each member is an envelope (checksummed).
 *
 * Exactness under any interleaving, across instances: an append always adds its own row (after
 * Postgres committed it), whether or not the window is cached; only a rebuild (rows read from
 * Postgres, ARGV[2] = '1') marks the window complete, and a rebuild only ever adds. A row committed
 * before the rebuild's snapshot is in the rebuild; one committed after is added by its own append;
 * so a window marked complete holds every row. (Marking complete on the "first" append, as before,
 * lost rows whose appends ran before a concurrent first one.) A score present once is never added
 * twice. Keeps the newest `ARGV[1]` rows; returns how many the window holds.
 * KEYS[1] the window, KEYS[2] the user's `erasing` mark: nothing is cached while the user is erased.
 */
export const APPEND_SCRIPT = defineScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local complete = redis.call('ZSCORE', KEYS[1], '${COMPLETE_MARKER}') ~= false
if ARGV[2] == '1' and not complete then redis.call('ZADD', KEYS[1], -1, '${COMPLETE_MARKER}'); complete = true end
for i = 3, #ARGV, 2 do
  if #redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i]) == 0 then redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local marker = complete and 1 or 0
local n = redis.call('ZCARD', KEYS[1])
local keep = tonumber(ARGV[1]) + marker
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[1], marker, marker + n - keep - 1) end
redis.call('EXPIRE', KEYS[1], ${HISTORY_TTL_SECONDS})
return math.min(n, keep) - marker
`);

export const historyKey = (redis: RedisStore, userId: string) => redis.keys.user(userId).history;
/** APPEND_SCRIPT's KEYS for a user. */
export const appendKeys = (redis: RedisStore, userId: string) => [historyKey(redis, userId), redis.keys.user(userId).erasing];

/** EVAL arguments: window size, whether these rows are a rebuild from Postgres, then score/member pairs. */
export function appendArgs(entries: HistoryEntry[], rebuild: boolean): string[] {
  return [
    String(HISTORY_WINDOW),
    rebuild ? "1" : "0",
    ...entries.flatMap((e) => [String(e.id), encodeEnvelope(JSON.stringify(e)).envelope]),
  ];
}

/** Members of the cached window -> entries; `null` when the window is not cached. Throws EnvelopeError on corruption. */
export function parseWindow(members: string[]): HistoryEntry[] | null {
  if (members[0] !== COMPLETE_MARKER) return null;
  return members.slice(1).map((m) => JSON.parse(decodeEnvelope(m)) as HistoryEntry);
}

export function entryFromRow(r: Record<string, unknown>): HistoryEntry {
  const ts = r.sent_at instanceof Date ? r.sent_at.toISOString() : new Date(String(r.sent_at)).toISOString();
  const e: HistoryEntry = { id: Number(r.id), role: r.role as HistoryEntry["role"], content: String(r.content), timestamp: ts };
  if (Array.isArray(r.bubbles)) e.bubbles = r.bubbles as string[];
  return e;
}

/**
 * Adds rows Postgres committed to the cached window (one round trip). `whole`: these rows are the
 * user's whole history as of the statement that wrote them (a new user's first message), so the
 * window is marked complete, as a rebuild would, and the user's first read is warm.
 */
export async function appendToHistoryCache(redis: RedisStore, userId: string, entries: HistoryEntry[], whole = false): Promise<number> {
  return redis.run("history.append", (r) => runScript<number>(r, APPEND_SCRIPT, appendKeys(redis, userId), appendArgs(entries, whole)));
}

/**
 * Best effort after the durable write: a Redis failure must not fail a write Postgres accepted.
 * The window then stays stale until its TTL or the next rebuild; it is logged.
 */
export async function appendToHistoryCacheSafely(
  redis: RedisStore,
  log: Logger | undefined,
  userId: string,
  entries: HistoryEntry[],
  whole = false,
): Promise<void> {
  try {
    await appendToHistoryCache(redis, userId, entries, whole);
  } catch (e) {
    redis.markStale(historyKey(redis, userId));
    log?.warn("history cache append failed; Postgres has the message", { user_id: userId, err: e as Error });
  }
}

export const HISTORY_SQL = `SELECT coalesce(json_agg(m ORDER BY m.id), '[]') FROM (
  SELECT id, role, content, bubbles, sent_at FROM memory_messages WHERE user_id = $1 ORDER BY id DESC LIMIT ${HISTORY_WINDOW}) m`;

/** The durable window, oldest first. */
export async function historyFromPostgres(db: Db, userId: string): Promise<HistoryEntry[]> {
  const [row] = await db.query<{ history: Record<string, unknown>[] }>(`SELECT (${HISTORY_SQL}) AS history`, [userId]);
  return (row?.history ?? []).map(entryFromRow);
}
