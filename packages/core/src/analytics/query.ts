import type { Db } from "../db/db.js";
import { hourlyFactsSql, userFactsSql } from "./facts.js";
import type { ReportRange } from "./range.js";

export type Grain = "none" | "day" | "hour";

export interface FactRow {
  kind: string;
  key: string;
  /** '' (grain none), the local date (day), or the local hour `YYYY-MM-DDTHH:00` (hour). */
  bucket: string;
  interactions: number;
  approved: number;
  rejected: number;
  edited: number;
  review_time_sum: number;
  review_time_n: number;
  quality_sum: number;
  quality_n: number;
  cost_usd: number;
  llm1_cost_usd: number;
  llm2_cost_usd: number;
}

export interface Freshness {
  /** Rows changed before this are in the rollups (null: the rollup job has not run yet). */
  rollups_as_of: string | null;
  /** From this instant on, figures are counted live from the interactions (null: none are). */
  live_from: string | null;
  generated_at: string;
}

/**
 * The range's bounds and the cut between rollups and live rows: the start of today (UTC), or of
 * the day of the last rollup run when that is older (its rows may be missing from the rollups).
 * `live` gates the live branch: when false, Postgres never executes it (a one-time filter), so a
 * past range reads the rollups alone.
 */
const BOUNDS = `b AS (
  SELECT t0, t1, as_of, greatest(t0, cut) AS live_from, greatest(t0, cut) < t1 AS live FROM (
    SELECT ($1::date::timestamp AT TIME ZONE $3) AS t0, (($2::date + 1)::timestamp AT TIME ZONE $3) AS t1, s.refreshed_at AS as_of,
      least(date_trunc('day', now(), 'UTC'), date_trunc('day', s.refreshed_at, 'UTC')) AS cut
    FROM analytics_rollup_state s) x)`;

const FRESHNESS = (live: boolean) => `(SELECT CASE WHEN as_of = '-infinity' THEN NULL ELSE as_of END FROM b) AS rollups_as_of,
  (SELECT CASE WHEN ${live ? "live" : "false"} THEN live_from END FROM b) AS live_from, now() AS generated_at`;

/**
 * A range ending this many days before today (UTC) reads the rollups alone: its query carries no
 * live branch, whose planning over every partition and index costs more than the rollups' read.
 * Nearer ranges carry it (gated: executed only when the cut falls inside the range). When the job
 * has not run for longer, `freshness.rollups_as_of` says so.
 */
export const LIVE_BRANCH_DAYS = 2;
const needsLive = (r: ReportRange, now = Date.now()) => Date.parse(`${r.to}T00:00:00Z`) >= now - (LIVE_BRANCH_DAYS + 1) * 86_400_000;

const sums = (cols: string[]) => cols.map((c) => `sum(${c})${c.includes("cost") ? "::float8" : "::int8"} AS ${c}`).join(", ");

/**
 * One round trip: the hourly facts of the range for each (kind, grain) asked, summed per key and
 * bucket (local day or hour in the range's zone): rollups before the cut, live rows after it.
 */
export async function readFacts(
  db: Db,
  r: ReportRange,
  specs: [kind: string, grain: Grain][],
): Promise<{ rows: FactRow[]; freshness: Freshness }> {
  const live = needsLive(r)
    ? `UNION ALL
  SELECT hour, kind, key, interactions, approved, rejected, edited, review_time_sum, review_time_n, quality_sum, quality_n,
    cost_usd, llm1_cost_usd, llm2_cost_usd FROM (${hourlyFactsSql("(SELECT live_from FROM b)", "(SELECT t1 FROM b)", "$4::text[]", "(SELECT live FROM b)")}) l`
    : "";
  const [row] = await db.query<{ rows: FactRow[] } & Record<keyof Freshness, unknown>>(
    `
WITH ${BOUNDS},
spec AS (SELECT * FROM unnest($4::text[], $5::text[]) AS s(kind, grain)),
f AS (
  SELECT a.* FROM analytics_hourly a WHERE a.kind = ANY($4::text[]) AND a.hour >= (SELECT t0 FROM b)
    AND a.hour < (SELECT ${live ? "least(t1, live_from)" : "t1"} FROM b)
  ${live}
)
SELECT ${FRESHNESS(live !== "")}, coalesce((SELECT json_agg(g) FROM (
  SELECT f.kind, f.key, CASE spec.grain WHEN 'day' THEN to_char(f.hour AT TIME ZONE $3, 'YYYY-MM-DD')
    WHEN 'hour' THEN to_char(f.hour AT TIME ZONE $3, 'YYYY-MM-DD"T"HH24:00') ELSE '' END AS bucket,
    ${sums(["interactions", "approved", "rejected", "edited", "review_time_sum", "review_time_n", "quality_sum", "quality_n", "cost_usd", "llm1_cost_usd", "llm2_cost_usd"])}
  FROM f JOIN spec USING (kind) GROUP BY 1, 2, 3) g), '[]') AS rows`,
    [r.from, r.to, r.tz, specs.map((s) => s[0]), specs.map((s) => s[1])],
  );
  return { rows: row!.rows, freshness: freshness(row!) };
}

export interface UserRow {
  user_id: string;
  interactions: number;
  approved: number;
  rejected: number;
  edited: number;
  quality_sum: number;
  quality_n: number;
  cost_usd: number;
  last_at: string;
}

/**
 * Per-user figures over the UTC days the range touches (the per-user rollup is daily: a zone's
 * day edges are widened to whole UTC days), the `limit` busiest users first.
 */
export async function readUserFacts(db: Db, r: ReportRange, limit: number): Promise<{ rows: UserRow[]; freshness: Freshness }> {
  const live = needsLive(r)
    ? `UNION ALL
  SELECT user_id, interactions, approved, rejected, edited, quality_sum, quality_n, cost_usd, last_at
  FROM (${userFactsSql("(SELECT live_from FROM u)", "(SELECT t1 FROM u)", "(SELECT live FROM u)")}) l`
    : "";
  const [row] = await db.query<{ rows: UserRow[] } & Record<keyof Freshness, unknown>>(
    `
WITH ${BOUNDS},
u AS (SELECT d0, t1, greatest(d0, cut) AS live_from, greatest(d0, cut) < t1 AS live FROM (
  SELECT date_trunc('day', t0, 'UTC') AS d0, date_trunc('day', t1 - interval '1 microsecond', 'UTC') + interval '1 day' AS t1,
    least(date_trunc('day', now(), 'UTC'), date_trunc('day', as_of, 'UTC')) AS cut FROM b) x),
f AS (
  SELECT d.user_id, d.interactions, d.approved, d.rejected, d.edited, d.quality_sum, d.quality_n, d.cost_usd, d.last_at
  FROM analytics_user_daily d WHERE d.day >= (SELECT (d0 AT TIME ZONE 'UTC')::date FROM u)
    AND d.day < (SELECT (${live ? "least(t1, live_from)" : "t1"} AT TIME ZONE 'UTC')::date FROM u)
  ${live}
)
SELECT ${FRESHNESS(live !== "")}, coalesce((SELECT json_agg(g) FROM (
  SELECT user_id, ${sums(["interactions", "approved", "rejected", "edited", "quality_sum", "quality_n", "cost_usd"])}, max(last_at) AS last_at
  FROM f GROUP BY user_id ORDER BY sum(interactions) DESC, user_id LIMIT $4) g), '[]') AS rows`,
    [r.from, r.to, r.tz, limit],
  );
  return { rows: row!.rows, freshness: freshness(row!) };
}

const iso = (v: unknown) =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
const freshness = (row: Record<string, unknown>): Freshness => ({
  rollups_as_of: iso(row.rollups_as_of),
  live_from: iso(row.live_from),
  generated_at: iso(row.generated_at)!,
});
