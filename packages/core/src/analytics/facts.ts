/**
 * The one definition of what the rollups hold, as SQL over raw interactions created in
 * [$from, $to): the rollup job stores it, a report computes today's partial day with it, and the
 * integrity report recounts a sample day with it. Every figure is of interactions by their
 * creation time (UTC hour; per user, UTC day).
 */

/** Upper bounds (seconds) of the review-time histogram's bins; the last bin is open. */
export const REVIEW_TIME_BINS_SECONDS = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 86400] as const;
/** Key of the open last bin. */
export const OPEN_BIN = "inf";

export const HOURLY_KINDS = ["all", "model", "quality", "cta", "response", "status", "reviewer", "review_time", "tag"] as const;
export type HourlyKind = (typeof HOURLY_KINDS)[number];

/** The measures of a rollup row, in table order. */
export const MEASURES = [
  "interactions",
  "approved",
  "rejected",
  "edited",
  "review_time_sum",
  "review_time_n",
  "quality_sum",
  "quality_n",
  "cost_usd",
  "llm1_cost_usd",
  "llm2_cost_usd",
] as const;

const bin = `CASE WHEN review_time_seconds IS NULL THEN NULL ${REVIEW_TIME_BINS_SECONDS.map((b) => `WHEN review_time_seconds <= ${b} THEN '${b}'`).join(" ")} ELSE '${OPEN_BIN}' END`;

/** Edited: approved with final bubbles other than the draft. */
const EDITED = "(review_status = 'approved' AND final_bubbles IS DISTINCT FROM llm2_bubbles)";

/**
 * Rows (hour, kind, key, ...MEASURES) of interactions created in [`from`, `to`) (placeholders),
 * restricted to `kinds` (a text[] placeholder) when given; `gate`, a condition on no row, makes the
 * scan a one-time filter (not executed at all when false).
 */
export function hourlyFactsSql(from: string, to: string, kinds?: string, gate?: string): string {
  return `
WITH src AS (
  SELECT date_trunc('hour', created_at, 'UTC') AS hour, review_status, quality_score, review_time_seconds,
    ${EDITED} AS edited, total_cost_usd, coalesce(llm1_cost_usd, 0) AS llm1_cost_usd, coalesce(llm2_cost_usd, 0) AS llm2_cost_usd,
    json_build_array(llm1_model, llm2_model)::text AS model_key, cta_data->>'type' AS cta_type, cta_response_type,
    customer_status, CASE WHEN review_status IN ('approved', 'rejected') THEN reviewer_id END AS reviewer, ${bin} AS time_bin, edit_tags
  FROM interactions WHERE ${gate ? `${gate} AND ` : ""}created_at >= ${from} AND created_at < ${to}
), dims AS (
  SELECT s.*, d.kind, d.key FROM src s CROSS JOIN LATERAL (VALUES ('all', ''), ('model', s.model_key), ('quality', s.quality_score::text),
    ('cta', s.cta_type), ('response', s.cta_response_type::text), ('status', s.customer_status::text), ('reviewer', s.reviewer),
    ('review_time', s.time_bin)) d(kind, key)
  WHERE d.key IS NOT NULL${kinds ? ` AND d.kind = ANY(${kinds})` : ""}
  UNION ALL
  SELECT s.*, 'tag', t FROM src s, unnest(s.edit_tags) t${kinds ? ` WHERE 'tag' = ANY(${kinds})` : ""}
)
SELECT hour, kind, key, count(*)::int AS interactions,
  count(*) FILTER (WHERE review_status = 'approved')::int AS approved, count(*) FILTER (WHERE review_status = 'rejected')::int AS rejected,
  count(*) FILTER (WHERE edited)::int AS edited,
  coalesce(sum(review_time_seconds), 0)::bigint AS review_time_sum, count(review_time_seconds)::int AS review_time_n,
  coalesce(sum(quality_score), 0)::bigint AS quality_sum, count(quality_score)::int AS quality_n,
  sum(total_cost_usd) AS cost_usd, sum(llm1_cost_usd) AS llm1_cost_usd, sum(llm2_cost_usd) AS llm2_cost_usd
FROM dims GROUP BY hour, kind, key`;
}

export const USER_MEASURES = ["interactions", "approved", "rejected", "edited", "quality_sum", "quality_n", "cost_usd"] as const;

/**
 * Rows (day, user_id, ...USER_MEASURES, last_at) of interactions created in [`from`, `to`), and
 * before `before` when given (the rollup job's start: today's rows after it are counted live).
 */
export function userFactsSql(from: string, to: string, gate?: string, before?: string): string {
  return `
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, user_id, count(*)::int AS interactions,
  count(*) FILTER (WHERE review_status = 'approved')::int AS approved, count(*) FILTER (WHERE review_status = 'rejected')::int AS rejected,
  count(*) FILTER (WHERE ${EDITED})::int AS edited, coalesce(sum(quality_score), 0)::bigint AS quality_sum, count(quality_score)::int AS quality_n,
  sum(total_cost_usd) AS cost_usd, max(created_at) AS last_at
FROM interactions WHERE ${gate ? `${gate} AND ` : ""}created_at >= ${from} AND created_at < ${to}${before ? ` AND created_at < ${before}` : ""}
GROUP BY 1, user_id`;
}
