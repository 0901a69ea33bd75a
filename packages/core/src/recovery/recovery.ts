import { boundedJson, JSON_LIMITS } from "../validation/json-bounds.js";
import { z } from "zod";
import type { Db } from "../db/db.js";
import { NotFoundError } from "../errors.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, keysetPage, rowBytes } from "../db/keyset.js";
import { IsoDateTime, TelegramId, UserId } from "../wal/schemas.js";
import { USER_FIELDS_NOTE } from "../gdpr/tables.js";
import { claimCte, repeatOf, type IdempotencyScope } from "../idempotency/keys.js";

export const OPERATION_TYPES = ["startup", "periodic", "manual"] as const;
export const OPERATION_STATUSES = ["running", "completed", "failed"] as const;

export const PutCursorBody = z
  .object({
    last_processed_telegram_id: TelegramId.nonnegative(),
    last_processed_telegram_date: IsoDateTime,
    messages_recovered: z.number().int().min(0).max(1_000_000).optional(),
  })
  .strict();
export const CreateOperationBody = z
  .object({
    operation_type: z.enum(OPERATION_TYPES),
    metadata: boundedJson(z.record(z.string(), z.unknown()), JSON_LIMITS.metadata).optional().meta({ description: USER_FIELDS_NOTE }),
  })
  .strict();
const Count = z.number().int().min(0).max(10_000_000);
export const PatchOperationBody = z
  .object({
    status: z.enum(OPERATION_STATUSES).optional(),
    users_checked: Count.optional(),
    messages_recovered: Count.optional(),
    messages_skipped: Count.optional(),
    errors_encountered: Count.optional(),
    error_details: boundedJson(z.unknown(), JSON_LIMITS.error_details).optional().meta({ description: USER_FIELDS_NOTE }),
  })
  .strict();
export const HighWaterQuery = z.object({
  user_ids: z
    .string()
    .min(1)
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(UserId).min(1).max(500)),
});
export const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50), cursor: z.string().max(200).optional() });
export const OperationsQuery = ListQuery.extend({ operation_type: z.enum(OPERATION_TYPES).optional() });

const CURSOR_COLUMNS = `user_id, last_processed_telegram_id, last_processed_telegram_date, last_recovery_check, total_recovered_messages::float8 AS total_recovered_messages, created_at, updated_at`;
const OPERATION_COLUMNS = `id, operation_type, started_at, completed_at, users_checked::float8 AS users_checked, messages_recovered::float8 AS messages_recovered,
  messages_skipped::float8 AS messages_skipped, errors_encountered::float8 AS errors_encountered, status, error_details, metadata,
  extract(epoch FROM completed_at - started_at)::float8 AS duration_seconds,
  CASE WHEN users_checked > 0 THEN round(messages_recovered::numeric / users_checked, 2)::float8 END AS messages_per_user`;

const cursorRow = (r: Record<string, unknown>) => ({ ...r, last_processed_telegram_id: Number(r.last_processed_telegram_id) });
/** All cursors, least recently checked first (keyset paged). */
export async function listCursors(db: Db, q: z.infer<typeof ListQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.text]);
  const rows = await db.query(
    budgetedPage(
      `SELECT ${CURSOR_COLUMNS}, last_recovery_check::text AS k, ${rowBytes(["user_id"])} AS row_bytes
    FROM message_processing_cursors
    WHERE $1::timestamptz IS NULL OR (last_recovery_check, user_id) > ($1::timestamptz, $2::text)
    ORDER BY last_recovery_check ASC, user_id ASC LIMIT $3`,
      "l.k::timestamptz ASC, l.user_id ASC",
      "$4",
    ),
    [after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  return keysetPage(
    rows,
    q.limit,
    ({ k: _k, ...r }) => cursorRow(r),
    (r) => [String(r.k), String(r.user_id)],
  );
}

export async function getCursor(db: Db, userId: string) {
  const [row] = await db.query(`SELECT ${CURSOR_COLUMNS} FROM message_processing_cursors WHERE user_id = $1`, [userId]);
  if (!row) throw new NotFoundError("no cursor for this user");
  return cursorRow(row);
}

/**
 * Upsert; the Telegram id never moves backwards (nor its date with it); recovered counts add up.
 * With an Idempotency-Key (`scope`) only the request that claims it writes: a retry adds no count.
 */
export async function putCursor(db: Db, userId: string, b: z.infer<typeof PutCursorBody>, scope?: IdempotencyScope) {
  const [row] = await db.query(
    `
    WITH ${claimCte(5, 6, "$1::text", "NULL")}
    INSERT INTO message_processing_cursors (user_id, last_processed_telegram_id, last_processed_telegram_date, total_recovered_messages)
    SELECT $1, $2, $3, $4 WHERE $5::text IS NULL OR EXISTS (SELECT 1 FROM claim)
    ON CONFLICT (user_id) DO UPDATE SET
      last_processed_telegram_date = CASE WHEN EXCLUDED.last_processed_telegram_id > message_processing_cursors.last_processed_telegram_id
        THEN EXCLUDED.last_processed_telegram_date ELSE message_processing_cursors.last_processed_telegram_date END,
      last_processed_telegram_id = greatest(message_processing_cursors.last_processed_telegram_id, EXCLUDED.last_processed_telegram_id),
      total_recovered_messages = message_processing_cursors.total_recovered_messages + EXCLUDED.total_recovered_messages,
      last_recovery_check = now()
    RETURNING ${CURSOR_COLUMNS}`,
    [
      userId,
      b.last_processed_telegram_id,
      b.last_processed_telegram_date,
      b.messages_recovered ?? 0,
      scope?.key ?? null,
      scope?.fingerprint ?? null,
    ],
  );
  if (!row) {
    await repeatOf(db, scope!);
    return getCursor(db, userId);
  }
  return cursorRow(row);
}

/** The newest Telegram message stored per user, from the interactions themselves. */
export async function highWater(db: Db, userIds: string[]) {
  const rows = await db.query(
    `SELECT user_id, max(telegram_message_id) AS telegram_message_id, max(telegram_date) AS telegram_date
    FROM interactions WHERE user_id = ANY($1) AND telegram_message_id IS NOT NULL GROUP BY user_id ORDER BY user_id`,
    [userIds],
  );
  return {
    items: rows.map((r) => ({ user_id: r.user_id, telegram_message_id: Number(r.telegram_message_id), telegram_date: r.telegram_date })),
  };
}

/**
 * With an Idempotency-Key (`scope`, per caller) a repeat answers the operation the first one
 * created (its id is chosen with the key's claim); the same key with another body answers 422.
 */
export async function createOperation(db: Db, b: z.infer<typeof CreateOperationBody>, scope?: IdempotencyScope): Promise<{ id: string }> {
  const [row] = await db.query(
    `WITH ${claimCte(3, 4, "NULL", "gen_random_uuid()::text")},
      ins AS (
        INSERT INTO recovery_operations (id, operation_type, metadata)
        SELECT coalesce((SELECT resource::uuid FROM claim), gen_random_uuid()), $1, $2::jsonb
        WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM claim) RETURNING id)
    SELECT id FROM ins`,
    [b.operation_type, b.metadata === undefined ? null : JSON.stringify(b.metadata), scope?.key ?? null, scope?.fingerprint ?? null],
  );
  if (row) return { id: String(row.id) };
  const { resource } = await repeatOf(db, scope!);
  // The key was forgotten between the two statements (its 24 hours ran out): claim it again.
  return resource ? { id: resource } : createOperation(db, b, scope);
}

/** Only the given fields change; completed/failed also set completed_at. */
export async function updateOperation(db: Db, id: string, b: z.infer<typeof PatchOperationBody>) {
  const [row] = await db.query(
    `UPDATE recovery_operations SET
      status = coalesce($2, status), users_checked = coalesce($3, users_checked), messages_recovered = coalesce($4, messages_recovered),
      messages_skipped = coalesce($5, messages_skipped), errors_encountered = coalesce($6, errors_encountered),
      error_details = CASE WHEN $7::boolean THEN $8::jsonb ELSE error_details END,
      completed_at = CASE WHEN $2 IN ('completed', 'failed') THEN coalesce(completed_at, now()) ELSE completed_at END
    WHERE id = $1 RETURNING ${OPERATION_COLUMNS}`,
    [
      id,
      b.status ?? null,
      b.users_checked ?? null,
      b.messages_recovered ?? null,
      b.messages_skipped ?? null,
      b.errors_encountered ?? null,
      b.error_details !== undefined,
      b.error_details === undefined ? null : JSON.stringify(b.error_details),
    ],
  );
  if (!row) throw new NotFoundError("no such recovery operation");
  return row;
}

/**
 * Operations, newest first. Each may carry 64 KB of metadata and 64 KB of error details, so the
 * page is sized by their JSON text in SQL (Neon's 10 MiB answer) and by the Lambda envelope.
 */
export async function listOperations(db: Db, q: z.infer<typeof OperationsQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.uuid]);
  const rows = await db.query(
    budgetedPage(
      `SELECT ${OPERATION_COLUMNS}, started_at::text AS k,
      ${rowBytes(["metadata::text", "error_details::text"])} AS row_bytes
    FROM recovery_operations
    WHERE ($1::text IS NULL OR operation_type = $1) AND ($2::timestamptz IS NULL OR (started_at, id) < ($2::timestamptz, $3::uuid))
    ORDER BY started_at DESC, id DESC LIMIT $4`,
      "l.k::timestamptz DESC, l.id DESC",
      "$5",
    ),
    [q.operation_type ?? null, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  return keysetPage(
    rows,
    q.limit,
    ({ k: _k, ...r }) => r,
    (r) => [String(r.k), String(r.id)],
  );
}

export async function recoveryStats(db: Db) {
  const [r] = await db.query(`SELECT
    (SELECT coalesce(sum(total_recovered_messages), 0)::float8 FROM message_processing_cursors) AS total_recovered_messages,
    (SELECT coalesce(json_object_agg(status, n), '{}') FROM (SELECT status, count(*)::int AS n FROM recovery_operations
       WHERE started_at > now() - interval '24 hours' GROUP BY status) s) AS recent_operations,
    (SELECT row_to_json(o) FROM (SELECT started_at, messages_recovered::float8 AS messages_recovered, users_checked::float8 AS users_checked FROM recovery_operations
       WHERE status = 'completed' AND messages_recovered > 0 ORDER BY started_at DESC LIMIT 1) o) AS last_successful_recovery`);
  return r!;
}
