import { chatIdFromStore } from "../wal/schemas.js";
import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import { ConflictError, NotFoundError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { appendToHistoryCacheSafely } from "../memory/history.js";

export interface OutboxItem {
  interaction_id: string;
  user_id: string;
  chat_id: number | string | null;
  final_bubbles: string[];
  lease_token: string;
}

export interface OutboxDeps {
  db: Db;
  redis: RedisStore;
  log?: Logger;
  metrics?: Metrics;
}

/**
 * Approved, unsent replies, oldest approval first, leased to the caller (SKIP LOCKED). With a
 * claim key (the caller's Idempotency-Key), a repeat answers the items the first claim leased
 * while their leases live, instead of leasing more. `ids`: only those interactions' replies; no
 * other reply is leased.
 */
export async function claimOutbox(
  db: Db,
  max: number,
  leaseSeconds: number,
  claimKey?: string,
  ids?: readonly string[],
): Promise<OutboxItem[]> {
  const rows = await db.query(
    `
    WITH prior AS (
      SELECT id, user_id, chat_id, final_bubbles, outbox_lease_token, review_completed_at FROM interactions
      WHERE $3::text IS NOT NULL AND outbox_claim_key = $3 AND messages_sent_at IS NULL AND outbox_lease_expires_at > now()),
    upd AS (
      UPDATE interactions i SET outbox_lease_token = gen_random_uuid(), outbox_lease_expires_at = now() + make_interval(secs => $2),
        outbox_claim_key = $3
      FROM (SELECT id AS c_id, created_at AS c_created FROM interactions
            WHERE review_status = 'approved' AND messages_sent_at IS NULL
              AND (outbox_lease_expires_at IS NULL OR outbox_lease_expires_at < now())
              AND ($4::uuid[] IS NULL OR id = ANY($4::uuid[]))
            ORDER BY review_completed_at ASC, id LIMIT $1 FOR UPDATE SKIP LOCKED) c
      WHERE i.id = c.c_id AND i.created_at = c.c_created AND NOT EXISTS (SELECT 1 FROM prior)
      RETURNING i.id, i.user_id, i.chat_id, i.final_bubbles, i.outbox_lease_token, i.review_completed_at)
    SELECT * FROM prior UNION ALL SELECT * FROM upd`,
    [max, leaseSeconds, claimKey ?? null, ids ?? null],
  );
  return rows
    .sort((a, b) => +new Date(a.review_completed_at as string) - +new Date(b.review_completed_at as string))
    .map((r) => ({
      interaction_id: String(r.id),
      user_id: String(r.user_id),
      chat_id: chatIdFromStore(r.chat_id),
      final_bubbles: (r.final_bubbles as string[]) ?? [],
      lease_token: String(r.outbox_lease_token),
    }));
}

/**
 * Marks a reply sent and appends the assistant turn (with its bubbles) to the durable history in
 * the same statement; then to the history cache. Repeating it with the same token is a no-op 200.
 */
export async function markSent(
  deps: OutboxDeps,
  id: string,
  leaseToken: string,
  sentAt?: string,
): Promise<{ interaction_id: string; messages_sent_at: string; already_sent: boolean }> {
  const [o] = await deps.db.query(
    `
    WITH upd AS (
      UPDATE interactions SET messages_sent_at = coalesce($3::timestamptz, now())
      WHERE id = $1 AND outbox_lease_token = $2::uuid AND messages_sent_at IS NULL AND review_status = 'approved'
      RETURNING user_id, final_bubbles, messages_sent_at),
    mem AS (
      INSERT INTO memory_messages (user_id, role, content, bubbles, sent_at)
      SELECT user_id, 'assistant', array_to_string(final_bubbles, ' '), final_bubbles, messages_sent_at FROM upd
      RETURNING id, user_id, content, bubbles, sent_at)
    SELECT (SELECT row_to_json(mem) FROM mem) AS appended,
      (SELECT messages_sent_at FROM upd) AS sent_now,
      (SELECT json_build_object('token', outbox_lease_token, 'sent', messages_sent_at, 'status', review_status) FROM interactions WHERE id = $1) AS current`,
    [id, isUuid(leaseToken) ? leaseToken : null, sentAt ?? null],
  );
  const current = o?.current as { token: string | null; sent: string | null; status: string } | null;
  if (!current) throw new NotFoundError("interaction not found");
  const appended = o!.appended as { id: number; user_id: string; content: string; bubbles: string[]; sent_at: string } | null;
  if (appended) {
    deps.metrics?.outboxSent.inc();
    const timestamp = new Date(appended.sent_at).toISOString();
    await appendToHistoryCacheSafely(deps.redis, deps.log, appended.user_id, [
      { id: Number(appended.id), role: "assistant", content: appended.content, bubbles: appended.bubbles, timestamp },
    ]);
    return { interaction_id: id, messages_sent_at: timestamp, already_sent: false };
  }
  // Nothing updated: read the state as it is now (a concurrent repeat may have committed after this
  // statement's snapshot; its answer must be `already_sent`, not a 409).
  const [now] = await deps.db.query<{ token: string | null; sent: string | null; status: string }>(
    "SELECT outbox_lease_token::text AS token, messages_sent_at AS sent, review_status AS status FROM interactions WHERE id = $1",
    [id],
  );
  if (now) Object.assign(current, now);
  if (current.sent && current.token === leaseToken) {
    return { interaction_id: id, messages_sent_at: new Date(current.sent).toISOString(), already_sent: true };
  }
  if (current.status !== "approved") throw new ConflictError(`not in the outbox: the review is ${current.status}`);
  throw new ConflictError(current.sent ? "already sent under another lease" : "lease token does not match (expired and re-claimed?)");
}

const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
