import type { Db } from "../db/db.js";
import { MEASURES, hourlyFactsSql, userFactsSql } from "./facts.js";
import { addDays, offsetMinutes, rangeDays, type ReportRange } from "./range.js";

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

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const iso = (t: number) => new Date(t).toISOString();
const utcDate = (t: number) => iso(t).slice(0, 10);

/** The instant local midnight starts `day` in `tz` (the zone's offset there, whole hours: range.ts). */
export function localMidnight(day: string, tz: string): number {
  const wall = Date.parse(`${day}T00:00:00Z`);
  const first = wall - offsetMinutes(tz, new Date(wall)) * 60_000;
  return wall - offsetMinutes(tz, new Date(first)) * 60_000;
}

/**
 * Local midnights of consecutive `days` (and of the day after the last) in `tz`. The zone's offset
 * is looked up every SAMPLE_DAYS days and per day only between two samples that differ: a 90-day
 * range asks Intl a dozen times rather than twice per day. Offsets in a zone change at most once
 * within SAMPLE_DAYS days (the shortest interval of any zone's rules, Ramadan in Casablanca, is
 * about 30).
 */
const SAMPLE_DAYS = 16;
export function localMidnights(days: string[], tz: string): number[] {
  const all = [...days, addDays(days.at(-1)!, 1)];
  if (tz === "UTC") return all.map((d) => Date.parse(`${d}T00:00:00Z`));
  const out: number[] = new Array(all.length);
  const at = (i: number) => (out[i] ??= localMidnight(all[i]!, tz));
  const wall = (i: number) => Date.parse(`${all[i]}T00:00:00Z`);
  for (let a = 0; a < all.length - 1; a += SAMPLE_DAYS) {
    const b = Math.min(a + SAMPLE_DAYS, all.length - 1);
    const offset = wall(a) - at(a);
    if (wall(b) - at(b) === offset) for (let i = a + 1; i < b; i++) out[i] ??= wall(i) - offset;
    else for (let i = a + 1; i < b; i++) at(i);
  }
  return out;
}

/**
 * Where rollups end and live rows begin: the start of today (UTC). Days before it are read from
 * the rollups as of their last run (freshness.rollups_as_of says when); today's partial day is
 * counted from its own rows (a small range of the created_at index).
 */
export const liveCut = (now = Date.now()) => Math.floor(now / DAY_MS) * DAY_MS;

/** Rollup reads that sum to a series of local days: whole UTC days, plus or minus the hours at their edges. */
export interface Pieces {
  days: string[];
  dayBuckets: string[];
  hours: string[];
  hourBuckets: string[];
  signs: number[];
}

/**
 * Splits the intervals [bounds[i], bounds[i+1]) (instants on whole hours, labelled labels[i]) into
 * whole UTC days and signed hours: each bound is moved to its nearest UTC midnight, and the hours
 * between a bound and that midnight are added to one side and taken from the other. Every rollup
 * measure is a sum, so a local day reads one daily row and at most 12 hourly rows per key.
 */
export function decompose(bounds: number[], labels: string[]): Pieces {
  const out: Pieces = { days: [], dayBuckets: [], hours: [], hourBuckets: [], signs: [] };
  const mid = bounds.map((b) => Math.round(b / DAY_MS) * DAY_MS);
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    for (let d = mid[i]!; d < mid[i + 1]!; d += DAY_MS) {
      out.days.push(utcDate(d));
      out.dayBuckets.push(labels[i]!);
    }
  }
  for (let j = 0; j <= n; j++) {
    const b = bounds[j]!;
    const m = mid[j]!;
    const sign = b < m ? 1 : -1;
    for (let h = Math.min(b, m); h < Math.max(b, m); h += HOUR_MS) {
      for (const [i, s] of [
        [j, sign],
        [j - 1, -sign],
      ] as const) {
        if (i < 0 || i >= n) continue;
        out.hours.push(iso(h));
        out.hourBuckets.push(labels[i]!);
        out.signs.push(s);
      }
    }
  }
  return out;
}

/** The rollup measures, in table order (one list: facts.ts). */
const MEASURE_COLUMNS = MEASURES;
const sums = (names: string[]) => names.map((c) => `sum(${c})::${castOf(c)} AS ${c}`).join(", ");
type Measure = (typeof MEASURE_COLUMNS)[number];
const castOf = (c: string) => (c.includes("cost") ? "float8" : "int8");

/** A parameter list: `p(value)` appends a value and answers its placeholder. */
function params() {
  const values: unknown[] = [];
  const p = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  return { values, p };
}

export interface ReadOptions {
  /** The measures the report uses (the others read as 0): fewer columns summed and sent. @default all */
  measures?: readonly Measure[];
  /** One more figure in the same statement, given the range's bounds as placeholders (timestamptz). */
  extra?: (t0: string, t1: string) => string;
}

/**
 * One round trip: the facts of the range for each (kind, grain) asked (each kind once), summed per
 * key and bucket (local day or hour in the range's zone). Before the live cut they come from the
 * rollups: for a day or the whole range, daily rows plus or minus the edge hours (decompose); for
 * the hour grain, the hourly rows themselves (one per hour and key: nothing to group). Today: its
 * hours before the hour of the last rollup run from the hourly rollups, the rest counted live.
 */
export async function readFacts(
  db: Db,
  r: ReportRange,
  specs: [kind: string, grain: Grain][],
  opts: ReadOptions = {},
): Promise<{ rows: FactRow[]; freshness: Freshness; extra?: unknown }> {
  // interactions always: a key whose signed sums cancel out (no row in the range) is dropped by it.
  const measures = [...new Set<Measure>(["interactions", ...(opts.measures ?? MEASURE_COLUMNS)])];
  const cols = (alias: string) => measures.map((c) => `${alias}.${c}`).join(", ");
  const days = rangeDays(r);
  const bounds = localMidnights(days, r.tz);
  const t0 = bounds[0]!;
  const t1 = bounds[bounds.length - 1]!;
  const cut = liveCut();
  const rollupEnd = Math.min(t1, cut);
  const today = t1 > cut;
  const kinds = (g: Grain) => specs.filter((s) => s[1] === g).map((s) => s[0]);
  const { values, p } = params();
  // Placeholders added on first use (Postgres refuses a parameter it cannot type).
  const once = (v: unknown) => {
    let ph: string | undefined;
    return () => (ph ??= p(v));
  };
  const T0 = once(iso(t0));
  const T1 = once(iso(t1));
  const TZ = once(r.tz);
  const KINDS = once(specs.map((s) => s[0]));
  const GRAINS = once(specs.map((s) => s[1]));
  const grouped: string[] = [];
  const hourly: string[] = [];
  if (t0 < rollupEnd) {
    if (kinds("none").length) {
      const K = p(kinds("none"));
      const pieces = decompose([t0, rollupEnd], [""]);
      if (pieces.days.length)
        grouped.push(`SELECT d.kind, d.key, '' AS bucket, 1 AS sign, ${cols("d")} FROM analytics_daily d
  WHERE d.kind = ANY(${K}::text[]) AND d.day >= ${p(pieces.days[0])}::date AND d.day <= ${p(pieces.days.at(-1))}::date`);
      if (pieces.hours.length)
        grouped.push(`SELECT h.kind, h.key, '', q.sign, ${cols("h")} FROM unnest(${p(pieces.hours)}::timestamptz[], ${p(pieces.signs)}::int[]) q(hour, sign)
  JOIN analytics_hourly h ON h.kind = ANY(${K}::text[]) AND h.hour = q.hour`);
    }
    if (kinds("day").length) {
      const K = p(kinds("day"));
      const edges = bounds.filter((b) => b < rollupEnd).concat(rollupEnd);
      const pieces = decompose(edges, days.slice(0, edges.length - 1));
      if (pieces.days.length)
        grouped.push(`SELECT d.kind, d.key, q.bucket, 1, ${cols("d")} FROM unnest(${p(pieces.days)}::date[], ${p(pieces.dayBuckets)}::text[]) q(day, bucket)
  JOIN analytics_daily d ON d.kind = ANY(${K}::text[]) AND d.day = q.day`);
      if (pieces.hours.length)
        grouped.push(`SELECT h.kind, h.key, q.bucket, q.sign, ${cols("h")}
  FROM unnest(${p(pieces.hours)}::timestamptz[], ${p(pieces.hourBuckets)}::text[], ${p(pieces.signs)}::int[]) q(hour, bucket, sign)
  JOIN analytics_hourly h ON h.kind = ANY(${K}::text[]) AND h.hour = q.hour`);
    }
  }
  // The hour grain: the hourly rows themselves, up to the cut (today: up to the live hour).
  if (kinds("hour").length && t0 < (today ? t1 : rollupEnd))
    hourly.push(`SELECT h.kind, h.key, h.hour, ${cols("h")} FROM analytics_hourly h
  WHERE h.kind = ANY(${p(kinds("hour"))}::text[]) AND h.hour >= ${T0()}::timestamptz AND h.hour < ${today ? "(SELECT hc FROM c)" : `${p(iso(rollupEnd))}::timestamptz`}`);
  let cte = "";
  if (today) {
    // Today: its hours before the hour of the last rollup run from the hourly rollups, the rest
    // live (a range of the created_at index: at most the job's interval and an hour of rows).
    const TP0 = p(iso(Math.max(t0, cut)));
    cte = `c AS (SELECT greatest(${TP0}::timestamptz, least(${T1()}::timestamptz, date_trunc('hour', refreshed_at, 'UTC'))) AS hc
  FROM analytics_rollup_state),
l AS (${hourlyFactsSql("(SELECT hc FROM c)", `${T1()}::timestamptz`, `${KINDS()}::text[]`)}),\n`;
    if (kinds("none").length || kinds("day").length) {
      const bucket = (a: string) => `CASE WHEN s.grain = 'day' THEN to_char(${a}.hour AT TIME ZONE ${TZ()}, 'YYYY-MM-DD') ELSE '' END`;
      grouped.push(`SELECT h.kind, h.key, ${bucket("h")}, 1, ${cols("h")} FROM unnest(${KINDS()}::text[], ${GRAINS()}::text[]) s(kind, grain)
  JOIN analytics_hourly h ON h.kind = s.kind AND h.hour >= ${TP0}::timestamptz AND h.hour < (SELECT hc FROM c) WHERE s.grain <> 'hour'`);
      grouped.push(`SELECT l.kind, l.key, ${bucket("l")}, 1, ${cols("l")}
  FROM l JOIN unnest(${KINDS()}::text[], ${GRAINS()}::text[]) s(kind, grain) USING (kind) WHERE s.grain <> 'hour'`);
    }
    if (kinds("hour").length)
      hourly.push(`SELECT l.kind, l.key, l.hour, ${cols("l")} FROM l WHERE l.kind = ANY(${p(kinds("hour"))}::text[])`);
  }
  const none = (sign: boolean) =>
    `SELECT ''::text, ''::text, ${sign ? "''::text, 0," : "now(),"} ${measures.map(() => "0").join(", ")} WHERE false`;
  // The hour grain's series: per key, hours since the range's first local midnight and the
  // measures, as comma-separated text (a 90-day series is 2,160 points: a third of the bytes of one object per
  // point, and no to_char per row).
  const base = Date.parse(`${r.from}T00:00:00Z`);
  const dayLabels = new Map<number, string>();
  const hourLabel = (h: number) => {
    const d = Math.floor(h / 24);
    let day = dayLabels.get(d);
    if (day === undefined) dayLabels.set(d, (day = utcDate(base + d * DAY_MS)));
    return `${day}T${String(h - d * 24).padStart(2, "0")}:00`;
  };
  const [row] = await db.query<{
    rows: unknown[][];
    hours: unknown[][];
    rollups_as_of: unknown;
    live_from: unknown;
    generated_at: unknown;
    extra?: unknown;
  }>(
    `
WITH ${cte}f(kind, key, bucket, sign, ${measures.join(", ")}) AS (
  ${grouped.length ? grouped.join("\n  UNION ALL\n  ") : none(true)}
), fh(kind, key, hour, ${measures.join(", ")}) AS (
  ${hourly.length ? hourly.join("\n  UNION ALL\n  ") : none(false)}
)
SELECT (SELECT CASE WHEN refreshed_at = '-infinity' THEN NULL ELSE refreshed_at END FROM analytics_rollup_state) AS rollups_as_of,
  now() AS generated_at, ${today ? "(SELECT hc FROM c)" : "NULL::timestamptz"} AS live_from,${opts.extra ? ` (${opts.extra(`${T0()}::timestamptz`, `${T1()}::timestamptz`)}) AS extra,` : ""}
  coalesce((SELECT json_agg(json_build_array(kind, key, bucket, ${measures.join(", ")})) FROM (
    SELECT kind, key, bucket, ${measures.map((c) => `sum(sign * ${c})::${castOf(c)}`).join(", ")} FROM f GROUP BY kind, key, bucket
  ) g(kind, key, bucket, ${measures.join(", ")}) WHERE interactions <> 0), '[]') AS rows,
  coalesce((SELECT json_agg(json_build_array(kind, key, array_to_string(hs, ','), ${measures.map((c) => `array_to_string(${c}, ',')`).join(", ")})) FROM (
    SELECT kind, key, array_agg((extract(epoch FROM hour AT TIME ZONE ${TZ()})::int8 - ${p(Date.parse(`${r.from}T00:00:00Z`) / 1000)}::int8) / 3600 ORDER BY hour) AS hs,
      ${measures.map((c) => `array_agg(${c}::${castOf(c)} ORDER BY hour) AS ${c}`).join(", ")}
    FROM fh GROUP BY kind, key) x), '[]') AS hours`,
    values,
  );
  // One object shape for every row (fast property access); the measures not read stay 0.
  const index = MEASURE_COLUMNS.map((c) => measures.indexOf(c));
  const num = (m: unknown[], i: number) => (index[i]! < 0 ? 0 : Number(m[index[i]!]));
  const fact = (kind: unknown, key: unknown, bucket: string, m: unknown[]): FactRow => ({
    kind: String(kind),
    key: String(key),
    bucket,
    interactions: num(m, 0),
    approved: num(m, 1),
    rejected: num(m, 2),
    edited: num(m, 3),
    review_time_sum: num(m, 4),
    review_time_n: num(m, 5),
    quality_sum: num(m, 6),
    quality_n: num(m, 7),
    cost_usd: num(m, 8),
    llm1_cost_usd: num(m, 9),
    llm2_cost_usd: num(m, 10),
  });
  const rows = [
    ...row!.rows.map(([kind, key, bucket, ...m]) => fact(kind, key, String(bucket), m)),
    ...row!.hours.flatMap(([kind, key, hs, ...m]) => {
      const series = m.map((xs) => String(xs).split(","));
      const out: FactRow[] = [];
      String(hs)
        .split(",")
        .forEach((h, i) => {
          const f = fact(
            kind,
            key,
            hourLabel(Number(h)),
            series.map((xs) => xs[i]),
          );
          // The hour a clock turned back repeats its local label (two UTC hours): one bucket.
          const last = out.at(-1);
          if (last?.bucket === f.bucket) for (const c of MEASURE_COLUMNS) last[c] += f[c];
          else out.push(f);
        });
      return out;
    }),
  ];
  return {
    rows,
    freshness: {
      rollups_as_of: isoOf(row!.rollups_as_of),
      live_from: isoOf(row!.live_from),
      generated_at: isoOf(row!.generated_at)!,
    },
    extra: row!.extra,
  };
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

/** Spans of the per-user rollup, largest first (migration 0090; rollup.ts keeps them). */
const SPANS = [64, 32, 16, 8, 4, 2, 1];

/** Aligned spans covering the UTC days [d0, d1) (day numbers since 1970-01-01): at most two per span. */
export function spanCover(d0: number, d1: number): [span: number, day: number][] {
  const out: [number, number][] = [];
  for (let d = d0; d < d1; ) {
    const span = SPANS.find((s) => d % s === 0 && d + s <= d1)!;
    out.push([span, d]);
    d += span;
  }
  return out;
}

/**
 * Per-user figures over the UTC days the range touches (the per-user rollup is daily: a zone's
 * day edges are widened to whole UTC days), the `limit` busiest users first. Past days read a few
 * span rows per user (spanCover); today is counted live.
 */
export async function readUserFacts(db: Db, r: ReportRange, limit: number): Promise<{ rows: UserRow[]; freshness: Freshness }> {
  const d0 = Math.floor(localMidnight(r.from, r.tz) / DAY_MS);
  const d1 = Math.ceil(localMidnight(addDays(r.to, 1), r.tz) / DAY_MS);
  const cut = liveCut() / DAY_MS;
  const live = d1 > cut;
  // Today (when in range): its per-user rows count what was created before the last rollup run;
  // what was created since is counted live.
  const cover = [...spanCover(d0, Math.min(d1, cut)), ...(live && d0 <= cut ? [[1, cut] as [number, number]] : [])];
  const { values, p } = params();
  const USER_COLS = "user_id, interactions, approved, rejected, edited, quality_sum, quality_n, cost_usd, last_at";
  const blocks = cover.length
    ? `unnest(${p(cover.map((c) => c[0]))}::int2[], ${p(cover.map((c) => utcDate(c[1] * DAY_MS)))}::date[]) q(span, day)`
    : "";
  // First the ranking, from the interactions alone (an index-only scan of analytics_user_daily_rank),
  // then every figure of the `limit` users ranked (index probes by span, day and user).
  const rank = [
    ...(blocks ? [`SELECT d.user_id, d.interactions FROM ${blocks} JOIN analytics_user_daily d ON d.span = q.span AND d.day = q.day`] : []),
    ...(live ? ["SELECT user_id, interactions FROM l"] : []),
  ];
  const figures = [
    ...(blocks
      ? [
          `SELECT ${USER_COLS.replace(/(\w+)/g, "d.$1")} FROM ${blocks} CROSS JOIN top t
  JOIN analytics_user_daily d ON d.span = q.span AND d.day = q.day AND d.user_id = t.user_id`,
        ]
      : []),
    ...(live ? [`SELECT ${USER_COLS} FROM l WHERE user_id IN (SELECT user_id FROM top)`] : []),
  ];
  const empty = "SELECT ''::text, 0, 0, 0, 0, 0::int8, 0, 0::numeric, now() WHERE false";
  const liveCte = live
    ? `c AS (SELECT greatest(${p(iso(Math.max(d0, cut) * DAY_MS))}::timestamptz, refreshed_at) AS lf FROM analytics_rollup_state),
l AS (${userFactsSql("(SELECT lf FROM c)", `${p(iso(d1 * DAY_MS))}::timestamptz`)}),\n`
    : "";
  const [row] = await db.query<{ rows: UserRow[]; rollups_as_of: unknown; live_from: unknown; generated_at: unknown }>(
    `
WITH ${liveCte}top AS (
  SELECT user_id FROM (${rank.length ? rank.join(" UNION ALL ") : "SELECT ''::text, 0 WHERE false"}) x(user_id, n)
  GROUP BY user_id ORDER BY sum(n) DESC, user_id LIMIT ${p(limit)}
), f(${USER_COLS}) AS (
  ${figures.length ? figures.join("\n  UNION ALL\n  ") : empty}
)
SELECT (SELECT CASE WHEN refreshed_at = '-infinity' THEN NULL ELSE refreshed_at END FROM analytics_rollup_state) AS rollups_as_of,
  now() AS generated_at, ${live ? "(SELECT lf FROM c)" : "NULL::timestamptz"} AS live_from, coalesce((SELECT json_agg(g) FROM (
  SELECT user_id, ${sums(["interactions", "approved", "rejected", "edited", "quality_sum", "quality_n", "cost_usd"])}, max(last_at) AS last_at
  FROM f GROUP BY user_id ORDER BY sum(interactions) DESC, user_id) g), '[]') AS rows`,
    values,
  );
  return {
    rows: row!.rows,
    freshness: {
      rollups_as_of: isoOf(row!.rollups_as_of),
      live_from: isoOf(row!.live_from),
      generated_at: isoOf(row!.generated_at)!,
    },
  };
}

const isoOf = (v: unknown) =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
