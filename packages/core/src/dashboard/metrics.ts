import { readThroughVersioned } from "../cache/versioned.js";
import type { RedisStore } from "../cache/redis.js";
import { UnavailableError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Db } from "../db/db.js";
import type { WalQueue } from "../wal/queue.js";
import type { WalStats } from "../wal/schemas.js";

/** Dashboard aggregates are cached this long (reference: 5 minutes). */
export const DASHBOARD_CACHE_TTL_SECONDS = 300;

export interface DashboardAggregates {
  pending_reviews: number;
  reviewed_today: number;
  avg_review_time_seconds: number;
  popular_edit_tags: { tag: string; count: number }[];
  cost_today: { llm1_usd: number; llm2_usd: number; interactions: number; users: number };
  model_distribution: { llm1_model: string | null; llm2_model: string | null; count: number; cost_usd: number }[];
}

/** `wal` is null while Redis is unavailable: the review figures still come from Postgres. */
export type DashboardMetrics = DashboardAggregates & { wal: Omit<WalStats, "oldest_pending_age_seconds"> | null };

/**
 * "Today" is the UTC day; the week is the last 7 days. One statement, partition-pruned by created_at.
 * The average review time leaves out zeros (reviews the earlier system recorded as instant; see
 * REVIEW_FROM in reviews/lifecycle.ts for what is measured now).
 */
const AGGREGATES = `
SELECT
  (SELECT count(*)::int FROM interactions WHERE review_status = 'pending'
     OR (review_status = 'reviewing' AND review_lease_expires_at < now())) AS pending_reviews,
  (SELECT count(*)::int FROM interactions WHERE review_status IN ('approved','rejected')
     AND review_completed_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS reviewed_today,
  (SELECT coalesce(round(avg(review_time_seconds)::numeric, 1), 0)::float8 FROM interactions
     WHERE review_completed_at >= now() - interval '7 days' AND review_time_seconds > 0) AS avg_review_time_seconds,
  (SELECT coalesce(json_agg(t ORDER BY t.count DESC, t.tag), '[]') FROM (
     SELECT tag, count(*)::int AS count FROM interactions, unnest(edit_tags) AS tag
     WHERE review_completed_at >= now() - interval '7 days' GROUP BY tag ORDER BY count DESC, tag LIMIT 10) t) AS popular_edit_tags,
  (SELECT json_build_object('llm1_usd', coalesce(sum(llm1_cost_usd), 0)::float8, 'llm2_usd', coalesce(sum(llm2_cost_usd), 0)::float8,
     'interactions', count(*)::int, 'users', count(DISTINCT user_id)::int) FROM interactions
     WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS cost_today,
  (SELECT coalesce(json_agg(m ORDER BY m.count DESC), '[]') FROM (
     SELECT llm1_model, llm2_model, count(*)::int AS count, coalesce(sum(total_cost_usd), 0)::float8 AS cost_usd FROM interactions
     WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
     GROUP BY llm1_model, llm2_model) m) AS model_distribution`;

/**
 * GET /v1/dashboard/metrics: the cached aggregates and live WAL depths in one Redis round trip;
 * on a miss, one Postgres query and a cache write.
 */
export async function dashboardMetrics(deps: { db: Db; redis: RedisStore; wal: WalQueue; log?: Logger }): Promise<DashboardMetrics> {
  const key = deps.redis.keys.dashboard;
  const [aggregates, wal] = await Promise.all([
    readThroughVersioned(
      deps.redis,
      key,
      DASHBOARD_CACHE_TTL_SECONDS,
      async () => ({ value: (await deps.db.query<DashboardAggregates>(AGGREGATES))[0]!, version: 0 }),
      deps.log,
    ),
    deps.wal.stats().catch((e) => {
      if (e instanceof UnavailableError) return null;
      throw e;
    }),
  ]);
  return { ...aggregates, wal: wal && { pending: wal.pending, in_flight: wal.in_flight, dead_letter: wal.dead_letter } };
}
