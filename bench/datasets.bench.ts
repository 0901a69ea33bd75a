import pg from "pg";
import { createServices, generateKey, parseConfig } from "@hitl/core";
import { PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import { S3BlobStore, archivePartition } from "@hitl/core/backup";
import type { ExportSourceDeps, ExportSourceFactory } from "../packages/core/src/exports/source.js";
import { chatFinetuneSource } from "../packages/core/src/exports/sources/chat-finetune.js";
import { preferencePairsSource } from "../packages/core/src/exports/sources/preference-pairs.js";
import { localSettings } from "../scripts/local-env.js";
import { result, type BenchEnv, type BenchResult } from "./support.js";

/**
 * The training datasets (issue 28 point 2) over a seeded table: BENCH_DATASETS_ROWS (default
 * 200,000) interactions of 4,000 users over 120 days, two thirds approved. Each figure beside the
 * same rows read raw in the same run: a `COPY (SELECT ... ORDER BY user_id, created_at, id) TO
 * STDOUT` of the columns the datasets read (no context), and the per-row LATERAL context lookup the
 * window replaces.
 */
const ROWS = Number(process.env.BENCH_DATASETS_ROWS ?? 200_000);
const USERS = 4_000;
const DAYS = 120;

const SEED = `
INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, llm1_model, llm2_model,
  llm2_bubbles, review_status, final_bubbles, edit_tags, quality_score, messages_sent_at)
SELECT 'u' || (g % ${USERS}), 'u' || (g % ${USERS}) || '_c', msg, ts, ts, (ARRAY['gemini-2.0-flash','gemini-1.5-pro'])[1 + g % 2], 'gpt-4o-mini',
  ARRAY[msg || ' draft reply with a few more words in it', 'segunda burbuja'], st,
  CASE WHEN st = 'approved' THEN CASE WHEN g % 3 = 0 THEN ARRAY[msg || ' edited reply', 'otra'] ELSE ARRAY[msg || ' draft reply with a few more words in it', 'segunda burbuja'] END END,
  CASE WHEN st = 'approved' AND g % 3 = 0 THEN ARRAY['CONTENT_REWRITE'] ELSE '{}' END, CASE WHEN st = 'approved' THEN 1 + g % 5 END,
  CASE WHEN st = 'approved' THEN ts + interval '5 minutes' END
FROM (SELECT g, now() - interval '1 day' - ((g * 104729) % ($2::bigint * 86400)) * interval '1 second' AS ts,
  'message ' || g || ' ' || repeat(substr(md5(g::text), 1, 8) || ' ', (1 + g % 12)::int) AS msg,
  (ARRAY['approved','approved','approved','approved','rejected','pending'])[1 + g % 6] AS st
  FROM generate_series($1::bigint, $3::bigint) g) s`;

const COLUMNS =
  "id, user_id, created_at, user_message, review_status, final_bubbles, llm2_bubbles, edit_tags, quality_score, llm1_model, llm2_model, customer_status, messages_sent_at";

/** Lines/s of a source streamed to the end, JSON-encoded as the writer would, with the peak RSS seen. */
async function timeSource(factory: ExportSourceFactory, deps: ExportSourceDeps) {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  let lines = 0;
  let bytes = 0;
  try {
    for await (const row of factory(deps, {}).rows()) {
      lines++;
      bytes += JSON.stringify(row).length + 1;
    }
  } finally {
    clearInterval(timer);
  }
  return { seconds: (performance.now() - t0) / 1000, lines, bytes, peak };
}

export async function datasetsBench(env: BenchEnv): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const s = env.stack;
  const c = new pg.Client({ connectionString: s.databaseUrl });
  await c.connect();
  useLocalNeonProxy(s.neonProxyUrl);
  const reader = new PoolDb(s.databaseUrl);
  const services = createServices(
    parseConfig(localSettings(s, JSON.stringify([generateKey("bench", ["admin"]).entry])) as Record<string, string>),
  );
  const store = new S3BlobStore({
    bucket: s.s3Bucket,
    region: "us-east-1",
    endpoint: s.s3Endpoint,
    credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey },
  });
  const deps: ExportSourceDeps = { db: services.db, reader, store, hasher: services.hasher };
  const sql = async (text: string, params: unknown[] = []) => (await c.query(text, params)).rows;
  try {
    await sql("SELECT hitl_ensure_interaction_partitions((now() - make_interval(days => $1))::date, 7)", [DAYS + 5]);
    const BATCH = 50_000;
    for (let from = 1; from <= ROWS; from += BATCH) await sql(SEED, [from, DAYS - 1, Math.min(ROWS, from + BATCH - 1)]);
    await sql("ANALYZE interactions");
    console.log(`  seeded ${ROWS} interactions of ${USERS} users over ${DAYS} days`);

    /** The baseline: the same rows and columns, user-ordered, raw COPY, no context. */
    const copyBaseline = async () => {
      const t0 = performance.now();
      let bytes = 0;
      await reader.session((x) =>
        x.copyOut(`COPY (SELECT ${COLUMNS} FROM interactions ORDER BY user_id, created_at, id) TO STDOUT`, (b) => (bytes += b.length)),
      );
      return { seconds: (performance.now() - t0) / 1000, bytes };
    };
    const base = await copyBaseline();
    const [{ n: total }] = await sql("SELECT count(*)::int AS n FROM interactions");
    const chat = await timeSource(chatFinetuneSource, deps);
    console.log(
      `  chat_finetune: ${chat.lines} lines (${(chat.bytes / 1e6).toFixed(0)} MB) in ${chat.seconds.toFixed(1)} s, peak RSS ${(chat.peak / 1e6).toFixed(0)} MB; raw COPY ${base.seconds.toFixed(1)} s`,
    );
    out.push(
      result(
        `chat_finetune over ${ROWS} live rows (6 turns context), rows read/s`,
        total / chat.seconds,
        "rows/s",
        "raw COPY TO STDOUT of the same rows and columns, user-ordered",
        total / base.seconds,
      ),
    );
    // The same rows and columns through the same driver's cursor (no context): the transport's floor.
    const tc = performance.now();
    await reader.session(async (x) => {
      await x.query("BEGIN");
      await x.query(`DECLARE plain NO SCROLL CURSOR FOR SELECT ${COLUMNS} FROM interactions ORDER BY user_id, created_at, id`);
      while ((await x.query("FETCH 500 FROM plain")).length);
      await x.query("COMMIT");
    });
    const cursorS = (performance.now() - tc) / 1000;
    out.push(
      result(
        "chat_finetune rows read/s (as above)",
        total / chat.seconds,
        "rows/s",
        "cursor FETCH 500 of the same rows, same driver, no context",
        total / cursorS,
      ),
    );
    // The per-row alternative: each approved row's 6 earlier turns by an index probe (LATERAL).
    const t1 = performance.now();
    await reader.session(async (x) => {
      await x.query("BEGIN");
      await x.query(`DECLARE lat NO SCROLL CURSOR FOR
        SELECT t.id, t.user_message, t.final_bubbles, ctx.context FROM interactions t CROSS JOIN LATERAL (
          SELECT json_agg(json_build_array(p.user_message, CASE WHEN p.review_status = 'approved' THEN p.final_bubbles END)) AS context FROM (
            SELECT * FROM interactions p WHERE p.user_id = t.user_id AND (p.created_at, p.id) < (t.created_at, t.id)
            ORDER BY p.created_at DESC, p.id DESC LIMIT 6) p) ctx
        WHERE t.review_status = 'approved'`);
      while ((await x.query("FETCH 500 FROM lat")).length);
      await x.query("COMMIT");
    });
    const lateral = (performance.now() - t1) / 1000;
    out.push(
      result("chat_finetune (user-ordered rows, context ring), s", chat.seconds, "s", "LATERAL index probe per approved row, s", lateral),
    );
    const pairs = await timeSource(preferencePairsSource, deps);
    out.push(
      result(
        `preference_pairs over ${ROWS} live rows, rows read/s`,
        total / pairs.seconds,
        "rows/s",
        "raw COPY (as above)",
        total / base.seconds,
      ),
    );
    out.push(result("chat_finetune peak RSS", chat.peak / 1e6, "MB", "RSS before the export", process.memoryUsage().rss / 1e6));

    // The oldest month archived: its rows are staged into the export's temporary table.
    const [{ name: oldest }] = await sql(
      "SELECT min(c.relname) AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'interactions'::regclass AND EXISTS (SELECT 1 FROM interactions WHERE created_at < now() - interval '100 days')",
    );
    const archived = await archivePartition({ db: services.db, reader, hasher: services.hasher, store }, oldest);
    const withArchive = await timeSource(chatFinetuneSource, deps);
    const base2 = await copyBaseline();
    console.log(
      `  ${oldest} archived (${archived} rows); chat_finetune: ${withArchive.lines} lines in ${withArchive.seconds.toFixed(1)} s, peak RSS ${(withArchive.peak / 1e6).toFixed(0)} MB`,
    );
    out.push(
      result(
        `chat_finetune with ${archived} of ${ROWS} rows archived, rows read/s`,
        total / withArchive.seconds,
        "rows/s",
        "raw COPY of the live rows alone",
        (total - archived) / base2.seconds,
      ),
    );
  } finally {
    await c.end();
    await reader.end();
  }
  return out;
}
