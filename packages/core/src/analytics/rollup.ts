import type { Db, Statement } from "../db/db.js";
import { MEASURES, USER_MEASURES, hourlyFactsSql, userFactsSql } from "./facts.js";

/**
 * Rows updated this long before the last run's start are looked at again: a statement that began
 * before the run and committed after it carries an older updated_at. Statements here are bounded
 * by the store deadline (seconds), so minutes are plenty.
 */
export const DIRTY_MARGIN_SECONDS = 300;

/** Serializes rollup writers (the job, a cleanup): one day is replaced by one writer at a time. */
const LOCK = "SELECT pg_advisory_xact_lock(hashtext('hitl:analytics-rollup'))";

const HOURLY_COLUMNS = ["hour", "kind", "key", ...MEASURES].join(", ");
const USER_COLUMNS = ["day", "user_id", ...USER_MEASURES, "last_at"].join(", ");

/**
 * The statements that replace one UTC day's rollups with a recount of its rows (`day`: YYYY-MM-DD).
 * Idempotent: run twice, or by two writers one after the other, the result is the same.
 */
export function recomputeDayStatements(day: string): Statement[] {
  const from = "($1::date::timestamp AT TIME ZONE 'UTC')";
  const to = "(($1::date + 1)::timestamp AT TIME ZONE 'UTC')";
  return [
    { text: LOCK },
    { text: `DELETE FROM analytics_hourly WHERE hour >= ${from} AND hour < ${to}`, params: [day] },
    {
      text: `INSERT INTO analytics_hourly (${HOURLY_COLUMNS}) SELECT ${HOURLY_COLUMNS} FROM (${hourlyFactsSql(from, to)}) f`,
      params: [day],
    },
    { text: "DELETE FROM analytics_user_daily WHERE day = $1::date", params: [day] },
    { text: `INSERT INTO analytics_user_daily (${USER_COLUMNS}) SELECT ${USER_COLUMNS} FROM (${userFactsSql(from, to)}) f`, params: [day] },
  ];
}

export interface RefreshResult {
  days: string[];
  /** The run's start: rows changed before it (less the margin) are in the rollups. */
  as_of: string;
}

/**
 * The rollup job: recounts every UTC day holding a row changed since the last run (inserted,
 * reviewed, sent), one transaction per day, then moves the watermark. Safe to retry and to run
 * twice at once (a day is replaced whole, under an advisory lock; the watermark only moves ahead).
 * Days whose partitions archival dropped have no changed rows: their rollups stay as they are.
 */
export async function refreshRollups(db: Db, progress?: (line: string) => void): Promise<RefreshResult> {
  const [r] = await db.query<{ started: Date | string; days: string[] }>(
    `
    SELECT now() AS started, array(
      SELECT DISTINCT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM interactions
      WHERE updated_at >= (SELECT watermark FROM analytics_rollup_state) - make_interval(secs => $1) ORDER BY 1) AS days`,
    [DIRTY_MARGIN_SECONDS],
  );
  const started = r!.started instanceof Date ? r!.started.toISOString() : new Date(String(r!.started)).toISOString();
  for (const day of r!.days) {
    await db.transaction(recomputeDayStatements(day));
    progress?.(`rolled up ${day}`);
  }
  await db.query("UPDATE analytics_rollup_state SET watermark = greatest(watermark, $1), refreshed_at = greatest(refreshed_at, $1)", [
    started,
  ]);
  progress?.(`rollups: ${r!.days.length} day(s) recounted, as of ${started}`);
  return { days: r!.days, as_of: started };
}
