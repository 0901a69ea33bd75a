import { beforeAll, describe, expect, it } from "vitest";
import { PoolDb } from "@hitl/core/postgres";
import { archiveOldPartitions } from "@hitl/core/backup";
import { computeReport, REPORT_NAMES, REVIEW_TIME_BINS_SECONDS, type Db, type ReportRange } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";
import { approveBody, interactionBody } from "./support/fixtures.js";
import { seedInteractions } from "./support/analytics-seed.js";
import { countRoundTrips } from "./support/round-trips.js";

/** A raw row as the independent recount reads it (straight from the table, no rollup code). */
interface Raw {
  user_id: string;
  created_at: Date;
  review_status: string;
  reviewer_id: string | null;
  quality_score: number | null;
  review_time_seconds: number | null;
  total_cost_usd: string;
  llm1_cost_usd: string | null;
  llm2_cost_usd: string | null;
  llm1_model: string | null;
  llm2_model: string | null;
  edit_tags: string[];
  cta_type: string | null;
  cta_response_type: string | null;
  edited: boolean;
}

const localDay = (tz: string) => {
  const f = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
  return (d: Date) => f.format(d);
};
const localHour = (tz: string) => {
  const f = new Intl.DateTimeFormat("en-CA", {
    timeZone: tz,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    hourCycle: "h23",
  });
  return (d: Date) => {
    const p = Object.fromEntries(f.formatToParts(d).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day}T${p.hour}:00`;
  };
};
const utcDay = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
const near = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-6);
const count = <T>(xs: T[], key: (x: T) => string | null) => {
  const m = new Map<string, number>();
  for (const x of xs) {
    const k = key(x);
    if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
};
const avg = (xs: number[]) => (xs.length ? Math.round((xs.reduce((s, v) => s + v, 0) / xs.length) * 100) / 100 : null);

describe("analytics: reports from rollups, checked against a recount of raw rows", () => {
  let t: TestContext;
  let raw: Raw[];

  beforeAll(async () => {
    const b = await createTestBucket();
    t = await createTestContext({ S3_BUCKET: b.bucket });
    await seedInteractions(t.databaseUrl, { n: 2500, days: 150, users: 40 });
    // Two rows in the local hour Madrid's clocks repeat (the last fall-back of the range, if any):
    // two UTC hours, one local label, one bucket of the hourly series.
    const madridHour = localHour("Europe/Madrid");
    for (let h = Math.floor(Date.now() / 3_600_000) - 24; h > Math.floor(Date.now() / 3_600_000) - 140 * 24; h--) {
      if (madridHour(new Date(h * 3_600_000)) !== madridHour(new Date((h - 1) * 3_600_000))) continue;
      await withPg(t.databaseUrl, (c) =>
        c.query(
          `UPDATE interactions SET created_at = x.at, updated_at = now() FROM (SELECT id, (ARRAY[$1, $2]::timestamptz[])[row_number() OVER (ORDER BY id)] AS at
          FROM interactions ORDER BY id LIMIT 2) x WHERE interactions.id = x.id`,
          [new Date((h - 1) * 3_600_000 + 1_800_000).toISOString(), new Date(h * 3_600_000 + 1_800_000).toISOString()],
        ),
      );
      break;
    }
    // Today's rows through the API: one approved with tags, one left pending.
    for (const [i, user] of ["u1", "u2"].entries()) {
      const res = await t.call("POST", "/v1/interactions", {
        key: t.keys.agent,
        body: interactionBody({ user_id: user, llm1_cost_usd: 0.25 }),
      });
      const { id } = (await res.json()) as { id: string };
      if (i === 0)
        expect(
          (
            await t.call("POST", `/v1/reviews/${id}/approve`, {
              key: t.keys.reviewer,
              body: approveBody({ edit_tags: ["TONE_CASUAL", "CTA_SOFT"], quality_score: 2 }),
            })
          ).status,
        ).toBe(200);
    }
    await withPg(t.databaseUrl, (c) =>
      c.query(`INSERT INTO user_current_status (user_id, customer_status, created_at) VALUES
      ('f1', 'PROSPECT', now() - interval '3 days'), ('f2', 'LEAD_QUALIFIED', now() - interval '3 days'), ('f3', 'CUSTOMER', now() - interval '2 days'),
      ('f4', 'CHURNED', now() - interval '2 days'), ('f5', 'LEAD_EXHAUSTED', now() - interval '1 day'), ('f6', 'CUSTOMER', now() - interval '200 days')`),
    );
    expect((await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin })).status).toBe(200);
    raw = await withPg(
      t.databaseUrl,
      async (c) =>
        (
          await c.query<Raw>(`SELECT user_id, created_at, review_status, reviewer_id, quality_score, review_time_seconds,
      total_cost_usd::text, llm1_cost_usd::text, llm2_cost_usd::text, llm1_model, llm2_model, edit_tags, cta_data->>'type' AS cta_type, cta_response_type,
      (review_status = 'approved' AND final_bubbles IS DISTINCT FROM llm2_bubbles) AS edited FROM interactions`)
        ).rows,
    );
    // Archival moves every month older than 90 days out of Postgres; the rollups keep them.
    const reader = new PoolDb(t.databaseUrl);
    try {
      const out = await archiveOldPartitions({ db: t.services.db, reader, hasher: t.services.hasher, store: b.store });
      expect(out.archived.length).toBeGreaterThanOrEqual(1);
    } finally {
      await reader.end();
    }
    const [left] = await t.services.db.query<{ n: number }>("SELECT count(*)::int AS n FROM interactions");
    expect(left!.n).toBeLessThan(raw.length); // some months really are gone from Postgres
  }, 120_000);

  const get = async (name: string, r: Partial<ReportRange>) => {
    const qs = new URLSearchParams(r as Record<string, string>);
    const res = await t.call("GET", `/v1/analytics/${name}?${qs}`, { key: t.keys.reviewer });
    expect(res.status).toBe(200);
    return (await res.json()) as any;
  };

  for (const tz of ["UTC", "Europe/Madrid", "America/New_York"]) {
    it(`every report over 150 days in ${tz} equals the recount from raw rows, archived months included`, async () => {
      const day = localDay(tz);
      // 150 calendar days before the zone's today (from the UTC day, the range spans 150 days in a zone
      // behind UTC between its midnight and UTC's).
      const today = day(new Date());
      const from = new Date(Date.parse(`${today}T00:00:00Z`) - 150 * 86_400_000).toISOString().slice(0, 10);
      const range = { from, to: today, tz };
      const rows = raw.filter((r) => day(r.created_at) >= range.from && day(r.created_at) <= range.to);
      expect(rows.length).toBeGreaterThan(2000);

      const volume = await get("volume", range);
      expect(volume.total).toBe(rows.length);
      const byDay = count(rows, (r) => day(r.created_at));
      for (const d of volume.by_day) expect(d.interactions, d.day).toBe(byDay.get(d.day) ?? 0);
      expect(volume.by_day.length).toBe(151);
      const byHour = count(rows, (r) => localHour(tz)(r.created_at));
      expect(Object.fromEntries(volume.by_hour.map((h: any) => [h.hour, h.interactions]))).toEqual(Object.fromEntries(byHour));
      expect(volume.freshness.rollups_as_of).not.toBeNull();
      expect(volume.freshness.live_from).not.toBeNull(); // today is counted live

      const reviews = await get("reviews", range);
      const reviewed = rows.filter((r) => r.review_status === "approved" || r.review_status === "rejected");
      expect(reviews.outcomes).toMatchObject({
        interactions: rows.length,
        approved: rows.filter((r) => r.review_status === "approved").length,
        rejected: rows.filter((r) => r.review_status === "rejected").length,
        edited: rows.filter((r) => r.edited).length,
      });
      const times = rows
        .map((r) => r.review_time_seconds)
        .filter((v): v is number => v !== null)
        .sort((a, b) => a - b);
      expect(reviews.review_time.reviewed).toBe(times.length);
      expect(reviews.review_time.avg_seconds).toBe(avg(times));
      // A percentile from the histogram lies in the bin of the true one.
      for (const [p, key] of [
        [0.5, "p50_seconds"],
        [0.9, "p90_seconds"],
      ] as const) {
        const exact = times[Math.ceil(p * times.length) - 1]!;
        const upper = REVIEW_TIME_BINS_SECONDS.find((b) => exact <= b) ?? Infinity;
        const lower = [0, ...REVIEW_TIME_BINS_SECONDS].filter((b) => b < upper).pop()!;
        expect(reviews.review_time[key]).toBeGreaterThanOrEqual(lower);
        expect(reviews.review_time[key]).toBeLessThanOrEqual(upper);
      }
      expect(reviewed.length).toBe(reviews.outcomes.approved + reviews.outcomes.rejected);

      const quality = await get("quality", range);
      const scores = rows.map((r) => r.quality_score).filter((v): v is number => v !== null);
      expect(quality.histogram).toEqual([1, 2, 3, 4, 5].map((score) => ({ score, count: scores.filter((s) => s === score).length })));
      expect(quality.average).toBe(avg(scores));

      const cta = await get("cta", range);
      expect(Object.fromEntries(cta.cta_types.map((c: any) => [c.type, c.count]))).toEqual(
        Object.fromEntries(count(rows, (r) => r.cta_type)),
      );
      expect(Object.fromEntries(cta.response_types.map((c: any) => [c.type, c.count]))).toEqual(
        Object.fromEntries(count(rows, (r) => r.cta_response_type)),
      );

      const cost = await get("cost", range);
      near(
        cost.total_usd,
        rows.reduce((s, r) => s + Number(r.total_cost_usd), 0),
      );
      for (const d of cost.by_day)
        near(
          d.cost_usd,
          rows.filter((r) => day(r.created_at) === d.day).reduce((s, r) => s + Number(r.total_cost_usd), 0),
        );
      const models = count(rows, (r) => JSON.stringify([r.llm1_model, r.llm2_model]));
      expect(cost.by_model.length).toBe(models.size);
      for (const m of cost.by_model) expect(m.interactions).toBe(models.get(JSON.stringify([m.llm1_model, m.llm2_model])));

      const tags = await get("edit-tags", range);
      const tagged = rows.flatMap((r) => r.edit_tags.map((tag) => ({ tag, r })));
      expect(tags.tags.length).toBe(new Set(tagged.map((x) => x.tag)).size);
      for (const g of tags.tags) {
        const mine = tagged.filter((x) => x.tag === g.tag).map((x) => x.r);
        expect(g.count).toBe(mine.length);
        expect(g.avg_quality).toBe(avg(mine.map((r) => r.quality_score).filter((v): v is number => v !== null)));
        expect(g.avg_review_time_seconds).toBe(avg(mine.map((r) => r.review_time_seconds).filter((v): v is number => v !== null)));
      }

      const reviewers = await get("reviewers", range);
      const byReviewer = count(reviewed, (r) => r.reviewer_id);
      expect(reviewers.reviewers.length).toBe(byReviewer.size);
      for (const v of reviewers.reviewers) {
        const mine = reviewed.filter((r) => r.reviewer_id === v.reviewer_id);
        expect(v.reviewed).toBe(mine.length);
        expect(v.approved).toBe(mine.filter((r) => r.review_status === "approved").length);
        expect(v.avg_review_time_seconds).toBe(avg(mine.map((r) => r.review_time_seconds).filter((x): x is number => x !== null)));
      }
    });
  }

  it("per-user metrics equal the recount over the whole UTC days of the range", async () => {
    const range = { from: utcDay(-120), to: utcDay(0), tz: "UTC" };
    const users = await get("users", range);
    const rows = raw.filter((r) => r.created_at.toISOString().slice(0, 10) >= range.from);
    const byUser = count(rows, (r) => r.user_id);
    expect(users.users.length).toBe(byUser.size); // 40 users + today's: under the report's 100
    for (const u of users.users) {
      const mine = rows.filter((r) => r.user_id === u.user_id);
      expect(u.interactions).toBe(mine.length);
      expect(u.approved).toBe(mine.filter((r) => r.review_status === "approved").length);
      expect(u.edited).toBe(mine.filter((r) => r.edited).length);
      near(
        u.cost_usd,
        mine.reduce((s, r) => s + Number(r.total_cost_usd), 0),
      );
    }
    expect(users.users.map((u: any) => u.interactions)).toEqual([...users.users.map((u: any) => u.interactions)].sort((a, b) => b - a));
  });

  it("the funnel counts users first recorded in the range by the furthest stage reached", async () => {
    const f = await get("funnel", { from: utcDay(-10), to: utcDay(0) });
    expect(f.stages).toEqual([
      { stage: "PROSPECT", users: 5, rate_from_previous: null },
      { stage: "LEAD_QUALIFIED", users: 3, rate_from_previous: 0.6 },
      { stage: "CUSTOMER", users: 2, rate_from_previous: 0.6667 },
    ]);
  });

  it("a report over a past range never executes a scan of the interactions table (EXPLAIN ANALYZE)", async () => {
    const seen: { text: string; params: unknown[] }[] = [];
    const spy: Db = {
      query: (text, params) => {
        seen.push({ text, params: params ?? [] });
        return t.services.db.query(text, params);
      },
      transaction: (s) => t.services.db.transaction(s),
    };
    const range = { from: utcDay(-91), to: utcDay(-1), tz: "Europe/Madrid" };
    for (const name of REPORT_NAMES) await computeReport(spy, name, range);
    expect(seen.length).toBeGreaterThanOrEqual(REPORT_NAMES.length);
    await withPg(t.databaseUrl, async (c) => {
      for (const q of seen) {
        const [
          {
            "QUERY PLAN": [plan],
          },
        ] = (await c.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`, q.params)).rows;
        const scans: string[] = [];
        const walk = (n: any) => {
          if (String(n["Relation Name"] ?? "").startsWith("interactions") && n["Actual Loops"] > 0)
            scans.push(`${n["Node Type"]} on ${n["Relation Name"]}`);
          for (const child of n.Plans ?? []) walk(child);
        };
        walk(plan.Plan);
        expect(scans, q.text.slice(0, 120)).toEqual([]);
      }
    });
    // A range ending days ago carries no live branch at all: its statement names only the rollups.
    seen.length = 0;
    await computeReport(spy, "edit-tags", { from: utcDay(-95), to: utcDay(-5), tz: "UTC" });
    expect(seen[0]!.text).not.toMatch(/FROM interactions/);
    // The same reports with today in range count live what was created since the hour of the last
    // rollup run (earlier hours of today come from the hourly rollups).
    const today = { from: utcDay(-3), to: utcDay(0), tz: "UTC" };
    const live = await computeReport(t.services.db, "volume", today);
    const hourOfRun = Math.floor(Date.parse(live.freshness.rollups_as_of!) / 3_600_000) * 3_600_000;
    expect(live.freshness.live_from).toBe(new Date(Math.max(Date.parse(`${utcDay(0)}T00:00:00Z`), hourOfRun)).toISOString());
  });

  it("today: what was created since the last rollup run is counted live, once, before and after the next run", async () => {
    const today = { from: utcDay(-3), to: utcDay(0), tz: "UTC" };
    const figures = async () => {
      const [volume, users] = [await computeReport(t.services.db, "volume", today), await computeReport(t.services.db, "users", today)];
      return { total: volume.total, u9: users.users.find((u) => u.user_id === "today-u9")?.interactions ?? 0 };
    };
    const before = await figures();
    for (let i = 0; i < 2; i++)
      expect((await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "today-u9" }) })).status).toBe(
        201,
      );
    expect(await figures()).toEqual({ total: before.total + 2, u9: before.u9 + 2 }); // live, before any run
    expect((await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin })).status).toBe(200);
    expect(await figures()).toEqual({ total: before.total + 2, u9: before.u9 + 2 }); // in the rollups now, not counted twice
  });

  it("answers in one Postgres round trip uncached, and from one Redis round trip for 5 minutes", async () => {
    const rt = countRoundTrips(t.services);
    try {
      const range = `from=${utcDay(-30)}&to=${utcDay(-2)}&tz=Europe/Madrid`;
      rt.reset();
      const first = await (await t.call("GET", `/v1/analytics/quality?${range}`, { key: t.keys.reviewer })).json();
      expect(rt.postgres).toBe(1);
      expect(rt.redis).toBe(2); // the miss and the write-back
      rt.reset();
      const second = await (await t.call("GET", `/v1/analytics/quality?${range}`, { key: t.keys.reviewer })).json();
      expect([rt.postgres, rt.redis]).toEqual([0, 1]);
      expect(second).toEqual(first);
    } finally {
      rt.restore();
    }
  });

  it("a review of an old item reaches the rollups on the next refresh; a second refresh changes nothing", async () => {
    const range = { from: utcDay(-40), to: utcDay(-1), tz: "UTC" };
    const before = await computeReport(t.services.db, "reviews", range);
    const [item] = await t.services.db.query<{ id: string }>(`SELECT id FROM interactions WHERE review_status = 'pending'
      AND created_at >= now() - interval '30 days' AND created_at < date_trunc('day', now(), 'UTC') LIMIT 1`);
    expect((await t.call("POST", `/v1/reviews/${item!.id}/approve`, { key: t.keys.reviewer, body: approveBody() })).status).toBe(200);
    const stale = await computeReport(t.services.db, "reviews", range);
    expect(stale.outcomes.approved).toBe(before.outcomes.approved); // until the job runs, as its freshness says
    const run = (await (await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin })).json()) as { days: string[] };
    expect(run.days.length).toBeGreaterThanOrEqual(1);
    const after = await computeReport(t.services.db, "reviews", range);
    expect(after.outcomes.approved).toBe(before.outcomes.approved + 1);
    await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin });
    expect(await computeReport(t.services.db, "reviews", range)).toMatchObject({
      outcomes: after.outcomes,
      review_time: after.review_time,
    });
  });

  it("refuses a bad range with a 400 in the API's error shape", async () => {
    for (const qs of [
      "tz=Asia/Kolkata",
      "tz=Not/AZone",
      "tz=../../etc",
      "from=2026-02-30",
      `from=${utcDay(0)}&to=${utcDay(-3)}`,
      `from=2020-01-01&to=${utcDay(0)}`,
    ]) {
      const res = await t.call("GET", `/v1/analytics/volume?${qs}`, { key: t.keys.reviewer });
      expect(res.status, qs).toBe(400);
      expect(((await res.json()) as any).error.code).toBe("invalid_request");
    }
    expect((await t.call("GET", "/v1/analytics/volume", { key: t.keys.agent })).status).toBe(403);
  });
});
