import os from "node:os";
import pg from "pg";
import { computeReport, createServices, generateKey, parseConfig, REPORT_NAMES, type ReportName } from "@hitl/core";
import { jobContext, runJob } from "@hitl/core/backup";
import { localSettings } from "../scripts/local-env.js";
import { percentile, result, sampleSequential, type BenchEnv, type BenchResult } from "./support.js";

/** Rows seeded, over DAYS days up to now, for USERS users (issue 27's size). */
const ROWS = Number(process.env.BENCH_ANALYTICS_ROWS ?? 1_000_000);
const USERS = 5_000;
const DAYS = 120;
const RUNS = 40;
const WORDS = [
  "hola",
  "qué",
  "tal",
  "canción",
  "café",
  "mañana",
  "corazón",
  "precio",
  "quiero",
  "foto",
  "noche",
  "amor",
  "fiesta",
  "playa",
  "trabajo",
  "cansado",
  "bonita",
  "guapa",
  "jajaja",
  "besos",
  "ciudad",
  "música",
  "película",
  "comida",
  "viaje",
  "verano",
  "invierno",
  "perro",
];

/** Six words of the message of row `g` (inline array subscripts: no per-row subquery). */
const words = Array.from({ length: 6 }, (_, k) => `($3::text[])[1 + ((g * ${31 * (k + 1)}) % ${WORDS.length})]`).join(" || ' ' || ");

/**
 * One INSERT ... SELECT generating rows $1..$4 in Postgres (a client-side loop would dominate the
 * seed time), created uniformly over the last $2 days up to now (today included: its partial day
 * is the live part of a report).
 */
const SEED = `
INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, updated_at, llm1_model, llm2_model,
  llm1_cost_usd, llm2_cost_usd, llm2_bubbles, review_status, reviewer_id, review_time_seconds, review_completed_at, final_bubbles,
  edit_tags, quality_score, cta_data, cta_response_type, customer_status, priority_score)
SELECT 'u' || (g % ${USERS}), 'u' || (g % ${USERS}) || '_c', msg, ts, ts, ts, (ARRAY['gemini-2.0-flash','gemini-1.5-pro'])[1 + g % 2],
  (ARRAY['gpt-4o-mini','claude-haiku','gpt-4o'])[1 + g % 3], (g % 500) / 1e6, (g % 900) / 1e6, ARRAY[msg, 'segunda burbuja'],
  st, CASE WHEN st IN ('approved','rejected') THEN 'rev-' || (g % 12) END, CASE WHEN st IN ('approved','rejected') THEN (g * 7919) % 1800 END,
  CASE WHEN st IN ('approved','rejected') THEN ts + interval '10 minutes' END, CASE WHEN st = 'approved' THEN ARRAY[msg, 'editada'] END,
  CASE WHEN st <> 'approved' THEN '{}' WHEN g % 4 = 0 THEN ARRAY['TONE_CASUAL'] WHEN g % 4 = 1 THEN ARRAY['STRUCT_SHORTEN','CTA_SOFT']
    WHEN g % 4 = 2 THEN '{}' ELSE ARRAY['CONTENT_EMOJI_ADD'] END,
  CASE WHEN st = 'approved' THEN 1 + g % 5 END, CASE WHEN g % 4 = 0 THEN jsonb_build_object('type', (ARRAY['soft','medium','direct'])[1 + g % 3]) END,
  CASE WHEN g % 5 = 0 THEN (ARRAY['IGNORED','INTERESTED','CONVERTED'])[1 + g % 3] END, (ARRAY['PROSPECT','PROSPECT','LEAD_QUALIFIED','CUSTOMER'])[1 + g % 4],
  ((g * 2654435761) % 1000) / 1000.0
FROM (SELECT g, now() - interval '1 minute' - ((g * 104729) % ($2::bigint * 86400 - 60)) * interval '1 second' AS ts,
  ${words} || ' ' || substr(md5(g::text), 1, 8) AS msg,
  (ARRAY['approved','approved','approved','rejected','pending','pending'])[1 + g % 6] AS st
  FROM generate_series($1::bigint, $4::bigint) g) s`;

/** The trigram index, dropped for the seed and built once after it (what a bulk load does). */
const SEARCH_INDEX =
  "CREATE INDEX interactions_search ON interactions USING gin (hitl_search_text(user_message, llm2_bubbles, final_bubbles) gin_trgm_ops)";

/**
 * Seeds ROWS interactions over DAYS days for USERS users, and their users' statuses: one
 * generate_series INSERT per batch, the trigram index built after. Returns the seconds taken.
 */
export async function seedAnalytics(sql: (text: string, params?: unknown[]) => Promise<any[]>): Promise<number> {
  const t0 = performance.now();
  await sql("SELECT hitl_ensure_interaction_partitions((now() - make_interval(days => $1))::date, 7)", [DAYS + 5]);
  await sql("DROP INDEX interactions_search");
  const BATCH = 100_000;
  for (let from = 1; from <= ROWS; from += BATCH) {
    await sql(SEED, [from, DAYS, WORDS, Math.min(ROWS, from + BATCH - 1)]);
    console.log(`  seeded ${Math.min(ROWS, from + BATCH - 1)} of ${ROWS} interactions`);
  }
  await sql("SET maintenance_work_mem = '256MB'");
  await sql(SEARCH_INDEX);
  await sql(
    "INSERT INTO user_current_status (user_id, customer_status, created_at) SELECT 'u' || g, (ARRAY['PROSPECT','LEAD_QUALIFIED','CUSTOMER'])[1 + g % 3], now() - (g % 100) * interval '1 day' FROM generate_series(0, $1 - 1) g ON CONFLICT DO NOTHING",
    [USERS],
  );
  await sql("VACUUM ANALYZE interactions");
  return (performance.now() - t0) / 1000;
}

/** The raw SQL each report would run without rollups: the same figures, counted from the interactions. */
const RAW: Record<ReportName, string> = {
  volume: "SELECT date_trunc('hour', created_at), count(*) FROM interactions WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
  reviews:
    "SELECT review_status, count(*), avg(review_time_seconds), percentile_cont(0.5) WITHIN GROUP (ORDER BY review_time_seconds) FROM interactions WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
  quality: "SELECT quality_score, count(*) FROM interactions WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
  cta: "SELECT cta_data->>'type', cta_response_type, count(*) FROM interactions WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2",
  funnel: "SELECT customer_status, count(*) FROM user_current_status WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
  cost: "SELECT date_trunc('day', created_at), llm1_model, llm2_model, sum(total_cost_usd) FROM interactions WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2, 3",
  "edit-tags":
    "SELECT t, count(*), avg(quality_score), avg(review_time_seconds) FROM interactions, unnest(edit_tags) t WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
  users:
    "SELECT user_id, count(*), sum(total_cost_usd) FROM interactions WHERE created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 2 DESC LIMIT 100",
  reviewers:
    "SELECT reviewer_id, count(*), avg(review_time_seconds) FROM interactions WHERE created_at >= $1 AND created_at < $2 AND review_status IN ('approved','rejected') GROUP BY 1",
};

/**
 * The bench's data: the seed, the rollup job's first run (every day from scratch), then archival
 * through the job itself, so the months wholly older than 90 days have left Postgres and only the
 * rollups still hold them.
 */
export async function prepareAnalytics(env: BenchEnv, sql: (text: string, params?: unknown[]) => Promise<any[]>) {
  const seedS = await seedAnalytics(sql);
  console.log(`  seeded ${ROWS} interactions over ${DAYS} days for ${USERS} users in ${seedS.toFixed(0)} s`);

  // The rollup job's first run: every day from scratch (later runs recount only changed days).
  const t0 = performance.now();
  const res = await fetch(`${env.apiUrl}/v1/admin/analytics/refresh`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.keys.admin}` },
  });
  if (res.status !== 200) throw new Error(`refresh answered ${res.status}`);
  const rebuildS = (performance.now() - t0) / 1000;
  const [{ n: rollupRows }] = await sql("SELECT count(*)::int AS n FROM analytics_hourly");

  // Archival, through the job itself: the months wholly older than 90 days leave Postgres; the
  // rollups keep them.
  const config = parseConfig(
    localSettings(env.stack, JSON.stringify([generateKey("bench-archive", ["admin"]).entry])) as Record<string, string>,
  );
  const ctx = jobContext(config);
  try {
    const run = (await runJob("archive", ctx)) as { archived?: { partition: string; rows: number }[] };
    const moved = (run.archived ?? []).reduce((s, a) => s + a.rows, 0);
    const [{ n: left }] = await sql("SELECT count(*)::int AS n FROM interactions");
    console.log(`  archived ${moved} rows (${(run.archived ?? []).map((a) => a.partition).join(", ")}); ${left} left in Postgres`);
    if (!moved) throw new Error("the bench expects a month already archived");
  } finally {
    await ctx.reader.end();
  }
  // What autovacuum does minutes after the job's first run rewrote every rollup row: the pages of
  // past days become all-visible, so the reports' index-only scans skip the heap.
  await sql("VACUUM ANALYZE interactions, analytics_hourly, analytics_daily, analytics_user_daily");
  return { seedS, rebuildS, rollupRows: rollupRows as number };
}

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

export async function analyticsBench(env: BenchEnv): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const c = new pg.Client({ connectionString: env.stack.databaseUrl });
  await c.connect();
  const sql = async (text: string, params: unknown[] = []) => (await c.query(text, params)).rows;
  const timeSql = (text: string, params: unknown[] = []) => sampleSequential(RUNS, () => c.query(text, params), 5);
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" / ");
  console.log(`  load average (1/5/15 min) at the start: ${load()} on ${os.cpus().length} cores`);
  try {
    const { seedS, rebuildS, rollupRows } = await prepareAnalytics(env, sql);
    out.push(result(`analytics rollup full build (${ROWS} rows)`, rebuildS, "s", "seed of the same rows (INSERT + indexes)", seedS));

    const get = (path: string, key = env.keys.reviewer) =>
      fetch(`${env.apiUrl}${path}`, { headers: { authorization: `Bearer ${key}` } }).then(async (r) => {
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
        return r.json();
      });
    // Browse: a filtered page, and a search page, over HTTP, beside the same query in raw SQL.
    const from30 = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const browse = await sampleSequential(
      RUNS,
      () => get(`/v1/interactions?review_status=approved&customer_status=CUSTOMER&from=${from30}&edit_tag=CONTENT_EMOJI_ADD&limit=50`),
      5,
    );
    const browseRaw = await timeSql(
      `SELECT * FROM interactions WHERE review_status = 'approved' AND customer_status = 'CUSTOMER' AND created_at >= $1
      AND edit_tags @> ARRAY['CONTENT_EMOJI_ADD'] ORDER BY created_at DESC, id DESC LIMIT 51`,
      [from30],
    );
    // (The filters match 1 row in 12 of the last 30 days: a page fills.)
    out.push(
      result(
        "GET /v1/interactions filtered page p50",
        percentile(browse, 50),
        "ms",
        "raw SQL same filters (pg, no HTTP)",
        percentile(browseRaw, 50),
      ),
    );
    const search = await sampleSequential(
      RUNS,
      (i) =>
        get(`/v1/interactions?q=${encodeURIComponent(["CANCION", "corazon", "pelicula fiesta", "mañana"][Math.abs(i) % 4]!)}&limit=50`),
      5,
    );
    const searchRaw =
      await timeSql(`SELECT * FROM interactions WHERE user_message ILIKE '%canción%' OR array_to_string(llm2_bubbles, ' ') ILIKE '%canción%'
      OR array_to_string(final_bubbles, ' ') ILIKE '%canción%' ORDER BY created_at DESC LIMIT 51`);
    out.push(
      result(
        "GET /v1/interactions?q= search page p50",
        percentile(search, 50),
        "ms",
        "raw SQL ILIKE, no unaccent, no index",
        percentile(searchRaw, 50),
      ),
    );
    const rare = await sampleSequential(RUNS, () => get(`/v1/interactions?q=${encodeURIComponent("4f2a")}&limit=50`), 5);
    const rareRaw = await timeSql("SELECT * FROM interactions WHERE user_message ILIKE '%4f2a%' ORDER BY created_at DESC LIMIT 51");
    out.push(
      result(
        "GET /v1/interactions?q= rare term p50",
        percentile(rare, 50),
        "ms",
        "raw SQL ILIKE on the message alone",
        percentile(rareRaw, 50),
      ),
    );

    // Reports over 90 days, uncached (the core function over the Neon HTTP driver, as the API runs it).
    const apiKey = generateKey("bench", ["admin"]);
    const services = createServices(parseConfig(localSettings(env.stack, JSON.stringify([apiKey.entry])) as Record<string, string>));
    // Two 90-day ranges in Madrid: ending yesterday (rollups alone), and ending today (its hours
    // before the last rollup run from the hourly rollups, the rest live).
    for (const [label, range] of [
      ["90 days to yesterday", { from: day(-90), to: day(-1), tz: "Europe/Madrid" }],
      ["90 days to today", { from: day(-89), to: day(0), tz: "Europe/Madrid" }],
    ] as const) {
      const [{ t0: start, t1 }] = await sql(
        "SELECT ($1::date::timestamp AT TIME ZONE 'Europe/Madrid') AS t0, (($2::date + 1)::timestamp AT TIME ZONE 'Europe/Madrid') AS t1",
        [range.from, range.to],
      );
      for (const name of REPORT_NAMES) {
        const mine = await sampleSequential(RUNS, () => computeReport(services.db, name, range), 3);
        const raw = await sampleSequential(5, () => c.query(RAW[name], [start, t1]), 1);
        out.push(
          result(`report ${name} ${label} uncached p50`, percentile(mine, 50), "ms", "raw SQL over interactions (pg)", percentile(raw, 50)),
        );
      }
    }
    const floor = await sampleSequential(RUNS, () => services.db.query("SELECT 1"), 5);
    out.push(
      result(
        "one Neon HTTP round trip (SELECT 1) p50",
        percentile(floor, 50),
        "ms",
        "pg SELECT 1",
        percentile(await timeSql("SELECT 1"), 50),
      ),
    );
    console.log(`  analytics_hourly holds ${rollupRows} rows`);
    console.log(`  load average (1/5/15 min) after the reads: ${load()}`);
    out.push(...(await writeOverhead(env, sql)));
    console.log(`  load average (1/5/15 min) at the end: ${load()}`);
  } finally {
    await c.end();
  }
  return out;
}

/**
 * What the analytics indexes cost the write path: POST /v1/interactions and approve, p50, with
 * them and with them dropped (same run, alternating rounds so machine noise falls on both).
 */
async function writeOverhead(env: BenchEnv, sql: (text: string, params?: unknown[]) => Promise<any[]>): Promise<BenchResult[]> {
  const post = async (i: number) => {
    const r = await fetch(`${env.apiUrl}/v1/interactions`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.keys.agent}`, "content-type": "application/json" },
      body: JSON.stringify({
        user_id: `w${i % 500}`,
        user_message: `hola ${i} qué tal la canción`,
        user_message_timestamp: new Date().toISOString(),
        llm1_raw_response: "r",
        llm2_bubbles: ["hola!", "todo bien"],
        constitution_risk_score: 0.1,
        constitution_flags: [],
        constitution_recommendation: "approve",
      }),
    });
    return ((await r.json()) as { id: string }).id;
  };
  const approve = (id: string) =>
    fetch(`${env.apiUrl}/v1/reviews/${id}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.keys.reviewer}`, "content-type": "application/json" },
      body: JSON.stringify({ final_bubbles: ["hola, editado"], edit_tags: ["TONE_CASUAL"], quality_score: 4 }),
    }).then((r) => r.text());
  const samples = { on: { post: [] as number[], approve: [] as number[] }, off: { post: [] as number[], approve: [] as number[] } };
  let n = 0;
  const round = async (which: "on" | "off") => {
    for (let i = 0; i < 60; i++) {
      let t = performance.now();
      const id = await post(n++);
      samples[which].post.push(performance.now() - t);
      t = performance.now();
      await approve(id);
      samples[which].approve.push(performance.now() - t);
    }
  };
  const drop = () => sql("DROP INDEX interactions_updated; DROP INDEX interactions_search");
  const create = () =>
    sql(`CREATE INDEX interactions_updated ON interactions (updated_at);
    CREATE INDEX interactions_search ON interactions USING gin (hitl_search_text(user_message, llm2_bubbles, final_bubbles) gin_trgm_ops)`);
  for (let i = 0; i < 10; i++) await round("on"); // warm-up, discarded
  samples.on = { post: [], approve: [] };
  // Three rounds each way, alternating; the indexes are rebuilt between pairs (on 800,000 rows the
  // trigram index takes minutes), not after the last.
  // After each change, a checkpoint (an index build writes its whole index to the WAL; the spread
  // checkpoint would otherwise land on the next round) and a discarded round.
  const settle = async (which: "on" | "off") => {
    await sql("CHECKPOINT");
    const kept = { post: [...samples[which].post], approve: [...samples[which].approve] };
    await round(which);
    samples[which] = kept;
  };
  for (let r = 0; r < 3; r++) {
    await round("on");
    await drop();
    await settle("off");
    await round("off");
    if (r < 2) {
      await create();
      await settle("on");
    }
  }
  const p = (xs: number[]) => percentile(xs, 50);
  return [
    result(
      "POST /v1/interactions p50 (analytics indexes)",
      p(samples.on.post),
      "ms",
      "same, without the analytics indexes",
      p(samples.off.post),
    ),
    result("approve p50 (analytics indexes)", p(samples.on.approve), "ms", "same, without the analytics indexes", p(samples.off.approve)),
  ];
}
