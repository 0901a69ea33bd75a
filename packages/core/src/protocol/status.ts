import type { Redis } from "@upstash/redis";
import type { RedisStore } from "../cache/redis.js";
import { SET_IF_NEWER, setIfNewer, type Versioned } from "../cache/versioned.js";
import type { Db } from "../db/db.js";

/**
 * Protocol cache TTL: a day (seed/reference: 5 minutes, after which a quiet user's next message
 * cost ingest 2 Redis and 1 Postgres round trips). Every writer of user_protocol_status refreshes
 * the cache in its own request (PUT protocol; the quarantine's counters, cached by ingest in the same
 * pipeline), versioned so an older write never wins; the TTL only bounds how long a lost refresh is
 * served. A restore flushes it (restore's fenceCaches); a manual SQL change to a user's protocol must
 * delete that user's protocol cache key; the integrity report lists cache entries older than Postgres.
 */
export const PROTOCOL_CACHE_TTL_SECONDS = 24 * 3600;
/** Cost the earlier system credited per quarantined message (REFERENCE.md section 6). */
export const COST_SAVED_PER_MESSAGE_USD = 0.000307;

export interface ProtocolStatus {
  user_id: string;
  status: "ACTIVE" | "INACTIVE";
  activated_by: string | null;
  activated_at: string | null;
  reason: string | null;
  messages_quarantined: number;
  cost_saved_usd: number;
  last_message_at: string | null;
}

export const inactiveProtocol = (userId: string): ProtocolStatus => ({
  user_id: userId,
  status: "INACTIVE",
  activated_by: null,
  activated_at: null,
  reason: null,
  messages_quarantined: 0,
  cost_saved_usd: 0,
  last_message_at: null,
});

export const PROTOCOL_COLUMNS = `user_id, status, activated_by, activated_at, reason, messages_quarantined,
  cost_saved_usd::float8 AS cost_saved_usd, last_message_at, version`;

/** A status with the row version it was read at (0: no row yet), for the cache's ordering. */
export type VersionedProtocol = Versioned<ProtocolStatus>;

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : ((v as string | null) ?? null));

export function protocolFromRow(row: Record<string, unknown>): ProtocolStatus {
  return {
    user_id: String(row.user_id),
    status: row.status === "ACTIVE" ? "ACTIVE" : "INACTIVE",
    activated_by: (row.activated_by as string | null) ?? null,
    activated_at: iso(row.activated_at),
    reason: (row.reason as string | null) ?? null,
    messages_quarantined: Number(row.messages_quarantined ?? 0),
    cost_saved_usd: Number(row.cost_saved_usd ?? 0),
    last_message_at: iso(row.last_message_at),
  };
}

export const protocolKey = (redis: RedisStore, userId: string) => redis.keys.user(userId).protocol;
/** The protocol cache with its owner's erasing mark (what SET_IF_NEWER takes). */
export const protocolCache = (redis: RedisStore, userId: string) => redis.keys.userCache(userId, "protocol");

export const versionedFromRow = (row: Record<string, unknown>): VersionedProtocol => ({
  value: protocolFromRow(row),
  version: Number(row.version ?? 0),
});

/** Statuses from Postgres (INACTIVE, version 0, for users without a row). */
export async function loadProtocols(db: Db, userIds: string[]): Promise<VersionedProtocol[]> {
  const rows = await db.query(`SELECT ${PROTOCOL_COLUMNS} FROM user_protocol_status WHERE user_id = ANY($1)`, [userIds]);
  const found = new Map(rows.map((r) => [String(r.user_id), versionedFromRow(r)]));
  return userIds.map((u) => found.get(u) ?? { value: inactiveProtocol(u), version: 0 });
}

/** Writes protocol statuses to the cache, each only over an older version (one round trip). */
/** `also` adds commands to the same round trip (ingest: the dedupe keys of what it quarantined). */
/**
 * Answers each command's reply. A failed command throws, except NOSCRIPT (an EVALSHA that `also`
 * added, for a script a flushed Redis no longer has: nothing of it ran), answered as its error.
 */
export async function cacheProtocols(
  redis: RedisStore,
  statuses: VersionedProtocol[],
  also?: (p: ReturnType<Redis["pipeline"]>) => void,
): Promise<{ result: unknown; error?: string }[]> {
  if (statuses.length === 0 && !also) return [];
  const replies = await redis.run("protocol.set", (r) => {
    const p = r.pipeline();
    for (const s of statuses)
      p.eval(
        SET_IF_NEWER,
        ...setIfNewer(protocolCache(redis, s.value.user_id), s.version, JSON.stringify(s.value), PROTOCOL_CACHE_TTL_SECONDS),
      );
    also?.(p);
    return p.exec({ keepErrors: true }) as Promise<{ result: unknown; error?: string }[]>;
  });
  const failed = replies.find((x) => x.error && !x.error.startsWith("NOSCRIPT"));
  if (failed) throw new Error(`protocol cache write failed: ${failed.error}`);
  return replies;
}
