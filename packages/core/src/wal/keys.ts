/** Dedupe window for (user_id, telegram_message_id). */
export const DEDUPE_TTL_SECONDS = 7 * 24 * 3600;
/** A message is delivered at most this many times, then dead-lettered. */
export const MAX_DELIVERIES = 5;
/** How long an applied ack is remembered, so a retried ack is not reported stale. */
export const ACKED_MARKER_TTL_SECONDS = 24 * 3600;
// The WAL's keys are in cache/keys.ts (`redis.keys.wal`): none carries a TTL while queued; they must never be evicted.
