import { z } from "zod";
import type { Db } from "../db/db.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, keysetPage, rowBytes } from "../db/keyset.js";
import { INTERACTION_COLUMNS, interactionFromRow } from "../interactions/row.js";
import { ReviewStatus, type Interaction } from "../interactions/schemas.js";
import { IsoDateTime } from "../wal/schemas.js";

const CUSTOMER_STATUS = z.enum(["PROSPECT", "LEAD_QUALIFIED", "CUSTOMER", "CHURNED", "LEAD_EXHAUSTED"]);
/** A filter that takes one value or several (`?review_status=pending&review_status=approved`). */
const oneOrMany = <T extends z.ZodType>(t: T) =>
  z.union([t, z.array(t).max(10)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);
const Quality = z.coerce.number().int().min(1).max(5);

/** Search needs 3 characters: the trigram index cannot serve a shorter pattern. */
export const MIN_SEARCH_CHARS = 3;

export const BrowseQuery = z.object({
  from: IsoDateTime.optional(),
  to: IsoDateTime.optional(),
  user_id: z.string().min(1).max(128).optional(),
  review_status: oneOrMany(ReviewStatus).optional(),
  customer_status: oneOrMany(CUSTOMER_STATUS).optional(),
  llm1_model: z.string().max(100).optional(),
  llm2_model: z.string().max(100).optional(),
  edit_tag: z.string().min(1).max(50).optional(),
  quality_min: Quality.optional(),
  quality_max: Quality.optional(),
  cta_type: z.string().min(1).max(50).optional(),
  edited: z
    .enum(["true", "false"])
    .transform((v) => v === "true")
    .optional(),
  q: z.string().trim().min(MIN_SEARCH_CHARS).max(200).optional(),
  sort: z.enum(["created", "priority", "quality", "cost"]).default("created"),
  order: z.enum(["asc", "desc"]).default("desc"),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(400).optional(),
});
export type BrowseQuery = z.output<typeof BrowseQuery>;

/** Sort expressions (quality: unrated sorts as 0) and the cursor check of their text form. */
const SORTS = {
  created: { expr: "created_at", part: CursorPart.timestamp, cast: "timestamptz" },
  priority: { expr: "priority_score", part: CursorPart.number, cast: "float8" },
  quality: { expr: "coalesce(quality_score, 0)", part: CursorPart.integer, cast: "int" },
  cost: { expr: "total_cost_usd", part: CursorPart.number, cast: "numeric" },
} as const;

/** Escapes LIKE's wildcards: the searched text is matched literally. */
const LIKE_ESCAPED = "replace(replace(replace($P, '\\', '\\\\'), '%', '\\%'), '_', '\\_')";

/** The WHERE clauses of the filters given, their values as parameters (never spliced into SQL). */
export function filters(q: BrowseQuery, params: unknown[]): string[] {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const w: string[] = [];
  if (q.from) w.push(`created_at >= ${p(q.from)}::timestamptz`);
  if (q.to) w.push(`created_at < ${p(q.to)}::timestamptz`);
  if (q.user_id) w.push(`user_id = ${p(q.user_id)}`);
  if (q.review_status) w.push(`review_status = ANY(${p(q.review_status)}::text[])`);
  if (q.customer_status) w.push(`customer_status = ANY(${p(q.customer_status)}::text[])`);
  if (q.llm1_model) w.push(`llm1_model = ${p(q.llm1_model)}`);
  if (q.llm2_model) w.push(`llm2_model = ${p(q.llm2_model)}`);
  if (q.edit_tag) w.push(`edit_tags @> ARRAY[${p(q.edit_tag)}::text]`);
  if (q.quality_min !== undefined) w.push(`quality_score >= ${p(q.quality_min)}`);
  if (q.quality_max !== undefined) w.push(`quality_score <= ${p(q.quality_max)}`);
  if (q.cta_type) w.push(`cta_data->>'type' = ${p(q.cta_type)}`);
  if (q.edited !== undefined) {
    w.push(`${q.edited ? "" : "NOT "}(review_status = 'approved' AND final_bubbles IS DISTINCT FROM llm2_bubbles)`);
  }
  if (q.q) w.push(searchClause(p(q.q)));
  return w;
}

/** Case- and accent-insensitive text match of `param`, literal, on the indexed expression (migration 0060). */
export const searchClause = (param: string) =>
  `hitl_search_text(user_message, llm2_bubbles, final_bubbles) LIKE '%' || ${LIKE_ESCAPED.replace("$P", `hitl_fold(${param}::text)`)} || '%'`;

export interface BrowsePage {
  items: Interaction[];
  next_cursor: string | null;
}

/**
 * GET /v1/interactions: filtered, searched, sorted, keyset-paged (sort key, created_at, id), and
 * bounded by the page byte budget like every list. One query.
 */
export async function browseInteractions(db: Db, q: BrowseQuery): Promise<BrowsePage> {
  const sort = SORTS[q.sort];
  const after = decodeCursor(q.cursor, [sort.part, CursorPart.timestamp, CursorPart.uuid]);
  const params: unknown[] = [];
  const where = filters(q, params);
  const cmp = q.order === "desc" ? "<" : ">";
  if (after) {
    params.push(...after);
    const n = params.length;
    where.push(`(${sort.expr}, created_at, id) ${cmp} ($${n - 2}::${sort.cast}, $${n - 1}::timestamptz, $${n}::uuid)`);
  }
  params.push(q.limit + 1, PAGE_BYTE_BUDGET);
  const dir = q.order.toUpperCase();
  const rows = await db.query(
    budgetedPage(
      `
    SELECT ${INTERACTION_COLUMNS}, ${sort.expr} AS sort_value, ${sort.expr}::text AS cursor_sort, created_at::text AS cursor_created,
      ${rowBytes([
        "user_message",
        "llm1_raw_response",
        "array_to_string(llm2_bubbles, '')",
        "array_to_string(constitution_flags, '')",
        "array_to_string(final_bubbles, '')",
        "array_to_string(edit_tags, '')",
        "reviewer_notes",
        "cta_data::text",
      ])} AS row_bytes
    FROM interactions ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY ${sort.expr} ${dir}, created_at ${dir}, id ${dir}
    LIMIT $${params.length - 1}`,
      `l.sort_value ${dir}, l.cursor_created::timestamptz ${dir}, l.id ${dir}`,
      `$${params.length}`,
    ),
    params,
  );
  return keysetPage(
    rows,
    q.limit,
    ({ sort_value: _s, cursor_sort: _c, cursor_created: _d, ...r }) => interactionFromRow(r),
    (r) => [String(r.cursor_sort), String(r.cursor_created), String(r.id)],
  );
}
