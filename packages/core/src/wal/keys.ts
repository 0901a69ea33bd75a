import type { RedisGateway } from "../cache/redis.js";

/** Dedupe window for (user_id, telegram_message_id). */
export const DEDUPE_TTL_SECONDS = 7 * 24 * 3600;
/** A message is delivered at most this many times, then dead-lettered. */
export const MAX_DELIVERIES = 5;
/** How long an applied ack is remembered, so a retried ack is not reported stale. */
export const ACKED_MARKER_TTL_SECONDS = 24 * 3600;

/** The WAL's Redis keys (DESIGN.md): none carries a TTL while queued; they must never be evicted. */
export function walKeys(redis: RedisGateway) {
  return {
    pending: redis.key("wal", "pending"),
    inflight: redis.key("wal", "inflight"),
    dead: redis.key("wal", "dead"),
    msgPrefix: redis.key("wal", "msg", ""),
    msg: (id: string) => redis.key("wal", "msg", id),
    dedupe: (userId: string, dedupeId: string) => redis.key("wal", "dedupe", userId, dedupeId),
    /** Per-user indexes (set by the scripts): the user's WAL message ids and dedupe keys. */
    userWal: (userId: string) => redis.key("user", userId, "wal"),
    userDedupe: (userId: string) => redis.key("user", userId, "dedupe"),
  };
}
