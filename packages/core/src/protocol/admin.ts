import { chatIdFromStore } from "../wal/schemas.js";
import { z } from "zod";
import type { RedisGateway } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, encodeCursor, rowBytes, sizedPage } from "../db/keyset.js";
import type { Logger } from "../log.js";
import { UserId } from "../wal/schemas.js";
import type { WalQueue } from "../wal/queue.js";
import { refreshProtocolCaches, setProtocolStatement } from "./manage.js";
import { COST_SAVED_PER_MESSAGE_USD, versionedFromRow } from "./status.js";

/** Most history turns a quarantine item can carry (`?context=N`). */
export const QUARANTINE_CONTEXT_MAX_TURNS = 20;

export const QuarantineQuery = z.object({
  user_id: UserId.optional(),
  include_processed: z.enum(["true", "false"]).transform((v) => v === "true").optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
  /** The user's last N history turns (before the message arrived) with each item: the reviewer's context. */
  context: z.coerce.number().int().min(0).max(QUARANTINE_CONTEXT_MAX_TURNS).default(0),
});
export const ProcessBody = z.object({ deactivate_protocol: z.boolean().default(false) }).strict();
export const BatchBody = z.object({ message_ids: z.array(z.string().min(1).max(64)).min(1).max(100), action: z.enum(["process", "delete"]) }).strict();
export const AuditQuery = z.object({ user_id: UserId.optional(), limit: z.coerce.number().int().min(1).max(500).default(50), cursor: z.string().max(200).optional() });

export interface QuarantineDeps { db: Db; redis: RedisGateway; wal: WalQueue; log?: Logger }

/** Quarantined messages, newest first, with nickname, customer status and age in hours. */
export async function listQuarantine(db: Db, q: z.infer<typeof QuarantineQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.integer]);
  const rows = await db.query(budgetedPage(`
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
    ORDER BY q.received_at DESC, q.id DESC LIMIT $5`, "l.cursor_at::timestamptz DESC, l.id DESC", "$6"),
    [q.user_id ?? null, q.include_processed ?? false, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET, q.context]);
  const { page, more } = sizedPage(rows, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(({ id: _id, cursor_at: _c, context, ...r }) => ({
      ...r, ...(q.context > 0 ? { context: context ?? [] } : {}), chat_id: chatIdFromStore(r.chat_id), telegram_message_id: r.telegram_message_id === null ? null : Number(r.telegram_message_id),
    })),
    next_cursor: more && last ? encodeCursor([String(last.cursor_at), String(last.id)]) : null,
  };
}

/**
 * Lets quarantined messages through once: they go back on the WAL queue first (idempotent by
 * message id, so a retry never double-queues), then one transaction marks them processed, audits
 * ONE_TIME_PASS, and optionally deactivates the users' protocols (audited with the true previous
 * status). The earlier system marked them processed and dropped them.
 */
export async function processQuarantined(deps: QuarantineDeps, messageIds: string[], actor: string, deactivate: boolean) {
  const rows = await deps.db.query(`SELECT message_id, user_id, message_text, chat_id, telegram_message_id, telegram_date, received_at, processed
    FROM quarantine_messages WHERE message_id = ANY($1)`, [messageIds]);
  const open = rows.filter((r) => !r.processed);
  await deps.wal.enqueue(open.map((r) => ({
    message_id: String(r.message_id), user_id: String(r.user_id), text: String(r.message_text),
    chat_id: chatIdFromStore(r.chat_id) ?? undefined,
    telegram_message_id: r.telegram_message_id === null ? undefined : Number(r.telegram_message_id),
    telegram_date: r.telegram_date ? new Date(r.telegram_date as string).toISOString() : undefined,
    received_at: new Date(r.received_at as string).toISOString(),
  })), { checkProtocol: false });
  const users = [...new Set(open.map((r) => String(r.user_id)))];
  const statements = [{
    text: `WITH done AS (
        UPDATE quarantine_messages SET processed = true, processed_at = now(), processed_by = $2
        WHERE message_id = ANY($1) AND NOT processed RETURNING message_id, user_id)
      INSERT INTO protocol_audit_log (user_id, action, performed_by, reason, previous_status, new_status)
      SELECT d.user_id, 'ONE_TIME_PASS', $2, 'Processed quarantined message ' || d.message_id,
        coalesce(p.status, 'INACTIVE'), coalesce(p.status, 'INACTIVE')
      FROM done d LEFT JOIN user_protocol_status p ON p.user_id = d.user_id RETURNING user_id`,
    params: [open.map((r) => r.message_id), actor],
  }, ...(deactivate ? users.map((u) => setProtocolStatement(u, "INACTIVE", actor, "Deactivated while processing quarantine")) : [])];
  const results = await deps.db.transaction(statements);
  if (deactivate) await refreshProtocolCaches(deps, results.slice(1).map((r) => versionedFromRow(r[0]!)));
  const found = new Set(rows.map((r) => String(r.message_id)));
  // Counted from what this transaction marked: a concurrent process of the same message marked it first.
  return { processed: results[0]!.length, already_processed: rows.length - results[0]!.length, not_found: messageIds.filter((id) => !found.has(id)) };
}

export async function processOne(deps: QuarantineDeps, messageId: string, actor: string, deactivate: boolean) {
  const r = await processQuarantined(deps, [messageId], actor, deactivate);
  if (r.not_found.length) throw new NotFoundError("quarantined message not found");
  if (r.already_processed) throw new ConflictError("already processed");
  return { message_id: messageId, processed: true, requeued: true, protocol_deactivated: deactivate };
}

export async function deleteQuarantined(db: Db, messageIds: string[]) {
  const rows = await db.query("DELETE FROM quarantine_messages WHERE message_id = ANY($1) RETURNING message_id", [messageIds]);
  const gone = new Set(rows.map((r) => String(r.message_id)));
  return { deleted: rows.length, not_found: messageIds.filter((id) => !gone.has(id)) };
}

/**
 * Over ACTIVE protocols (reference: get_protocol_stats) plus the averages per silenced user and the
 * monthly savings estimate: the last 24 hours' quarantined messages x the saving per message x 30.
 */
export async function protocolStats(db: Db) {
  const [r] = await db.query(`SELECT
    (SELECT count(*)::int FROM user_protocol_status WHERE status = 'ACTIVE') AS active_protocols,
    (SELECT coalesce(sum(messages_quarantined), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS total_messages_quarantined,
    (SELECT coalesce(sum(cost_saved_usd), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS total_cost_saved_usd,
    (SELECT coalesce(round(avg(messages_quarantined), 2), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS avg_messages_per_user,
    (SELECT coalesce(round(avg(cost_saved_usd), 6), 0)::float8 FROM user_protocol_status WHERE status = 'ACTIVE') AS avg_cost_saved_per_user_usd,
    (SELECT count(*)::int FROM quarantine_messages WHERE NOT processed AND received_at > now() - interval '24 hours') AS messages_last_24h,
    (SELECT round(count(*) * $1::numeric * 30, 6)::float8 FROM quarantine_messages WHERE received_at > now() - interval '24 hours') AS estimated_monthly_savings_usd`,
  [COST_SAVED_PER_MESSAGE_USD]);
  return r!;
}

export async function protocolAudit(db: Db, q: z.infer<typeof AuditQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.integer]);
  const rows = await db.query(`
    SELECT a.id, a.user_id, a.action, a.performed_by, a.reason, a.previous_status, a.new_status, a.created_at, a.created_at::text AS cursor_at, u.nickname
    FROM protocol_audit_log a LEFT JOIN user_current_status u ON u.user_id = a.user_id
    WHERE ($1::text IS NULL OR a.user_id = $1) AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2::timestamptz, $3::text::bigint))
    ORDER BY a.created_at DESC, a.id DESC LIMIT $4`, [q.user_id ?? null, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1]);
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(({ cursor_at: _c, ...r }) => ({ ...r, id: Number(r.id) })),
    next_cursor: rows.length > q.limit && last ? encodeCursor([String(last.cursor_at), String(last.id)]) : null,
  };
}

/** Deletes unprocessed quarantine messages past their expiry (called by the daily archival job). */
export async function purgeExpiredQuarantine(db: Db): Promise<number> {
  const rows = await db.query("DELETE FROM quarantine_messages WHERE expires_at < now() AND NOT processed RETURNING 1");
  return rows.length;
}

