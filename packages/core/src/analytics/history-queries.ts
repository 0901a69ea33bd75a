/**
 * The analytics reports over history (issue 28): SQL over the archived months, one text for both
 * engines that read them: Athena (Trino; infra/analytics.ts makes each a named query) and DuckDB
 * (`npm run analytics`, and test/analytics-history.test.ts, which runs every one over archives it
 * made). Both see a table `interactions` with the Parquet columns plus the Hive partition column
 * `month` ('yyyy-MM'). Kept to the SQL both accept: CAST (never `::`), CASE sums rather than
 * FILTER, CAST(ts AS DATE) for days, CROSS JOIN UNNEST(...) AS t(x), ordinal-free GROUP BY.
 *
 * No imports: infra/analytics.ts (type-checked against SST's platform) reads this file too.
 */

/** The table both engines query. */
export const HISTORY_TABLE = "interactions";

/**
 * The archive's columns as the Glue table declares them, in Parquet order (the partition column
 * `month` is declared apart). test/analytics-history.test.ts checks this list against the columns
 * the archive writes from Postgres, so a migration that adds a column fails until it is added here.
 */
export const HISTORY_COLUMNS: readonly { name: string; type: string }[] = [
  { name: "id", type: "string" },
  { name: "message_id", type: "string" },
  { name: "user_id", type: "string" },
  { name: "chat_id", type: "string" },
  { name: "conversation_id", type: "string" },
  { name: "message_number", type: "int" },
  { name: "user_message", type: "string" },
  { name: "user_message_timestamp", type: "timestamp" },
  { name: "llm1_raw_response", type: "string" },
  { name: "llm1_model", type: "string" },
  { name: "llm2_model", type: "string" },
  { name: "llm1_tokens_used", type: "int" },
  { name: "llm2_tokens_used", type: "int" },
  { name: "llm1_cost_usd", type: "double" },
  { name: "llm2_cost_usd", type: "double" },
  { name: "total_cost_usd", type: "double" },
  { name: "llm2_bubbles", type: "array<string>" },
  { name: "constitution_risk_score", type: "double" },
  { name: "constitution_flags", type: "array<string>" },
  { name: "constitution_recommendation", type: "string" },
  { name: "priority_score", type: "double" },
  { name: "review_status", type: "string" },
  { name: "reviewer_id", type: "string" },
  { name: "review_started_at", type: "timestamp" },
  { name: "review_lease_expires_at", type: "timestamp" },
  { name: "review_completed_at", type: "timestamp" },
  { name: "review_time_seconds", type: "int" },
  { name: "final_bubbles", type: "array<string>" },
  { name: "edit_tags", type: "array<string>" },
  { name: "quality_score", type: "int" },
  { name: "reviewer_notes", type: "string" },
  { name: "outbox_lease_token", type: "string" },
  { name: "outbox_lease_expires_at", type: "timestamp" },
  { name: "messages_sent_at", type: "timestamp" },
  { name: "cta_data", type: "string" },
  { name: "customer_status", type: "string" },
  { name: "cta_sent_count", type: "int" },
  { name: "cta_response_type", type: "string" },
  { name: "last_cta_sent_at", type: "timestamp" },
  { name: "conversion_date", type: "timestamp" },
  { name: "ltv_usd", type: "double" },
  { name: "telegram_message_id", type: "bigint" },
  { name: "telegram_date", type: "timestamp" },
  { name: "is_recovered_message", type: "boolean" },
  { name: "created_at", type: "timestamp" },
  { name: "updated_at", type: "timestamp" },
  { name: "review_claim_key", type: "string" },
  { name: "outbox_claim_key", type: "string" },
];

export interface HistoryQuery {
  /** The named query's name (Athena) and `npm run analytics -- --query <name>`. */
  name: string;
  description: string;
  sql: string;
}

export const HISTORY_QUERIES: readonly HistoryQuery[] = [
  {
    name: "volume_by_day",
    description: "Interactions per day (UTC): received, approved, rejected, and distinct users.",
    sql: `SELECT CAST(created_at AS DATE) AS day,
  count(*) AS interactions,
  sum(CASE WHEN review_status = 'approved' THEN 1 ELSE 0 END) AS approved,
  sum(CASE WHEN review_status = 'rejected' THEN 1 ELSE 0 END) AS rejected,
  count(DISTINCT user_id) AS users
FROM interactions
GROUP BY CAST(created_at AS DATE)
ORDER BY day`,
  },
  {
    name: "quality_by_month",
    description: "Quality scores per month: how many were scored, the average, and the histogram (1 to 5).",
    sql: `SELECT month,
  count(quality_score) AS scored,
  avg(CAST(quality_score AS DOUBLE)) AS avg_quality,
  sum(CASE WHEN quality_score = 1 THEN 1 ELSE 0 END) AS q1,
  sum(CASE WHEN quality_score = 2 THEN 1 ELSE 0 END) AS q2,
  sum(CASE WHEN quality_score = 3 THEN 1 ELSE 0 END) AS q3,
  sum(CASE WHEN quality_score = 4 THEN 1 ELSE 0 END) AS q4,
  sum(CASE WHEN quality_score = 5 THEN 1 ELSE 0 END) AS q5
FROM interactions
GROUP BY month
ORDER BY month`,
  },
  {
    name: "funnel_by_month",
    description: "Customer funnel per month: users by the customer status of their last interaction that month.",
    sql: `SELECT month, customer_status, count(*) AS users
FROM (
  SELECT month, user_id, customer_status,
    row_number() OVER (PARTITION BY month, user_id ORDER BY created_at DESC, id DESC) AS latest
  FROM interactions
) last_of_month
WHERE latest = 1
GROUP BY month, customer_status
ORDER BY month, customer_status`,
  },
  {
    name: "cost_by_day_and_models",
    description: "LLM cost per day (UTC) and model pair (llm1, llm2): interactions, tokens and US dollars.",
    sql: `SELECT CAST(created_at AS DATE) AS day,
  coalesce(llm1_model, '') AS llm1_model,
  coalesce(llm2_model, '') AS llm2_model,
  count(*) AS interactions,
  sum(coalesce(llm1_tokens_used, 0) + coalesce(llm2_tokens_used, 0)) AS tokens,
  sum(coalesce(llm1_cost_usd, 0)) AS llm1_cost_usd,
  sum(coalesce(llm2_cost_usd, 0)) AS llm2_cost_usd,
  sum(total_cost_usd) AS total_cost_usd
FROM interactions
GROUP BY CAST(created_at AS DATE), coalesce(llm1_model, ''), coalesce(llm2_model, '')
ORDER BY day, llm1_model, llm2_model`,
  },
  {
    name: "edit_tags",
    description: "Edit tags: how often each was used, and the average quality and review time of the interactions it tags.",
    sql: `SELECT tag,
  count(*) AS tagged,
  avg(CAST(i.quality_score AS DOUBLE)) AS avg_quality,
  avg(CAST(i.review_time_seconds AS DOUBLE)) AS avg_review_time_seconds
FROM interactions i
CROSS JOIN UNNEST(i.edit_tags) AS t (tag)
GROUP BY tag
ORDER BY tagged DESC, tag`,
  },
];

export function historyQuery(name: string): HistoryQuery | undefined {
  return HISTORY_QUERIES.find((q) => q.name === name);
}
