import { chatIdFromStore } from "../wal/schemas.js";
import { z } from "zod";
import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, keysetPage, rowBytes } from "../db/keyset.js";
import type { Logger } from "../log.js";
import { UserId } from "../wal/schemas.js";
import type { WalQueue } from "../wal/queue.js";
import { refreshProtocolCaches, setProtocolStatement } from "./manage.js";
import { COST_SAVED_PER_MESSAGE_USD, versionedFromRow } from "./status.js";

/** Most history turns a quarantine item can carry (`?context=N`). */
export const QUARANTINE_CONTEXT_MAX_TURNS = 20;

export const QuarantineQuery = z.object({
  user_id: UserId.optional(),
  include_processed: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
  /** The user's last N history turns (before the message arrived) with each item: the reviewer's context. */
  context: z.coerce.number().int().min(0).max(QUARANTINE_CONTEXT_MAX_TURNS).default(0),
});
export const ProcessBody = z.object({ deactivate_protocol: z.boolean().default(false) }).strict();
export const BatchBody = z
  .object({ message_ids: z.array(z.string().min(1).max(64)).min(1).max(100), action: z.enum(["process", "delete"]) })
  .strict();
export const AuditQuery = z.object({
  user_id: UserId.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

export interface QuarantineDeps {
  db: Db;
  redis: RedisStore;
  wal: WalQueue;
  log?: Logger;
}

/** Quarantined messages, newest first, with nickname, customer status and age in hours. */
export async function listQuarantine(db: Db, q: z.infer<typeof QuarantineQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.integer]);
  const rows = await db.query(
    budgetedPage(
      `
    SELECT q.message_id, q.user_id, q.message_text, q.chat_id, q.telegram_message_id, q.telegram_date, q.received_at, q.expires_at,
      q.processed, q.processed_at, q.processed_by, q.id, q.received_at::text AS cursor_at, u.nickname,
      coalesce(u.customer_status, 'PROSPECT') AS customer_status,
      round((extract(epoch FROM now() - q.received_at) / 3600)::numeric, 2)::float8 AS age_hours,
      ctx.context, ${rowBytes(["q.message_text", "u.nickname", "q.processed_by", "ctx.context::text"])} AS row_bytes
    FROM quarantine_messages q LEFT JOIN user_current_status u ON u.user_id = q.user_id
    LEFT JOIN LATERAL (SELECT coalesce(json_agg(h ORDER BY h.id), '[]') AS context FROM (
      SELECT m.id, m.role, m.content, m.sent_at AS timestamp FROM memory_messages m
      WHERE m.user_id = q.user_id AND m.sent_at <= q.received_at ORDER BY m.id DESC LIMIT $7) h) ctx ON $7 > 0
    WHERE ($1::text IS NULL OR q.user_id = $1) AND ($2 OR NOT q.processed)
      AND ($3::timestamptz IS NULL OR (q.received_at, q.id) < ($3::timestamptz, $4::text::bigint))
    ORDER BY q.received_at DESC, q.id DESC LIMIT $5`,
      "l.cursor_at::timestamptz DESC, l.id DESC",
      "$6",
    ),
    [q.user_id ?? null, q.include_processed ?? false, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET, q.context],
  );
  return keysetPage(
    rows,
    q.limit,
    ({ id: _id, cursor_at: _c, context, ...r }) => ({
      ...r,
      ...(q.context > 0 ? { context: context ?? [] } : {}),
      chat_id: chatIdFromStore(r.chat_id),
      telegram_message_id: r.telegram_message_id === null ? null : Number(r.telegram_message_id),
    }),
    (r) => [String(r.cursor_at), String(r.id)],
  );
}

/**
 * Lets quarantined messages through once. The decision is taken once, in one transaction: the
 * messages still open are marked processed (a concurrent delete or process of one waits on its
 * row lock and then finds it decided), audited ONE_TIME_PASS, and optionally the users' protocols
 * deactivated (audited with the true previous status). Only after that commit do the messages go
 * back on the WAL queue: nothing deleted is ever delivered. A message decided but not yet queued
 * (Redis failed after the commit: 503) is queued by the next process call naming it, or by the
 * daily job (`requeueDecided`); the WAL's enqueue is idempotent by message id while the message is
 * queued, and a later duplicate delivery is answered as a repeat by the interaction's message_id.
 * The earlier system marked them processed and dropped them.
 */
export async function processQuarantined(deps: QuarantineDeps, messageIds: string[], actor: string, deactivate: boolean) {
  // Deactivation names its users up front (one more read, only then).
  const users = !deactivate
    ? []
    : [
        ...new Set(
          (
            await deps.db.query<{ user_id: string }>(
              "SELECT user_id FROM quarantine_messages WHERE message_id = ANY($1) AND NOT processed",
              [messageIds],
            )
          ).map((r) => String(r.user_id)),
        ),
      ];
  const results = await deps.db.transaction([
    {
      text: `WITH done AS (
        UPDATE quarantine_messages SET processed = true, processed_at = now(), processed_by = $2
        WHERE message_id = ANY($1) AND NOT processed RETURNING message_id, user_id),
      audit AS (
        INSERT INTO protocol_audit_log (user_id, action, performed_by, reason, previous_status, new_status)
        SELECT d.user_id, 'ONE_TIME_PASS', $2, 'Processed quarantined message ' || d.message_id,
          coalesce(p.status, 'INACTIVE'), coalesce(p.status, 'INACTIVE')
        FROM done d LEFT JOIN user_protocol_status p ON p.user_id = d.user_id)
      SELECT message_id FROM done`,
      params: [messageIds, actor],
    },
    // A statement of its own, so its snapshot sees what concurrent calls decided while the update
    // waited on their rows: still there is processed (by this call or another), gone was deleted.
    {
      text: `SELECT message_id, user_id, message_text, chat_id, telegram_message_id, telegram_date, received_at, requeued_at IS NULL AS unqueued
      FROM quarantine_messages WHERE message_id = ANY($1)`,
      params: [messageIds],
    },
    ...users.map((u) => setProtocolStatement(u, "INACTIVE", actor, "Deactivated while processing quarantine")),
  ]);
  const marked = new Set(results[0]!.map((r) => String(r.message_id)));
  const still = results[1]!;
  if (deactivate)
    await refreshProtocolCaches(
      deps,
      results.slice(2).map((r) => versionedFromRow(r[0]!)),
    );
  await requeue(
    deps,
    still.filter((r) => r.unqueued === true),
  );
  const found = new Set(still.map((r) => String(r.message_id)));
  return { processed: marked.size, already_processed: found.size - marked.size, not_found: messageIds.filter((id) => !found.has(id)) };
}

/** Queues messages decided processed and not yet queued, then records that they were. */
async function requeue(deps: QuarantineDeps, rows: Record<string, unknown>[]): Promise<number> {
  if (!rows.length) return 0;
  await deps.wal.enqueue(
    rows.map((r) => ({
      message_id: String(r.message_id),
      user_id: String(r.user_id),
      text: String(r.message_text),
      chat_id: chatIdFromStore(r.chat_id) ?? undefined,
      telegram_message_id: r.telegram_message_id === null ? undefined : Number(r.telegram_message_id),
      telegram_date: r.telegram_date ? new Date(r.telegram_date as string).toISOString() : undefined,
      received_at: new Date(r.received_at as string).toISOString(),
    })),
    { checkProtocol: false },
  );
  await deps.db.query("UPDATE quarantine_messages SET requeued_at = now() WHERE message_id = ANY($1) AND requeued_at IS NULL", [
    rows.map((r) => r.message_id),
  ]);
  return rows.length;
}

/** Queues messages decided processed whose queueing failed and was not retried (the daily job). */
export async function requeueDecided(deps: QuarantineDeps, olderThanSeconds = 60): Promise<number> {
  return requeue(
    deps,
    await deps.db.query(
      `SELECT message_id, user_id, message_text, chat_id, telegram_message_id, telegram_date, received_at
    FROM quarantine_messages WHERE processed AND requeued_at IS NULL AND processed_at < now() - make_interval(secs => $1) ORDER BY processed_at LIMIT 500`,
      [olderThanSeconds],
    ),
  );
}

export async function processOne(deps: QuarantineDeps, messageId: string, actor: string, deactivate: boolean) {
  const r = await processQuarantined(deps, [messageId], actor, deactivate);
  if (r.not_found.length) throw new NotFoundError("quarantined message not found");
  if (r.already_processed) throw new ConflictError("already processed");
  return { message_id: messageId, processed: true, requeued: true, protocol_deactivated: deactivate };
}

/**
 * Deletes quarantined messages not yet let through, in one statement: a message a concurrent
 * process decided first is not deleted (`already_processed`; it was delivered), and a message
 * deleted first is not found by the process.
 */
export async function deleteQuarantined(db: Db, messageIds: string[]) {
  const rows = await db.query<{ message_id: string }>(
    "DELETE FROM quarantine_messages WHERE message_id = ANY($1) AND NOT processed RETURNING message_id",
    [messageIds],
  );
  const gone = new Set(rows.map((r) => String(r.message_id)));
  const left = messageIds.filter((id) => !gone.has(id));
  // Read after the delete's statement (a process that decided first, while the delete waited on its
  // row, is seen): what is still there was let through.
  const processed =
    left.length === 0
      ? new Set<string>()
      : new Set(
          (await db.query<{ message_id: string }>("SELECT message_id FROM quarantine_messages WHERE message_id = ANY($1)", [left])).map(
            (r) => String(r.message_id),
          ),
        );
  return { deleted: gone.size, already_processed: processed.size, not_found: left.filter((id) => !processed.has(id)) };
}

/**
 * Over ACTIVE protocols (reference: get_protocol_stats) plus the averages per silenced user and the
 * monthly savings estimate: the last 24 hours' quarantined messages x the saving per message x 30.
 */
export async function protocolStats(db: Db) {
  const [r] = await db.query(
    `SELECT
    (SELECT count(*)::int FROM user_protocol_status WHERE status = 'ACTIVE') AS active_protocols,
    (SELECT coalesce(sum(messages_quarantined), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS total_messages_quarantined,
    (SELECT coalesce(sum(cost_saved_usd), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS total_cost_saved_usd,
    (SELECT coalesce(round(avg(messages_quarantined), 2), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS avg_messages_per_user,
    (SELECT coalesce(round(avg(cost_saved_usd), 6), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS avg_cost_saved_per_user_usd,
    (SELECT count(*)::int FROM quarantine_messages WHERE NOT processed AND received_at > now() - interval '24 hours') AS messages_last_24h,
    (SELECT round(count(*) * $1::numeric * 30, 6)::float8 FROM quarantine_messages WHERE received_at > now() - interval '24 hours') AS estimated_monthly_savings_usd`,
    [COST_SAVED_PER_MESSAGE_USD],
  );
  return r!;
}

export async function protocolAudit(db: Db, q: z.infer<typeof AuditQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.integer]);
  const rows = await db.query(
    budgetedPage(
      `
    SELECT a.id, a.user_id, a.action, a.performed_by, a.reason, a.previous_status, a.new_status, a.created_at, a.created_at::text AS cursor_at, u.nickname,
      ${rowBytes(["a.user_id", "a.performed_by", "a.reason", "u.nickname"])} AS row_bytes
    FROM protocol_audit_log a LEFT JOIN user_current_status u ON u.user_id = a.user_id
    WHERE ($1::text IS NULL OR a.user_id = $1) AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2::timestamptz, $3::text::bigint))
    ORDER BY a.created_at DESC, a.id DESC LIMIT $4`,
      "l.cursor_at::timestamptz DESC, l.id DESC",
      "$5",
    ),
    [q.user_id ?? null, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  return keysetPage(
    rows,
    q.limit,
    ({ cursor_at: _c, ...r }) => ({ ...r, id: Number(r.id) }),
    (r) => [String(r.cursor_at), String(r.id)],
  );
}

/** Deletes unprocessed quarantine messages past their expiry (called by the daily archival job). */
export async function purgeExpiredQuarantine(db: Db): Promise<number> {
  const rows = await db.query("DELETE FROM quarantine_messages WHERE expires_at < now() AND NOT processed RETURNING 1");
  return rows.length;
}
