import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";
import { result, type BenchEnv, type BenchResult } from "./support.js";

const ROWS = Number(process.env.BENCH_EXPORT_ROWS ?? 1_000_000);
/** The formats measured (BENCH_EXPORT_FORMATS=csv,ndjson,xlsx,parquet); the targets are CSV and NDJSON's. */
const FORMATS = (process.env.BENCH_EXPORT_FORMATS ?? "csv,ndjson").split(",");
/** The export job's heap, as the export function runs it (infra/exports.ts). */
const CHILD_FLAGS = process.env.BENCH_CHILD_FLAGS ?? "--max-old-space-size=128 --max-semi-space-size=4";
/** The same rows, columns and order the export reads (packages/core/src/interactions/row.ts INTERACTION_COLUMNS). */
const SAME_ROWS = `SELECT id, message_id, user_id, chat_id, conversation_id, user_message, user_message_timestamp,
  llm1_raw_response, llm1_model, llm2_model, llm1_cost_usd::float8, llm2_cost_usd::float8, total_cost_usd::float8, llm2_bubbles,
  constitution_risk_score, constitution_flags, constitution_recommendation, priority_score, review_status, reviewer_id,
  review_started_at, review_lease_expires_at, review_completed_at, review_time_seconds, final_bubbles, edit_tags, quality_score,
  reviewer_notes, messages_sent_at, cta_data, customer_status, telegram_message_id, telegram_date, is_recovered_message,
  created_at, updated_at FROM interactions ORDER BY created_at, id`;

/** A database of its own on the bench cluster, migrated, with ROWS interactions over the last 60 days (one INSERT ... generate_series). */
async function seed(adminUrl: string, log: (l: string) => void): Promise<string> {
  const name = `bench_export_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = adminUrl.replace(/\/[^/?]+(\?|$)/, `/${name}$1`);
  await migrate(url);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("SELECT hitl_ensure_interaction_partitions((now() - interval '70 days')::date, 4)");
    const t = performance.now();
    for (let from = 0; from < ROWS; from += 250_000) {
      await c.query(
        `INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, llm1_raw_response, llm1_model, llm2_model,
          llm1_cost_usd, llm2_cost_usd, llm2_bubbles, constitution_flags, review_status, reviewer_id, review_time_seconds, final_bubbles,
          edit_tags, quality_score, cta_data, created_at)
        SELECT 'user-' || (g % 20000), 'c' || (g % 20000), 'a user message, "quoted", ünïcode ' || g, now() - (g % 60) * interval '1 day',
          repeat('draft reply ', 12), 'gemini-2.0-flash', 'gpt-4o-mini', 0.000123, 0.000456, ARRAY['bubble one', 'bubble two, with a comma'],
          ARRAY['flag'], CASE WHEN g % 3 = 0 THEN 'approved' ELSE 'pending' END, CASE WHEN g % 3 = 0 THEN 'rev-a' END,
          CASE WHEN g % 3 = 0 THEN 40 END, CASE WHEN g % 3 = 0 THEN ARRAY['final reply'] END,
          CASE WHEN g % 3 = 0 THEN ARRAY['TONE_CASUAL'] ELSE '{}' END, CASE WHEN g % 3 = 0 THEN 1 + g % 5 END,
          CASE WHEN g % 4 = 0 THEN jsonb_build_object('type', 'soft') END, now() - (g % 60) * interval '1 day' - (g % 86400) * interval '1 second'
        FROM generate_series($1::int, $2::int) g`,
        [from + 1, Math.min(from + 250_000, ROWS)],
      );
    }
    await c.query("VACUUM ANALYZE interactions");
    log(`  seeded ${ROWS} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  } finally {
    await c.end();
  }
  return url;
}

/** COPY (the export's query) TO STDOUT with pg over TCP into a counting sink: the raw extraction baseline. */
async function rawCopy(url: string): Promise<{ rows: number; bytes: number; seconds: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  let bytes = 0;
  let rows = 0;
  const t = performance.now();
  try {
    await pipeline(
      c.query(copyTo(`COPY (${SAME_ROWS}) TO STDOUT`)),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) rows++;
          cb();
        },
      }),
    );
  } finally {
    await c.end();
  }
  return { rows, bytes, seconds: (performance.now() - t) / 1000 };
}

function runChild(input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CHILD_FLAGS.split(" ").filter(Boolean), "--import", "tsx", "bench/export-child.ts"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.on("exit", (code) => (code === 0 ? resolve(out.trim().split("\n").pop()!) : reject(new Error(`export child exited ${code}`))));
    child.stdin.end(input);
  });
}

/**
 * `npm run bench -- export`: ROWS interactions exported as CSV and as NDJSON by the export job (in a
 * child process with the export function's heap limit, into the local S3), beside a raw COPY of the
 * same query in the same run; peak RSS of each export (sampled, and the kernel's maxRSS).
 */
export async function exportBench(env: BenchEnv): Promise<BenchResult[]> {
  const s = env.stack;
  const log = (l: string) => console.log(l);
  useLocalNeonProxy(s.neonProxyUrl);
  const url = await seed(s.databaseUrl, log);
  const raw = await rawCopy(url);
  const rawRate = raw.rows / raw.seconds;
  log(`  raw COPY: ${raw.rows} rows, ${(raw.bytes / 1e6).toFixed(0)} MB in ${raw.seconds.toFixed(1)} s (${Math.round(rawRate)} rows/s)`);
  const out: BenchResult[] = [];
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const format of FORMATS) {
      const id = randomUUID();
      await c.query("INSERT INTO exports (id, dataset, format, created_by, object_key) VALUES ($1, 'interactions', $2, 'bench', $3)", [
        id,
        format,
        `exports/${id}/interactions.${format}`,
      ]);
      const r = JSON.parse(await runChild(JSON.stringify({ stack: s, databaseUrl: url, id }))) as {
        seconds: number;
        peak: number;
        maxrss: number;
        rows: number;
        bytes: number;
      };
      if (r.rows !== raw.rows) throw new Error(`the ${format} export wrote ${r.rows} rows, COPY ${raw.rows}`);
      const rate = r.rows / r.seconds;
      if (format === "xlsx" || format === "parquet") {
        log(
          `  ${format}: ${r.rows} rows, ${(r.bytes / 1e6).toFixed(0)} MB in ${r.seconds.toFixed(1)} s, peak RSS ${(r.maxrss / 1e6).toFixed(0)} MB`,
        );
        out.push(result(`export.${format}.peak_rss`, r.maxrss / 1e6, "MB", "target: <= 256 MB (kernel maxRSS of the job's process)", 256));
        continue;
      }
      log(
        `  ${format}: ${r.rows} rows, ${(r.bytes / 1e6).toFixed(0)} MB in ${r.seconds.toFixed(1)} s (${Math.round(rate)} rows/s), peak RSS ${(r.peak / 1e6).toFixed(0)} MB (maxRSS ${(r.maxrss / 1e6).toFixed(0)} MB)`,
      );
      out.push(
        result(`export.${format}.rows_per_s`, rate, "rows/s", "raw COPY (same query) TO STDOUT rows/s; target >= 0.5x", rawRate),
        result(`export.${format}.peak_rss`, r.maxrss / 1e6, "MB", "target: <= 256 MB (kernel maxRSS of the job's process)", 256),
        // One run's capacity at this rate inside the export function's 15 minutes (less a 30 s margin).
        result(`export.${format}.rows_per_run`, rate * 870, "rows", "1,000,000 rows (must fit one run)", 1_000_000),
      );
    }
  } finally {
    await c.end();
  }
  return out;
}
