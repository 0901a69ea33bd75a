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
const DAILY_COLUMNS = ["kind", "day", "key", ...MEASURES].join(", ");

/** Spans (UTC days) of the per-user rollups above the daily one (migration 0090): each sums two of the span below. */
export const USER_SPANS = [2, 4, 8, 16, 32, 64] as const;

const SUMS = (cols: readonly string[]) => cols.map((c) => `sum(${c})`).join(", ");

/**
 * The statements that replace one UTC day's rollups with a recount of its rows (`day`: YYYY-MM-DD):
 * its hours, its daily row per kind and key (the sum of its hours), its users, and every per-user
 * span holding the day (each from the two halves below it, smallest first).
 * Idempotent: run twice, or by two writers one after the other, the result is the same.
 *
 * The per-user rows count the interactions created before `before` (the rollup run's start,
 * recorded as analytics_rollup_state.refreshed_at; by default the recorded one): a report adds
 * today's rows created from that instant on, live, and so never counts one twice.
 */
export function recomputeDayStatements(day: string, before?: string): Statement[] {
  const from = "($1::date::timestamp AT TIME ZONE 'UTC')";
  const to = "(($1::date + 1)::timestamp AT TIME ZONE 'UTC')";
  const start = (span: number) => `($1::date - (($1::date - date '1970-01-01') % ${span}))`;
  return [
    { text: LOCK },
    { text: `DELETE FROM analytics_hourly WHERE hour >= ${from} AND hour < ${to}`, params: [day] },
    {
      text: `INSERT INTO analytics_hourly (${HOURLY_COLUMNS}) SELECT ${HOURLY_COLUMNS} FROM (${hourlyFactsSql(from, to)}) f`,
      params: [day],
    },
    { text: "DELETE FROM analytics_daily WHERE day = $1::date", params: [day] },
    {
      text: `INSERT INTO analytics_daily (${DAILY_COLUMNS}) SELECT kind, $1::date, key, ${SUMS(MEASURES)}
        FROM analytics_hourly WHERE hour >= ${from} AND hour < ${to} GROUP BY kind, key`,
      params: [day],
    },
    { text: "DELETE FROM analytics_user_daily WHERE span = 1 AND day = $1::date", params: [day] },
    {
      text: `INSERT INTO analytics_user_daily (${USER_COLUMNS}) SELECT ${USER_COLUMNS}
        FROM (${userFactsSql(from, to, undefined, "coalesce($2::timestamptz, (SELECT refreshed_at FROM analytics_rollup_state))")}) f`,
      params: [day, before ?? null],
    },
    ...USER_SPANS.flatMap((span) => [
      { text: `DELETE FROM analytics_user_daily WHERE span = ${span} AND day = ${start(span)}`, params: [day] },
      {
        text: `INSERT INTO analytics_user_daily (span, ${USER_COLUMNS}) SELECT ${span}, ${start(span)}, user_id, ${SUMS(USER_MEASURES)}, max(last_at)
          FROM analytics_user_daily WHERE span = ${span / 2} AND day IN (${start(span)}, ${start(span)} + ${span / 2}) GROUP BY user_id`,
        params: [day],
      },
    ]),
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
  // The run's start becomes the recorded one in the same transaction as its last day (today's,
  // when today changed): a report never sees today's per-user rows counted to one instant and the
  // live rows counted from another.
  const record: Statement = {
    text: "UPDATE analytics_rollup_state SET watermark = greatest(watermark, $1), refreshed_at = greatest(refreshed_at, $1)",
    params: [started],
  };
  for (const [i, day] of r!.days.entries()) {
    await db.transaction([...recomputeDayStatements(day, started), ...(i === r!.days.length - 1 ? [record] : [])]);
    progress?.(`rolled up ${day}`);
  }
  if (!r!.days.length) await db.query(record.text, record.params);
  progress?.(`rollups: ${r!.days.length} day(s) recounted, as of ${started}`);
  return { days: r!.days, as_of: started };
}
