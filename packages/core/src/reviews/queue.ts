import type { Db } from "../db/db.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, keysetPage, rowBytes } from "../db/keyset.js";
import { INTERACTION_COLUMNS, interactionFromRow } from "../interactions/row.js";
import type { Interaction } from "../interactions/schemas.js";

export interface PendingReview extends Interaction {
  current_customer_status: string;
  nickname: string | null;
}

const COLUMNS = INTERACTION_COLUMNS.split(",")
  .map((c) => `i.${c.trim()}`)
  .join(", ");

/**
 * Pending reviews (and reviews whose lease expired), priority desc then oldest first, with the
 * user's current status and nickname: one query, keyset-paged.
 */
export async function listPendingReviews(
  db: Db,
  q: { limit: number; min_priority?: number; cursor?: string },
): Promise<{ items: PendingReview[]; next_cursor: string | null }> {
  const after = decodeCursor(q.cursor, [CursorPart.number, CursorPart.timestamp, CursorPart.uuid]);
  const rows = await db.query(
    budgetedPage(
      `
    SELECT ${COLUMNS}, coalesce(u.customer_status, 'PROSPECT') AS current_customer_status, u.nickname,
      i.created_at::text AS cursor_created,
      ${rowBytes([
        "i.user_message",
        "i.llm1_raw_response",
        "array_to_string(i.llm2_bubbles, '')",
        "array_to_string(i.constitution_flags, '')",
        "array_to_string(i.final_bubbles, '')",
        "array_to_string(i.edit_tags, '')",
        "i.reviewer_notes",
        "i.cta_data::text",
        "u.nickname",
      ])} AS row_bytes
    FROM interactions i LEFT JOIN user_current_status u ON u.user_id = i.user_id
    WHERE (i.review_status = 'pending' OR (i.review_status = 'reviewing' AND i.review_lease_expires_at < now()))
      AND i.priority_score >= $1
      AND ($2::text IS NULL OR i.priority_score < $2::text::float8
           OR (i.priority_score = $2::text::float8 AND (i.created_at, i.id) > ($3::timestamptz, $4::uuid)))
    ORDER BY i.priority_score DESC, i.created_at ASC, i.id ASC
    LIMIT $5`,
      "l.priority_score DESC, l.cursor_created::timestamptz ASC, l.id ASC",
      "$6",
    ),
    [q.min_priority ?? 0, after?.[0] ?? null, after?.[1] ?? null, after?.[2] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  // A page ends at `limit` rows, at the query's byte budget (Neon's 10 MiB cap) or at the Lambda
  // envelope's, whichever comes first. The cursor keeps created_at at full (microsecond)
  // precision: an ISO string would round it.
  return keysetPage(
    rows,
    q.limit,
    ({ cursor_created: _, ...r }): PendingReview => ({
      ...interactionFromRow(r),
      current_customer_status: String(r.current_customer_status),
      nickname: (r.nickname as string | null) ?? null,
    }),
    (r) => [String(r.priority_score), String(r.cursor_created), String(r.id)],
  );
}
