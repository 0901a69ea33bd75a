import { z } from "zod";
import type { Db } from "../db/db.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, keysetPage, rowBytes, sizedPage } from "../db/keyset.js";
import { ConflictError, NotFoundError, ValidationError } from "../errors.js";
import { boundedJson } from "../validation/json-bounds.js";
import { IsoDateTime, StorableText, UserId } from "../wal/schemas.js";

export const COMMITMENT_STATUSES = ["active", "fulfilled", "expired", "cancelled"] as const;
export const URGENCIES = ["overdue", "urgent", "today", "future"] as const;
/** An active commitment this long past due is expired (reference: update_expired_commitments, 1 h). */
export const COMMITMENT_GRACE_SECONDS = 3600;
/** Urgency bounds of the active view (reference: urgent <= 2 h, today <= 24 h). */
export const URGENT_WITHIN_HOURS = 2;
export const TODAY_WITHIN_HOURS = 24;
const DETAILS_BOUNDS = { maxBytes: 16 * 1024 };

export const CreateCommitmentBody = z
  .object({
    commitment_timestamp: IsoDateTime.describe("When the assistant said it would do it (the due time)"),
    commitment_text: StorableText.min(1).max(2000),
    details: boundedJson(z.record(z.string(), z.unknown()), DETAILS_BOUNDS).default({}),
    interaction_id: z.uuid().optional().describe("The interaction it was extracted from (must be the user's)"),
  })
  .strict()
  .meta({ id: "CreateCommitmentBody" });
export const PatchCommitmentBody = z
  .object({ status: z.enum(["fulfilled", "cancelled", "expired"]) })
  .strict()
  .meta({ id: "PatchCommitmentBody" });
export const CommitmentListQuery = z.object({
  status: z.enum(COMMITMENT_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export const ActiveQuery = z.object({
  user_id: UserId.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export const ConflictQuery = z
  .object({ start: IsoDateTime, end: IsoDateTime })
  .refine((q) => Date.parse(q.start) <= Date.parse(q.end), { message: "start must not be after end", path: ["end"] });

export const Commitment = z
  .object({
    id: z.string(),
    user_id: z.string(),
    commitment_timestamp: z.string(),
    details: z.record(z.string(), z.unknown()),
    commitment_text: z.string(),
    extracted_from_interaction: z.string().nullable(),
    status: z.enum(COMMITMENT_STATUSES),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: "Commitment", description: "Something the assistant committed to do for the user, due at commitment_timestamp" });
export const ActiveCommitment = Commitment.extend({
  hours_remaining: z.number().describe("Hours until due (negative: overdue, by less than the 1 h grace)"),
  urgency: z.enum(URGENCIES).describe("overdue (< 0 h), urgent (<= 2 h), today (<= 24 h), future"),
}).meta({ id: "ActiveCommitment", description: "An active commitment with its urgency (reference: active_commitments_view)" });
export type Commitment = z.infer<typeof Commitment>;

const COLUMNS = `c.id, c.user_id, c.commitment_timestamp, c.details, c.commitment_text, c.extracted_from_interaction, c.status, c.created_at, c.updated_at`;
const iso = (v: unknown) => new Date(v as string).toISOString();
const fromRow = (r: Record<string, unknown>): Commitment => ({
  id: String(r.id),
  user_id: String(r.user_id),
  commitment_timestamp: iso(r.commitment_timestamp),
  details: (r.details ?? {}) as Record<string, unknown>,
  commitment_text: String(r.commitment_text),
  extracted_from_interaction: (r.extracted_from_interaction as string | null) ?? null,
  status: r.status as Commitment["status"],
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

/**
 * The expiry every read runs first, in the same statement (a CTE): the user's (or everyone's)
 * active commitments more than the grace past due become expired. The statement's own SELECT sees
 * the rows as they were, so it reads the expired ids from `expired` (see `effectiveStatus`).
 */
const expireCte = (userParam: string | null) => `expired AS (
  UPDATE commitments SET status = 'expired' WHERE status = 'active' AND commitment_timestamp < now() - make_interval(secs => ${COMMITMENT_GRACE_SECONDS})
  ${userParam ? `AND user_id = ${userParam}` : ""} RETURNING id)`;
const effectiveStatus = `CASE WHEN c.id IN (SELECT id FROM expired) THEN 'expired' ELSE c.status END`;

/** The scheduled sweep (reference: update_expired_commitments()); also what every read does for its rows. */
export async function expireOverdueCommitments(db: Db): Promise<number> {
  const [r] = await db.query<{ n: number }>(`WITH ${expireCte(null)} SELECT count(*)::int AS n FROM expired`);
  return Number(r?.n ?? 0);
}

/**
 * Creates one (1 round trip). With `interaction_id`, the interaction must be the user's (404
 * otherwise). Idempotent on the request's Idempotency-Key: a repeat answers the first one's row.
 */
export async function createCommitment(
  db: Db,
  userId: string,
  b: z.infer<typeof CreateCommitmentBody>,
  requestKey?: string,
): Promise<{ commitment: Commitment; created: boolean }> {
  const [row] = await db.query(
    `
    WITH ok AS (SELECT $5::uuid IS NULL OR EXISTS (SELECT 1 FROM interactions WHERE id = $5::uuid AND user_id = $1) AS ok),
    ins AS (
      INSERT INTO commitments (user_id, commitment_timestamp, commitment_text, details, extracted_from_interaction, request_key)
      SELECT $1, $2, $3, $4::jsonb, $5::uuid, $6 FROM ok WHERE ok.ok
      ON CONFLICT (user_id, request_key) WHERE request_key IS NOT NULL DO NOTHING RETURNING *)
    SELECT (SELECT ok FROM ok) AS ok, (SELECT row_to_json(ins) FROM ins) AS created,
      (SELECT row_to_json(c) FROM commitments c WHERE $6::text IS NOT NULL AND c.user_id = $1 AND c.request_key = $6) AS existing`,
    [userId, b.commitment_timestamp, b.commitment_text, JSON.stringify(b.details), b.interaction_id ?? null, requestKey ?? null],
  );
  if (!row?.ok) throw new NotFoundError("interaction not found for this user");
  const hit = (row.created ?? row.existing) as Record<string, unknown> | null;
  if (!hit) return createCommitment(db, userId, b, requestKey); // a concurrent twin committed after our snapshot
  return { commitment: fromRow(hit), created: Boolean(row.created) };
}

/**
 * Moves an active commitment to fulfilled, cancelled or expired. Setting the status it already
 * has answers 200 (a retry); changing a final one is a 409. An overdue one is expired first.
 */
export async function updateCommitmentStatus(
  db: Db,
  id: string,
  status: z.infer<typeof PatchCommitmentBody>["status"],
): Promise<Commitment> {
  const [row] = await db.query(
    `
    WITH ${expireCte(null).replace("WHERE status = 'active'", "WHERE id = $1 AND status = 'active'")},
    upd AS (UPDATE commitments c SET status = $2 WHERE c.id = $1 AND c.status = 'active' AND c.id NOT IN (SELECT id FROM expired) RETURNING ${COLUMNS})
    SELECT (SELECT row_to_json(upd) FROM upd) AS updated,
      (SELECT row_to_json(x) FROM (SELECT ${COLUMNS.replace("c.status", `${effectiveStatus} AS status`)} FROM commitments c WHERE c.id = $1) x) AS current`,
    [id, status],
  );
  if (row?.updated) return fromRow(row.updated as Record<string, unknown>);
  if (!row?.current) throw new NotFoundError("commitment not found");
  const current = fromRow(row.current as Record<string, unknown>);
  if (current.status === status) return current;
  throw new ConflictError(`the commitment is ${current.status}`, { status: current.status });
}

/** Bytes a commitment row carries into a page (its text and details): pages stay under PAGE_BYTE_BUDGET. */
const ROW_BYTES = rowBytes(["c.commitment_text", "c.details::text"]);

/** A user's commitments by due time (soonest first), overdue ones expired on the way. */
export async function listUserCommitments(db: Db, userId: string, q: z.infer<typeof CommitmentListQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.uuid]);
  const rows = await db.query(
    `WITH ${expireCte("$1")} ${budgetedPage(
      `
    SELECT * FROM (SELECT ${COLUMNS.replace("c.status", `${effectiveStatus} AS status`)}, c.commitment_timestamp::text AS k, ${ROW_BYTES} AS row_bytes
      FROM commitments c WHERE c.user_id = $1 AND ($3::timestamptz IS NULL OR (c.commitment_timestamp, c.id) > ($3::timestamptz, $4::uuid))) s
    WHERE $2::text IS NULL OR s.status = $2
    ORDER BY s.commitment_timestamp, s.id LIMIT $5`,
      "l.commitment_timestamp, l.id",
      "$6",
    )}`,
    [userId, q.status ?? null, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  return pageOf(rows, q.limit, fromRow);
}

/**
 * The active commitments across users (or of one), soonest due first, with hours remaining and
 * urgency (reference: active_commitments_view); the overdue-past-grace ones are expired first and
 * left out.
 */
export async function listActiveCommitments(db: Db, q: z.infer<typeof ActiveQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.uuid]);
  const rows = await db.query(
    `WITH ${expireCte(null)} ${budgetedPage(
      `
    SELECT ${COLUMNS}, c.commitment_timestamp::text AS k, ${ROW_BYTES} AS row_bytes,
      round((extract(epoch FROM c.commitment_timestamp - now()) / 3600)::numeric, 2)::float8 AS hours_remaining,
      CASE WHEN c.commitment_timestamp < now() THEN 'overdue'
        WHEN c.commitment_timestamp <= now() + make_interval(hours => ${URGENT_WITHIN_HOURS}) THEN 'urgent'
        WHEN c.commitment_timestamp <= now() + make_interval(hours => ${TODAY_WITHIN_HOURS}) THEN 'today' ELSE 'future' END AS urgency
    FROM commitments c
    WHERE c.status = 'active' AND c.id NOT IN (SELECT id FROM expired) AND ($1::text IS NULL OR c.user_id = $1)
      AND ($2::timestamptz IS NULL OR (c.commitment_timestamp, c.id) > ($2::timestamptz, $3::uuid))
    ORDER BY c.commitment_timestamp, c.id LIMIT $4`,
      "l.commitment_timestamp, l.id",
      "$5",
    )}`,
    [q.user_id ?? null, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  return pageOf(rows, q.limit, (r) => ({
    ...fromRow(r),
    hours_remaining: Number(r.hours_remaining),
    urgency: r.urgency as (typeof URGENCIES)[number],
  }));
}

/**
 * The conflict check (reference: check_commitment_conflicts(user, start, end)): the user's active
 * commitments due within [start, end]. A window over 31 days is refused (it is a scheduling check).
 */
export async function checkCommitmentConflicts(db: Db, userId: string, q: z.infer<typeof ConflictQuery>) {
  if (Date.parse(q.end) - Date.parse(q.start) > 31 * 24 * 3600_000) {
    throw new ValidationError("window too long", [
      { in: "query", path: "end", message: "the window may span at most 31 days", code: "too_big" },
    ]);
  }
  const rows = await db.query(
    `WITH ${expireCte("$1")} ${budgetedPage(
      `
    SELECT ${COLUMNS}, ${ROW_BYTES} AS row_bytes FROM commitments c
    WHERE c.user_id = $1 AND c.status = 'active' AND c.id NOT IN (SELECT id FROM expired)
      AND c.commitment_timestamp BETWEEN $2::timestamptz AND $3::timestamptz
    ORDER BY c.commitment_timestamp, c.id LIMIT ${MAX_CONFLICTS + 1}`,
      "l.commitment_timestamp, l.id",
      "$4",
    )}`,
    [userId, q.start, q.end, PAGE_BYTE_BUDGET],
  );
  const { page, more } = sizedPage(rows, MAX_CONFLICTS);
  const conflicts = page.map(fromRow);
  return {
    user_id: userId,
    start: new Date(q.start).toISOString(),
    end: new Date(q.end).toISOString(),
    has_conflict: conflicts.length > 0,
    truncated: more,
    conflicts,
  };
}

/** Most commitments a conflict check lists (it answers `truncated` when there were more). */
export const MAX_CONFLICTS = 100;

function pageOf<T>(rows: Record<string, unknown>[], limit: number, map: (r: Record<string, unknown>) => T) {
  return keysetPage(rows, limit, map, (r) => [String(r.k), String(r.id)]);
}
