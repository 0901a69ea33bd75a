import { z } from "zod";
import type { Db } from "../db/db.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, keysetPage, rowBytes } from "../db/keyset.js";
import { UserId } from "../wal/schemas.js";

/**
 * The reference's recovery health thresholds (monitoring/recovery_health_check.py): an operation
 * running over 30 minutes, over 5 errors in one, a cursor unchecked for 24 hours (warning when over
 * half are), a success rate under 0.8, an error rate over 5% (warning) or 10% (critical).
 */
export const RECOVERY_THRESHOLDS = {
  max_operation_minutes: 30,
  max_errors_per_operation: 5,
  stale_cursor_hours: 24,
  stale_cursor_warning_ratio: 0.5,
  min_success_rate: 0.8,
  error_rate_warning: 0.05,
  error_rate_critical: 0.1,
} as const;

export const RecoveredQuery = z.object({
  user_id: UserId.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export const RecoveredMessage = z
  .object({
    id: z.string(),
    user_id: z.string(),
    nickname: z.string().nullable(),
    customer_status: z.string(),
    user_message: z.string(),
    telegram_message_id: z.number().nullable(),
    telegram_date: z.string().nullable(),
    created_at: z.string(),
    review_status: z.string(),
    recovery_delay_hours: z
      .number()
      .nullable()
      .describe("Hours between the Telegram message and its storage (null without a Telegram date)"),
  })
  .meta({ id: "RecoveredMessage", description: "An interaction stored from a message recovered after downtime" });

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

/**
 * GET /v1/recovery/recovered-messages: interactions flagged is_recovered_message, newest Telegram
 * date first (the storage time when there is none), with their delay and the user's nickname and
 * status (reference: get_recovered_messages). Message texts bound a page: at most 4000 characters each.
 */
export async function listRecoveredMessages(db: Db, q: z.infer<typeof RecoveredQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.uuid]);
  const rows = await db.query(
    budgetedPage(
      `
    SELECT i.id, i.user_id, u.nickname, coalesce(u.customer_status, 'PROSPECT') AS customer_status, i.user_message, i.telegram_message_id,
      i.telegram_date, i.created_at, i.review_status, coalesce(i.telegram_date, i.created_at)::text AS k, ${rowBytes(["i.user_message", "u.nickname"])} AS row_bytes,
      round((extract(epoch FROM i.created_at - i.telegram_date) / 3600)::numeric, 2)::float8 AS recovery_delay_hours
    FROM interactions i LEFT JOIN user_current_status u ON u.user_id = i.user_id
    WHERE i.is_recovered_message AND ($1::text IS NULL OR i.user_id = $1)
      AND ($2::timestamptz IS NULL OR (coalesce(i.telegram_date, i.created_at), i.id) < ($2::timestamptz, $3::uuid))
    ORDER BY coalesce(i.telegram_date, i.created_at) DESC, i.id DESC LIMIT $4`,
      "l.k::timestamptz DESC, l.id DESC",
      "$5",
    ),
    [q.user_id ?? null, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  return keysetPage(
    rows,
    q.limit,
    (r) => ({
      id: String(r.id),
      user_id: String(r.user_id),
      nickname: (r.nickname as string | null) ?? null,
      customer_status: String(r.customer_status),
      user_message: String(r.user_message),
      telegram_message_id: r.telegram_message_id === null ? null : Number(r.telegram_message_id),
      telegram_date: iso(r.telegram_date),
      created_at: iso(r.created_at)!,
      review_status: String(r.review_status),
      recovery_delay_hours: r.recovery_delay_hours === null ? null : Number(r.recovery_delay_hours),
    }),
    (r) => [String(r.k), String(r.id)],
  );
}

export const RecoveryStatus = z
  .object({
    last_operation: z.record(z.string(), z.unknown()).nullable(),
    hours_since_last_operation: z.number().nullable(),
    hours_since_last_recovery: z.number().nullable().describe("Since the newest completed operation"),
    cursors: z.object({
      total: z.number(),
      checked_last_24h: z.number(),
      stale: z.number(),
      oldest_check: z.string().nullable(),
      stale_users: z.array(z.string()).describe("Up to 20 users whose cursor is stale, least recently checked first"),
    }),
    last_24h: z.object({
      operations: z.number(),
      completed: z.number(),
      failed: z.number(),
      running: z.number(),
      success_rate: z.number().nullable(),
      messages_recovered: z.number(),
      errors: z.number(),
      error_rate: z.number().nullable(),
    }),
    health: z.object({
      status: z.enum(["healthy", "warning", "critical"]),
      issues: z.array(z.string()),
      thresholds: z.record(z.string(), z.number()),
    }),
  })
  .meta({
    id: "RecoveryStatus",
    description: "Recovery at a glance: the last operation, cursor staleness and a health verdict with its thresholds",
  });

/** GET /v1/recovery/status: one statement gathers the figures; the verdict follows RECOVERY_THRESHOLDS. */
export async function recoveryStatus(db: Db): Promise<z.infer<typeof RecoveryStatus>> {
  const t = RECOVERY_THRESHOLDS;
  const [r] = await db.query(
    `SELECT
    (SELECT row_to_json(o) FROM (SELECT id, operation_type, status, started_at, completed_at, users_checked::float8 AS users_checked,
       messages_recovered::float8 AS messages_recovered, errors_encountered::float8 AS errors_encountered,
       extract(epoch FROM coalesce(completed_at, now()) - started_at)::float8 AS duration_seconds
       FROM recovery_operations ORDER BY started_at DESC, id DESC LIMIT 1) o) AS last_op,
    (SELECT max(coalesce(completed_at, started_at)) FROM recovery_operations WHERE status = 'completed') AS last_completed,
    (SELECT count(*)::int FROM message_processing_cursors) AS cursors,
    (SELECT count(*)::int FROM message_processing_cursors WHERE last_recovery_check > now() - interval '24 hours') AS checked_24h,
    (SELECT count(*)::int FROM message_processing_cursors WHERE last_recovery_check < now() - make_interval(hours => $1)) AS stale,
    (SELECT min(last_recovery_check) FROM message_processing_cursors) AS oldest_check,
    (SELECT coalesce(array_agg(user_id ORDER BY last_recovery_check), '{}') FROM (SELECT user_id, last_recovery_check FROM message_processing_cursors
       WHERE last_recovery_check < now() - make_interval(hours => $1) ORDER BY last_recovery_check LIMIT 20) s) AS stale_users,
    (SELECT json_build_object('operations', count(*), 'completed', count(*) FILTER (WHERE status = 'completed'),
       'failed', count(*) FILTER (WHERE status = 'failed'), 'running', count(*) FILTER (WHERE status = 'running'),
       'messages_recovered', coalesce(sum(messages_recovered), 0), 'errors', coalesce(sum(errors_encountered), 0),
       'stuck', count(*) FILTER (WHERE status = 'running' AND started_at < now() - make_interval(mins => $2)))
     FROM recovery_operations WHERE started_at > now() - interval '24 hours') AS day`,
    [t.stale_cursor_hours, t.max_operation_minutes],
  );
  const now = Date.now();
  const hoursSince = (v: unknown) => (v ? Math.round(((now - new Date(v as string).getTime()) / 3600_000) * 100) / 100 : null);
  const lastOp = (r!.last_op as Record<string, unknown> | null) ?? null;
  const day = r!.day as Record<string, number>;
  const done = Number(day.completed) + Number(day.failed);
  const successRate = done ? Number(day.completed) / done : null;
  const handled = Number(day.messages_recovered) + Number(day.errors);
  const errorRate = handled ? Number(day.errors) / handled : null;
  const cursors = Number(r!.cursors);
  const stale = Number(r!.stale);
  const warnings: string[] = [];
  const critical: string[] = [];
  if (Number(day.stuck) > 0) critical.push(`${day.stuck} operation(s) running for over ${t.max_operation_minutes} minutes`);
  if (lastOp && Number(lastOp.errors_encountered) > t.max_errors_per_operation)
    warnings.push(`the last operation had ${lastOp.errors_encountered} errors (over ${t.max_errors_per_operation})`);
  if (cursors && stale / cursors > t.stale_cursor_warning_ratio)
    warnings.push(`${stale} of ${cursors} cursors unchecked for over ${t.stale_cursor_hours} h`);
  if (successRate !== null && successRate < t.min_success_rate)
    warnings.push(`success rate ${successRate.toFixed(2)} under ${t.min_success_rate}`);
  if (errorRate !== null && errorRate > t.error_rate_critical)
    critical.push(`error rate ${(errorRate * 100).toFixed(1)}% over ${t.error_rate_critical * 100}%`);
  else if (errorRate !== null && errorRate > t.error_rate_warning)
    warnings.push(`error rate ${(errorRate * 100).toFixed(1)}% over ${t.error_rate_warning * 100}%`);
  return {
    last_operation: lastOp && { ...lastOp, started_at: iso(lastOp.started_at), completed_at: iso(lastOp.completed_at) },
    hours_since_last_operation: hoursSince(lastOp?.started_at),
    hours_since_last_recovery: hoursSince(r!.last_completed),
    cursors: {
      total: cursors,
      checked_last_24h: Number(r!.checked_24h),
      stale,
      oldest_check: iso(r!.oldest_check),
      stale_users: r!.stale_users as string[],
    },
    last_24h: {
      operations: Number(day.operations),
      completed: Number(day.completed),
      failed: Number(day.failed),
      running: Number(day.running),
      success_rate: successRate,
      messages_recovered: Number(day.messages_recovered),
      errors: Number(day.errors),
      error_rate: errorRate,
    },
    health: {
      status: critical.length ? "critical" : warnings.length ? "warning" : "healthy",
      issues: [...critical, ...warnings],
      thresholds: { ...t },
    },
  };
}
