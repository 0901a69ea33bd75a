import { z } from "zod";
import type { RedisStore } from "../cache/redis.js";
import { writeVersioned } from "../cache/versioned.js";
import type { Db } from "../db/db.js";
import { CursorPart, decodeCursor, encodeCursor } from "../db/keyset.js";
import { NotFoundError } from "../errors.js";
import type { Logger } from "../log.js";
import { CUSTOMER_STATUSES, STATUS_CACHE_TTL_SECONDS, statusFromRow, statusKey, STATUS_COLUMNS } from "../users/status.js";

/** The reference's five CTA response types (interactions.cta_response_type). */
export const CTA_RESPONSE_TYPES = ["IGNORED", "POLITE_DECLINE", "INTERESTED", "CONVERTED", "RUDE_DECLINE"] as const;
export type CtaResponseType = (typeof CTA_RESPONSE_TYPES)[number];
export type CustomerStatus = (typeof CUSTOMER_STATUSES)[number];

export const CtaResponseBody = z
  .object({
    response_type: z.enum(CTA_RESPONSE_TYPES),
    converted: z.boolean().default(false),
    /** Added to the user's LTV when the response converts (reference: p_ltv_amount). */
    ltv_amount: z.number().min(0).max(10_000).default(0),
    reason: z.string().max(200).optional(),
  })
  .strict()
  .meta({ id: "CtaResponseBody", description: "How the user answered the CTA of an interaction" });
export type CtaResponseBody = z.infer<typeof CtaResponseBody>;

export const Transition = z
  .object({
    id: z.number(),
    user_id: z.string(),
    interaction_id: z.string().nullable(),
    previous_status: z.enum(CUSTOMER_STATUSES),
    new_status: z.enum(CUSTOMER_STATUSES),
    reason: z.string().nullable(),
    automated: z.boolean(),
    actor: z.string(),
    ltv_added_usd: z.number(),
    created_at: z.string(),
  })
  .meta({ id: "StatusTransition", description: "One change of a user's customer status: automated (a CTA response) or manual" });
export type Transition = z.infer<typeof Transition>;

export const CtaOutcome = z
  .object({
    interaction_id: z.string(),
    user_id: z.string(),
    response_type: z.enum(CTA_RESPONSE_TYPES),
    converted: z.boolean(),
    cta_count: z.number().describe("CTAs sent to the user (approved replies carrying cta_data), as the rules read it"),
    previous_status: z.enum(CUSTOMER_STATUSES),
    customer_status: z.enum(CUSTOMER_STATUSES),
    ltv_usd: z.number(),
    repeated: z.boolean().describe("true when this response was already recorded for the interaction: nothing was applied again"),
    transition: Transition.nullable(),
  })
  .meta({ id: "CtaOutcome", description: "The recorded CTA response and the status it moved the user to" });

/**
 * The pure form of the reference's `update_customer_status` rules, as the migration's SQL function
 * `hitl_next_customer_status` applies them (the database is the one place they run; this copy
 * documents them for callers and is tested against the SQL, case by case).
 */
export function nextCustomerStatus(current: CustomerStatus, response: CtaResponseType, converted: boolean, ctas: number): CustomerStatus {
  if (converted || response === "CONVERTED") return "CUSTOMER";
  if (response === "POLITE_DECLINE" && ctas <= 3) return "LEAD_QUALIFIED";
  if (response === "RUDE_DECLINE" || ctas > 5) return "LEAD_EXHAUSTED";
  if (response === "INTERESTED") return "LEAD_QUALIFIED";
  return current;
}

export const TRANSITION_COLUMNS = `id, user_id, interaction_id, previous_status, new_status, reason, automated, actor, ltv_added_usd::float8 AS ltv_added_usd, created_at`;

export const transitionFromRow = (r: Record<string, unknown>): Transition => ({
  id: Number(r.id),
  user_id: String(r.user_id),
  interaction_id: (r.interaction_id as string | null) ?? null,
  previous_status: r.previous_status as CustomerStatus,
  new_status: r.new_status as CustomerStatus,
  reason: (r.reason as string | null) ?? null,
  automated: Boolean(r.automated),
  actor: String(r.actor),
  ltv_added_usd: Number(r.ltv_added_usd),
  created_at: new Date(r.created_at as string).toISOString(),
});

/**
 * One transaction (one round trip): the user's status row exists (PROSPECT when new), then one
 * statement locks the interaction and the status row, counts the CTAs sent, applies the rules,
 * records the response on the interaction, moves the status (LTV grows on conversion) and writes
 * the transition when the status changed. A response equal to the one already recorded for the
 * interaction (a retry, whatever its key) applies nothing and answers the state as it is.
 */
const APPLY = `
WITH i AS (
  SELECT id, created_at, user_id, cta_response_type, conversion_date IS NOT NULL AS was_converted
  FROM interactions WHERE id = $1 FOR UPDATE),
u AS (SELECT s.user_id, s.customer_status, s.ltv_usd FROM user_current_status s JOIN i ON s.user_id = i.user_id FOR UPDATE OF s),
calc AS (
  SELECT i.*, u.customer_status AS prev, u.ltv_usd AS prev_ltv,
    (SELECT count(*)::int FROM interactions x WHERE x.user_id = i.user_id AND x.cta_data IS NOT NULL AND x.review_status = 'approved') AS ctas,
    (i.cta_response_type IS NOT DISTINCT FROM $2::text AND i.was_converted = $3::boolean) AS repeated
  FROM i JOIN u ON u.user_id = i.user_id),
nxt AS (
  SELECT calc.*, hitl_next_customer_status(prev, $2::text, $3::boolean, ctas) AS next,
    CASE WHEN ($3::boolean OR $2::text = 'CONVERTED') AND NOT repeated THEN $4::numeric ELSE 0 END AS ltv_add
  FROM calc),
upd_i AS (
  UPDATE interactions x SET cta_response_type = $2, cta_sent_count = n.ctas, customer_status = n.next,
    conversion_date = CASE WHEN $3::boolean OR $2::text = 'CONVERTED' THEN coalesce(x.conversion_date, now()) ELSE NULL END,
    ltv_usd = x.ltv_usd + n.ltv_add
  FROM nxt n WHERE x.id = n.id AND x.created_at = n.created_at AND NOT n.repeated RETURNING x.id),
upd_u AS (
  UPDATE user_current_status s SET customer_status = n.next, ltv_usd = s.ltv_usd + n.ltv_add, reason = coalesce($5, s.reason)
  FROM nxt n WHERE s.user_id = n.user_id AND NOT n.repeated AND (n.next <> n.prev OR n.ltv_add > 0)
  RETURNING ${STATUS_COLUMNS.split(", ")
    .map((c) => `s.${c}`)
    .join(", ")}),
tr AS (
  INSERT INTO customer_status_transitions (user_id, interaction_id, previous_status, new_status, reason, automated, actor, ltv_added_usd)
  SELECT user_id, id, prev, next, coalesce($5, 'CTA response ' || $2::text), true, $6, ltv_add FROM nxt
  WHERE NOT repeated AND next <> prev RETURNING ${TRANSITION_COLUMNS})
SELECT n.id AS interaction_id, n.user_id, n.ctas, n.prev, n.next, n.repeated,
  (SELECT row_to_json(upd_u) FROM upd_u) AS status_row,
  coalesce((SELECT row_to_json(tr) FROM tr),
    (SELECT row_to_json(t) FROM (SELECT ${TRANSITION_COLUMNS} FROM customer_status_transitions
      WHERE interaction_id = n.id AND automated ORDER BY id DESC LIMIT 1) t WHERE n.repeated)) AS transition,
  (SELECT s.ltv_usd::float8 FROM user_current_status s WHERE s.user_id = n.user_id) AS ltv_before
FROM nxt n`;

export interface CustomerDeps {
  db: Db;
  redis: RedisStore;
  log?: Logger;
}

/**
 * POST /v1/interactions/{id}/cta-response: Postgres (1 round trip: a transaction of two
 * statements), then the status cache (1 Redis round trip) when the status row changed.
 */
export async function recordCtaResponse(deps: CustomerDeps, interactionId: string, b: CtaResponseBody, actor: string) {
  const [, rows] = await deps.db.transaction([
    {
      text: `INSERT INTO user_current_status (user_id) SELECT user_id FROM interactions WHERE id = $1 ON CONFLICT (user_id) DO NOTHING`,
      params: [interactionId],
    },
    { text: APPLY, params: [interactionId, b.response_type, b.converted, b.ltv_amount, b.reason ?? null, actor] },
  ]);
  const r = rows?.[0];
  if (!r) throw new NotFoundError("interaction not found");
  const statusRow = r.status_row as Record<string, unknown> | null;
  if (statusRow)
    await writeVersioned(
      deps.redis,
      statusKey(deps.redis, String(r.user_id)),
      statusFromRow(String(r.user_id), statusRow),
      STATUS_CACHE_TTL_SECONDS,
      deps.log,
    );
  const converted = b.converted || b.response_type === "CONVERTED";
  return {
    interaction_id: String(r.interaction_id),
    user_id: String(r.user_id),
    response_type: b.response_type,
    converted,
    cta_count: Number(r.ctas),
    previous_status: r.prev as CustomerStatus,
    customer_status: (r.repeated ? r.prev : r.next) as CustomerStatus,
    ltv_usd: statusRow ? Number(statusRow.ltv_usd) : Number(r.ltv_before),
    repeated: Boolean(r.repeated),
    transition: r.transition ? transitionFromRow(r.transition as Record<string, unknown>) : null,
  };
}

export const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

/** GET /v1/users/{id}/status/history: the user's transitions, newest first (keyset paged). */
export async function statusHistory(db: Db, userId: string, q: z.infer<typeof HistoryQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.integer]);
  const rows = await db.query(
    `SELECT ${TRANSITION_COLUMNS}, created_at::text AS k FROM customer_status_transitions
    WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::text::bigint))
    ORDER BY created_at DESC, id DESC LIMIT $4`,
    [userId, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1],
  );
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(transitionFromRow),
    next_cursor: rows.length > q.limit && last ? encodeCursor([String(last.k), String(last.id)]) : null,
  };
}

export const FunnelRow = z
  .object({
    customer_status: z.enum(CUSTOMER_STATUSES),
    users: z.number(),
    avg_ctas: z.number(),
    conversions: z.number(),
    total_ltv_usd: z.number(),
    avg_ltv_usd: z.number(),
  })
  .meta({ id: "FunnelStage", description: "One stage of the customer funnel (reference: customer_funnel_metrics)" });

/**
 * The funnel (reference view `customer_funnel_metrics`), every stage in funnel order, empty ones
 * included: per current status, the users, their average CTAs sent, conversions (interactions
 * whose response converted), and the sum and average of LTV. A user with interactions and no
 * status row is a PROSPECT. One statement; a report, not a per-message path.
 */
export async function customerFunnel(db: Db) {
  const rows = await db.query(
    `
    WITH per_user AS (
      SELECT user_id, count(*) FILTER (WHERE cta_data IS NOT NULL AND review_status = 'approved') AS ctas,
        count(*) FILTER (WHERE conversion_date IS NOT NULL) AS conversions
      FROM interactions GROUP BY user_id),
    users AS (
      SELECT coalesce(s.user_id, p.user_id) AS user_id, coalesce(s.customer_status, 'PROSPECT') AS status, coalesce(s.ltv_usd, 0) AS ltv,
        coalesce(p.ctas, 0) AS ctas, coalesce(p.conversions, 0) AS conversions
      FROM user_current_status s FULL JOIN per_user p ON p.user_id = s.user_id)
    SELECT f.status AS customer_status, count(u.user_id)::int AS users, coalesce(round(avg(u.ctas), 2), 0)::float8 AS avg_ctas,
      coalesce(sum(u.conversions), 0)::int AS conversions, coalesce(sum(u.ltv), 0)::float8 AS total_ltv_usd,
      coalesce(round(avg(u.ltv), 2), 0)::float8 AS avg_ltv_usd
    FROM unnest($1::text[]) WITH ORDINALITY AS f(status, ord) LEFT JOIN users u ON u.status = f.status
    GROUP BY f.status, f.ord ORDER BY f.ord`,
    [[...CUSTOMER_STATUSES]],
  );
  return { items: rows as z.infer<typeof FunnelRow>[] };
}
