import { decodeVersioned, encodeVersioned, readThroughVersioned } from "../cache/versioned.js";
import { UnavailableError } from "../errors.js";
import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { Logger } from "../log.js";
import { OPEN_BIN, REVIEW_TIME_BINS_SECONDS } from "./facts.js";
import { funnelSource, round, shapeFunnel } from "./funnel.js";
import { readFacts, readUserFacts, type FactRow, type Freshness } from "./query.js";
import { rangeDays, type ReportRange } from "./range.js";

/** Reports are cached this long, like the dashboard (reference: 5 minutes). */
export const REPORT_CACHE_TTL_SECONDS = 300;
/** The per-user report lists this many users, the busiest first. */
export const USER_REPORT_LIMIT = 100;

export interface ReportDeps {
  db: Db;
  redis: RedisStore;
  log?: Logger;
}

const avg = (sum: number, n: number) => (n ? round(sum / n, 2) : null);
const rate = (part: number, whole: number) => (whole ? round(part / whole, 4) : null);
const money = (v: number) => round(v, 6);
const of = (rows: FactRow[], kind: string) => rows.filter((r) => r.kind === kind);
const total = (rows: FactRow[]) => of(rows, "all")[0];

/** Percentile `p` (0..1) estimated from the review-time histogram: linear within the bin it falls in. */
export function histogramPercentile(bins: { le: number | null; count: number }[], p: number): number | null {
  const n = bins.reduce((s, b) => s + b.count, 0);
  if (!n) return null;
  const target = p * n;
  let seen = 0;
  let lower = 0;
  for (const b of bins) {
    if (b.count && seen + b.count >= target) return b.le === null ? lower : round(lower + ((target - seen) / b.count) * (b.le - lower), 1);
    seen += b.count;
    if (b.le !== null) lower = b.le;
  }
  return lower;
}

const REPORTS = {
  async volume(db: Db, r: ReportRange) {
    const { rows, freshness } = await readFacts(db, r, [["all", "hour"]], { measures: ["interactions"] });
    const byDay = new Map(rangeDays(r).map((d) => [d, 0]));
    for (const h of rows) byDay.set(h.bucket.slice(0, 10), (byDay.get(h.bucket.slice(0, 10)) ?? 0) + h.interactions);
    return {
      freshness,
      total: rows.reduce((s, h) => s + h.interactions, 0),
      by_day: [...byDay].map(([day, interactions]) => ({ day, interactions })),
      by_hour: rows
        .sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0))
        .map((h) => ({ hour: h.bucket, interactions: h.interactions })),
    };
  },
  async reviews(db: Db, r: ReportRange) {
    const { rows, freshness } = await readFacts(
      db,
      r,
      [
        ["all", "none"],
        ["review_time", "none"],
      ],
      { measures: ["approved", "rejected", "edited", "review_time_sum", "review_time_n"] },
    );
    const t = total(rows);
    const n = t?.interactions ?? 0,
      approved = t?.approved ?? 0,
      rejected = t?.rejected ?? 0;
    const bins = [...REVIEW_TIME_BINS_SECONDS, null].map((le) => ({
      le,
      count: of(rows, "review_time").find((b) => b.key === (le === null ? OPEN_BIN : String(le)))?.interactions ?? 0,
    }));
    return {
      freshness,
      outcomes: {
        interactions: n,
        approved,
        rejected,
        not_reviewed: n - approved - rejected,
        edited: t?.edited ?? 0,
        approval_rate: rate(approved, approved + rejected),
        edit_rate: rate(t?.edited ?? 0, approved),
      },
      review_time: {
        reviewed: t?.review_time_n ?? 0,
        avg_seconds: avg(t?.review_time_sum ?? 0, t?.review_time_n ?? 0),
        p50_seconds: histogramPercentile(bins, 0.5),
        p90_seconds: histogramPercentile(bins, 0.9),
        p99_seconds: histogramPercentile(bins, 0.99),
        histogram: bins,
      },
    };
  },
  async quality(db: Db, r: ReportRange) {
    const { rows, freshness } = await readFacts(
      db,
      r,
      [
        ["quality", "none"],
        ["all", "none"],
      ],
      { measures: ["quality_sum", "quality_n"] },
    );
    const t = total(rows);
    return {
      freshness,
      rated: t?.quality_n ?? 0,
      average: avg(t?.quality_sum ?? 0, t?.quality_n ?? 0),
      histogram: [1, 2, 3, 4, 5].map((score) => ({
        score,
        count: of(rows, "quality").find((q) => q.key === String(score))?.interactions ?? 0,
      })),
    };
  },
  async cta(db: Db, r: ReportRange) {
    const { rows, freshness } = await readFacts(
      db,
      r,
      [
        ["cta", "none"],
        ["response", "none"],
      ],
      { measures: ["interactions"] },
    );
    const list = (kind: string) =>
      of(rows, kind)
        .map((c) => ({ type: c.key, count: c.interactions }))
        .sort((a, b) => b.count - a.count || a.type.localeCompare(b.type));
    return { freshness, cta_types: list("cta"), response_types: list("response") };
  },
  async funnel(db: Db, r: ReportRange) {
    return {
      freshness: { rollups_as_of: null, live_from: null, generated_at: new Date().toISOString() } as Freshness,
      ...shapeFunnel(await funnelSource(db, r)),
    };
  },
  async cost(db: Db, r: ReportRange) {
    // The quarantined messages of the range ride in the same statement (one round trip).
    const { rows, freshness, extra } = await readFacts(
      db,
      r,
      [
        ["all", "day"],
        ["model", "none"],
      ],
      {
        measures: ["cost_usd", "llm1_cost_usd", "llm2_cost_usd"],
        extra: (t0, t1) => `SELECT json_build_object('messages', count(*)::int,
          'saved_usd', (SELECT coalesce(sum(cost_saved_usd), 0)::float8 FROM user_protocol_status)) FROM quarantine_messages
          WHERE received_at >= ${t0} AND received_at < ${t1}`,
      },
    );
    const silenced = extra as { messages: number; saved_usd: number };
    const days = new Map(of(rows, "all").map((d) => [d.bucket, d]));
    const cost = of(rows, "all").reduce((s, d) => s + d.cost_usd, 0);
    const n = of(rows, "all").reduce((s, d) => s + d.interactions, 0);
    return {
      freshness,
      total_usd: money(cost),
      interactions: n,
      by_day: rangeDays(r).map((day) => ({
        day,
        cost_usd: money(days.get(day)?.cost_usd ?? 0),
        llm1_usd: money(days.get(day)?.llm1_cost_usd ?? 0),
        llm2_usd: money(days.get(day)?.llm2_cost_usd ?? 0),
        interactions: days.get(day)?.interactions ?? 0,
      })),
      by_model: of(rows, "model")
        .map((m) => {
          const [llm1, llm2] = JSON.parse(m.key) as [string | null, string | null];
          return { llm1_model: llm1, llm2_model: llm2, interactions: m.interactions, cost_usd: money(m.cost_usd) };
        })
        .sort((a, b) => b.cost_usd - a.cost_usd || b.interactions - a.interactions),
      silenced: {
        messages_quarantined: silenced!.messages,
        estimated_saved_usd: money(n ? (silenced!.messages * cost) / n : 0),
        recorded_saved_usd_all_time: money(silenced!.saved_usd),
      },
    };
  },
  async "edit-tags"(db: Db, r: ReportRange) {
    const { rows, freshness } = await readFacts(db, r, [["tag", "none"]], {
      measures: ["quality_sum", "quality_n", "review_time_sum", "review_time_n"],
    });
    return {
      freshness,
      tags: rows
        .map((t) => ({
          tag: t.key,
          count: t.interactions,
          avg_quality: avg(t.quality_sum, t.quality_n),
          avg_review_time_seconds: avg(t.review_time_sum, t.review_time_n),
        }))
        .sort((a, b) => b.count - a.count || a.tag.localeCompare(b.tag)),
    };
  },
  async users(db: Db, r: ReportRange) {
    const { rows, freshness } = await readUserFacts(db, r, USER_REPORT_LIMIT);
    return {
      freshness,
      users: rows.map((u) => ({
        user_id: u.user_id,
        interactions: u.interactions,
        approved: u.approved,
        rejected: u.rejected,
        edited: u.edited,
        avg_quality: avg(u.quality_sum, u.quality_n),
        cost_usd: money(u.cost_usd),
        last_interaction_at: new Date(u.last_at).toISOString(),
      })),
    };
  },
  async reviewers(db: Db, r: ReportRange) {
    const { rows, freshness } = await readFacts(db, r, [["reviewer", "none"]], {
      measures: ["approved", "rejected", "review_time_sum", "review_time_n"],
    });
    return {
      freshness,
      reviewers: rows
        .map((v) => ({
          reviewer_id: v.key,
          reviewed: v.approved + v.rejected,
          approved: v.approved,
          rejected: v.rejected,
          approval_rate: rate(v.approved, v.approved + v.rejected),
          avg_review_time_seconds: avg(v.review_time_sum, v.review_time_n),
        }))
        .sort((a, b) => b.reviewed - a.reviewed || a.reviewer_id.localeCompare(b.reviewer_id)),
    };
  },
} satisfies Record<string, (db: Db, r: ReportRange) => Promise<{ freshness: Freshness }>>;

export type ReportName = keyof typeof REPORTS;
export const REPORT_NAMES = Object.keys(REPORTS) as ReportName[];
export type Report<N extends ReportName> = Awaited<ReturnType<(typeof REPORTS)[N]>>;

/** A report computed now, without the cache. */
export function computeReport<N extends ReportName>(db: Db, name: N, r: ReportRange): Promise<Report<N>> {
  return REPORTS[name](db, r) as Promise<Report<N>>;
}

/**
 * A report, cached 5 minutes per name and range (Redis; when Redis is down, computed every time).
 * The range's parts are validated, and encoded into the key as base64url JSON: no two ranges share one.
 */
export function report<N extends ReportName>(deps: ReportDeps, name: N, r: ReportRange): Promise<Report<N>> {
  const key = reportKey(deps, name, r);
  return readThroughVersioned(
    deps.redis,
    key,
    REPORT_CACHE_TTL_SECONDS,
    async () => ({ value: await computeReport(deps.db, name, r), version: 0 }),
    deps.log,
  );
}

const reportKey = (deps: ReportDeps, name: ReportName, r: ReportRange) =>
  deps.redis.keys.analyticsReport(name, Buffer.from(JSON.stringify([r.from, r.to, r.tz])).toString("base64url"));

/**
 * Several reports of one range, cached like `report`, in one Redis round trip (MGET); the misses
 * are computed (in parallel) and written back in one pipeline. When Redis is down, every report is
 * computed; a failed write-back is logged and the keys marked stale (the TTL bounds the rest).
 */
export async function reports<N extends ReportName>(
  deps: ReportDeps,
  names: readonly N[],
  r: ReportRange,
): Promise<{ [K in N]: Report<K> }> {
  const keys = names.map((n) => reportKey(deps, n, r));
  let cached: (string | null)[] = keys.map(() => null);
  let redisUp = true;
  try {
    cached = await deps.redis.run("cache.mget", (c) => c.mget<(string | null)[]>(...keys));
  } catch (e) {
    if (!(e instanceof UnavailableError)) throw e;
    redisUp = false;
  }
  const values = await Promise.all(
    names.map(async (name, i) => {
      const hit = cached[i];
      if (hit) {
        try {
          return { value: decodeVersioned<Report<N>>(hit), fresh: false };
        } catch {
          /* recomputed below */
        }
      }
      return { value: await computeReport(deps.db, name, r), fresh: true };
    }),
  );
  const misses = values.flatMap((v, i) => (v.fresh ? [i] : []));
  if (redisUp && misses.length) {
    try {
      await deps.redis.run("cache.set", (c) => {
        const p = c.pipeline();
        for (const i of misses)
          p.set(keys[i]!, encodeVersioned({ value: values[i]!.value as object, version: 0 }), { ex: REPORT_CACHE_TTL_SECONDS });
        return p.exec();
      });
    } catch (e) {
      for (const i of misses) deps.redis.markStale(keys[i]!);
      deps.log?.warn("report cache refresh failed", { err: e as Error });
    }
  }
  return Object.fromEntries(names.map((n, i) => [n, values[i]!.value])) as { [K in N]: Report<K> };
}
