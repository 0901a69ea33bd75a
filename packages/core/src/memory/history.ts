import type { RedisGateway } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { Logger } from "../log.js";

/** Messages kept in the cached window (reference: 50). */
export const HISTORY_WINDOW = 50;
/** History cache TTL, refreshed on every write (reference: 7 days). */
export const HISTORY_TTL_SECONDS = 7 * 24 * 3600;
/** Member at score -1 that says the cached window is complete (rebuilt from Postgres). */
const COMPLETE_MARKER = "__complete";

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
 * read-modify-write of a JSON string lost messages). Appends to a cold key are skipped unless the
 * message is the user's first: a partial window is never mistaken for the whole.
 */
const APPEND = `
local exists = redis.call('EXISTS', KEYS[1]) == 1
if not exists and ARGV[5] ~= '1' then return 0 end
if not exists then redis.call('ZADD', KEYS[1], -1, '${COMPLETE_MARKER}') end
for i = 6, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
local n = redis.call('ZCARD', KEYS[1])
local keep = tonumber(ARGV[3]) + 1
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[1], 1, n - keep) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
`;

export const historyKey = (redis: RedisGateway, userId: string) => redis.key("user", userId, "history");

const member = (e: HistoryEntry) => JSON.stringify(e);

export function entryFromRow(r: Record<string, unknown>): HistoryEntry {
  const ts = r.sent_at instanceof Date ? r.sent_at.toISOString() : String(r.sent_at);
  const e: HistoryEntry = { id: Number(r.id), role: r.role as HistoryEntry["role"], content: String(r.content), timestamp: ts };
  if (Array.isArray(r.bubbles)) e.bubbles = r.bubbles as string[];
  return e;
}

/** Adds entries to the cached window (one round trip). `first` creates the window for a new user. */
export async function appendToHistoryCache(redis: RedisGateway, userId: string, entries: HistoryEntry[], first: boolean): Promise<void> {
  const args = ["", "", String(HISTORY_WINDOW), String(HISTORY_TTL_SECONDS), first ? "1" : "0", ...entries.flatMap((e) => [String(e.id), member(e)])];
  await redis.run("history.append", (r) => r.eval(APPEND, [historyKey(redis, userId)], args));
}

/**
 * Best effort after the durable write: a Redis failure must not fail a write Postgres accepted.
 * The window then stays stale until its TTL or the next rebuild; it is logged.
 */
export async function appendToHistoryCacheSafely(redis: RedisGateway, log: Logger | undefined, userId: string, entries: HistoryEntry[], first: boolean): Promise<void> {
  try {
    await appendToHistoryCache(redis, userId, entries, first);
  } catch (e) {
    log?.warn("history cache append failed; Postgres has the message", { user_id: userId, err: e as Error });
  }
}

/** The last `HISTORY_WINDOW` messages: the cache when complete, else Postgres (then cached). */
export async function readHistory(redis: RedisGateway, db: Db, userId: string): Promise<HistoryEntry[]> {
  const key = historyKey(redis, userId);
  const cached = await redis.run("history.read", (r) => r.zrange<string[]>(key, 0, -1));
  if (cached[0] === COMPLETE_MARKER) return cached.slice(1).map((m) => JSON.parse(m) as HistoryEntry);
  const rows = await db.query(
    `SELECT id, role, content, bubbles, sent_at FROM memory_messages WHERE user_id = $1 ORDER BY id DESC LIMIT ${HISTORY_WINDOW}`, [userId]);
  const entries = rows.reverse().map(entryFromRow);
  if (entries.length) await appendToHistoryCache(redis, userId, entries, true);
  return entries;
}
