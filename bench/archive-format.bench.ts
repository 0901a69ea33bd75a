import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import pg from "pg";
import { S3BlobStore } from "@hitl/core/backup";
import { HISTORY_QUERIES } from "@hitl/core/analytics/history-queries";
import type { Db } from "../packages/core/src/db/db.js";
import type { StreamingBlobStore } from "../packages/core/src/storage/blob.js";
import { GzipObjectWriter } from "../packages/core/src/backup/gzip-object.js";
import { ARCHIVE_OBJECT_ROWS } from "../packages/core/src/backup/archive.js";
import {
  archiveColumns,
  archiveSelectList,
  lineOf,
  ParquetObjectWriter,
  type ArchiveColumn,
} from "../packages/core/src/backup/parquet-object.js";
import { openHistory, runSql } from "../scripts/duckdb-history.js";
import { cleanupOnInterrupt } from "../scripts/interrupt.js";
import { result, type BenchEnv, type BenchResult } from "./support.js";

/** Rows of the month archived in both formats (part 1). */
const MONTH_ROWS = Number(process.env.BENCH_ARCHIVE_ROWS ?? 100_000);
/** Rows per month of the year DuckDB queries (part 2): 12 months of this. */
const YEAR_MONTH_ROWS = Number(process.env.BENCH_YEAR_MONTH_ROWS ?? 100_000);
/** Heap blocks per page, as the archive job reads them. */
const PAGE_BLOCKS = 256;

const dbOf = (c: pg.Client): Db =>
  ({ query: async (text: string, params?: unknown[]) => (await c.query(text, params)).rows }) as unknown as Db;

/** A month of interactions in a partition of its own, ~1 KB a row like production rows (text, bubbles, tags, JSON). */
async function seedMonth(c: pg.Client, rows: number): Promise<string> {
  await c.query("SELECT hitl_ensure_interaction_partitions(date '2024-03-01', 1)");
  for (let from = 0; from < rows; from += 50_000) {
    await c.query(
      `INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, llm1_raw_response, llm1_model, llm2_model,
        llm1_tokens_used, llm2_tokens_used, llm1_cost_usd, llm2_cost_usd, llm2_bubbles, final_bubbles, edit_tags, quality_score,
        review_status, review_time_seconds, customer_status, cta_data, created_at)
      SELECT 'user-' || (g % 5000), 'c-' || (g % 20000), 'message text ünïcode ' || g || repeat(' palabra', 8), timestamptz '2024-03-01' + g * interval '20 seconds',
        repeat('draft reply ', 30) || g, CASE WHEN g % 3 = 0 THEN 'gpt-a' ELSE 'gpt-b' END, 'claude-x', 100 + g % 900, 50 + g % 400,
        (g % 5000) / 1e6, (g % 9000) / 1e6, ARRAY['bubble one ' || g, 'bubble two'], CASE WHEN g % 2 = 0 THEN ARRAY['edited ' || g] END,
        CASE WHEN g % 4 = 0 THEN ARRAY['tone'] WHEN g % 7 = 0 THEN ARRAY['facts', 'length'] ELSE '{}' END, CASE WHEN g % 5 > 0 THEN 1 + g % 5 END,
        CASE WHEN g % 10 = 0 THEN 'rejected' ELSE 'approved' END, g % 600, 'PROSPECT', CASE WHEN g % 3 = 0 THEN jsonb_build_object('type', 'link', 'n', g) END,
        timestamptz '2024-03-01' + (g % ${rows}) * (interval '30 days' / ${rows})
      FROM generate_series($1::int, $2::int) g`,
      [from + 1, Math.min(from + 50_000, rows)],
    );
  }
  return "interactions_2024_03";
}

/** The month's rows page by page (heap blocks, one snapshot), as the archive job reads them; `sql` makes a page's body from `FROM ONLY <partition> ...`. */
async function pages(c: pg.Client, partition: string, body: string, onPage: (body: string) => Promise<void>) {
  await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  try {
    const [{ blocks }] = (
      await c.query("SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int AS blocks", [partition])
    ).rows;
    for (let from = 0; from < Number(blocks); from += PAGE_BLOCKS) {
      const { rows } = await c.query(body, [`(${from},0)`, `(${Math.min(from + PAGE_BLOCKS, Number(blocks))},0)`]);
      if (rows[0]?.body) await onPage(rows[0].body);
    }
  } finally {
    await c.query("COMMIT");
  }
}

/** Part 1: the month archived as gzipped NDJSON (the format before) and as Parquet, objects of ARCHIVE_OBJECT_ROWS, to s3rver. */
async function monthFormats(c: pg.Client, store: S3BlobStore, columns: ArchiveColumn[], log: (l: string) => void): Promise<BenchResult[]> {
  const partition = await seedMonth(c, MONTH_ROWS);
  await c.query(`VACUUM ANALYZE ${partition}`);
  const rows = Number((await c.query(`SELECT count(*) AS n FROM ${partition}`)).rows[0].n);
  const q = `FROM ONLY ${partition} t WHERE ctid >= $1::tid AND ctid < $2::tid`;

  const ndjson = async () => {
    const t0 = performance.now();
    let writer: GzipObjectWriter | null = null;
    let bytes = 0;
    let n = 0;
    await pages(c, partition, `SELECT string_agg(row_to_json(t)::text, E'\\n') AS body, count(*)::int AS n ${q}`, async (body) => {
      writer ??= new GzipObjectWriter(store, `bench/ndjson/part-${n++}.ndjson.gz`);
      const lines = body.split("\n").length;
      await writer.writeText(body, lines);
      if (writer.rows >= ARCHIVE_OBJECT_ROWS) {
        bytes += (await writer.close()).bytes;
        writer = null;
      }
    });
    if (writer) bytes += (await (writer as GzipObjectWriter).close()).bytes;
    return { seconds: (performance.now() - t0) / 1000, bytes };
  };
  const parquet = async () => {
    const t0 = performance.now();
    let writer: ParquetObjectWriter | null = null;
    let bytes = 0;
    let n = 0;
    const sql = `SELECT '[' || string_agg(row_to_json(t)::text, ',') || ']' AS body FROM (SELECT ${archiveSelectList(columns)} FROM ONLY ${partition} WHERE ctid >= $1::tid AND ctid < $2::tid) t`;
    await pages(c, partition, sql, async (body) => {
      writer ??= new ParquetObjectWriter(store, `bench/parquet/part-${n++}.parquet`, columns);
      await writer.add(JSON.parse(body));
      if (writer.rows >= ARCHIVE_OBJECT_ROWS) {
        bytes += (await writer.close()).bytes;
        writer = null;
      }
    });
    if (writer) bytes += (await (writer as ParquetObjectWriter).close()).bytes;
    return { seconds: (performance.now() - t0) / 1000, bytes };
  };
  // Each once to warm up (JIT, connections), then measured.
  await ndjson();
  await parquet();
  const nd = await ndjson();
  const pq = await parquet();
  log(
    `  month of ${rows} rows: NDJSON.gz ${(nd.bytes / 1e6).toFixed(1)} MB in ${nd.seconds.toFixed(1)} s; Parquet ${(pq.bytes / 1e6).toFixed(1)} MB in ${pq.seconds.toFixed(1)} s`,
  );
  await c.query(`DROP TABLE ${partition}`);
  return [
    result(
      `archive-format: Parquet bytes per row (${rows} rows, GZIP pages)`,
      pq.bytes / rows,
      "B/row",
      "gzipped NDJSON (level 1), same rows",
      nd.bytes / rows,
    ),
    result(
      `archive-format: Parquet write of a month (${rows} rows, Postgres -> s3rver)`,
      pq.seconds,
      "s",
      "gzipped NDJSON write, same rows",
      nd.seconds,
    ),
  ];
}

/** A StreamingBlobStore over a local directory, enough for the writers (upload only). */
function dirStore(dir: string): StreamingBlobStore {
  return {
    upload: async (key: string, body: Readable) => {
      const file = path.join(dir, key);
      await mkdir(path.dirname(file), { recursive: true });
      await pipeline(body, createWriteStream(file));
    },
  } as unknown as StreamingBlobStore;
}

/** A seeded-random generator. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Part 2: a year of archives (12 months, as the archive writes them) queried by DuckDB, beside DuckDB over the same rows as NDJSON.gz. */
async function yearQuery(columns: ArchiveColumn[], log: (l: string) => void): Promise<BenchResult[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-bench-year-"));
  const forget = cleanupOnInterrupt(() => rm(dir, { recursive: true, force: true }));
  try {
    const pq = dirStore(path.join(dir, "parquet"));
    const r = rng(12);
    const t0 = performance.now();
    for (let m = 1; m <= 12; m++) {
      const month = `2025-${String(m).padStart(2, "0")}`;
      const gz = createGzip({ level: 1 });
      const ndFile = path.join(dir, "ndjson", `month=${month}`, "part-00000.ndjson.gz");
      await mkdir(path.dirname(ndFile), { recursive: true });
      const ndDone = pipeline(gz, createWriteStream(ndFile));
      let writer = new ParquetObjectWriter(pq, `month=${month}/part-00000.parquet`, columns);
      const start = Date.UTC(2025, m - 1, 1) * 1000;
      let batch: Record<string, unknown>[] = [];
      for (let i = 0; i < YEAR_MONTH_ROWS; i++) {
        if (i && i % ARCHIVE_OBJECT_ROWS === 0) {
          await writer.add(batch);
          batch = [];
          await writer.close();
          writer = new ParquetObjectWriter(pq, `month=${month}/part-${String(i / ARCHIVE_OBJECT_ROWS).padStart(5, "0")}.parquet`, columns);
        }
        const at = start + Math.floor(r() * 27 * 86_400_000_000);
        const reviewed = r() < 0.9;
        const row: Record<string, unknown> = {
          id: `00000000-0000-4000-8000-${String(m * 10_000_000 + i).padStart(12, "0")}`,
          user_id: `user-${Math.floor(r() * 5000)}`,
          conversation_id: `c-${i % 20_000}`,
          message_number: 1,
          user_message: `message text ${i} palabra palabra palabra`,
          user_message_timestamp: at,
          llm1_raw_response: `draft reply ${i} `.repeat(20),
          llm1_model: r() < 0.5 ? "gpt-a" : "gpt-b",
          llm2_model: "claude-x",
          llm1_tokens_used: 100 + Math.floor(r() * 900),
          llm2_tokens_used: 50 + Math.floor(r() * 400),
          llm1_cost_usd: Math.round(r() * 5000) / 1e6,
          llm2_cost_usd: Math.round(r() * 9000) / 1e6,
          total_cost_usd: 0,
          llm2_bubbles: [`bubble one ${i}`, "bubble two"],
          constitution_flags: [],
          priority_score: 0.5,
          review_status: reviewed ? (r() < 0.9 ? "approved" : "rejected") : "pending",
          review_time_seconds: reviewed ? Math.floor(r() * 600) : null,
          final_bubbles: reviewed ? [`edited ${i}`] : null,
          edit_tags: reviewed ? ["tone", "facts", "length"].filter(() => r() < 0.3) : [],
          quality_score: reviewed ? 1 + Math.floor(r() * 5) : null,
          cta_data: r() < 0.3 ? JSON.stringify({ type: "link", n: i }) : null,
          customer_status: ["PROSPECT", "LEAD_QUALIFIED", "CUSTOMER"][Math.floor(r() * 3)],
          cta_sent_count: 0,
          ltv_usd: 0,
          is_recovered_message: false,
          created_at: at,
          updated_at: at,
        };
        row.total_cost_usd = (row.llm1_cost_usd as number) + (row.llm2_cost_usd as number);
        batch.push(row);
        if (!gz.write(lineOf(columns, row) + "\n")) await new Promise((res) => gz.once("drain", res));
        if (batch.length >= 10_000) {
          await writer.add(batch);
          batch = [];
        }
      }
      await writer.add(batch);
      await writer.close();
      gz.end();
      await ndDone;
    }
    const rows = 12 * YEAR_MONTH_ROWS;
    log(`  a year of archives: ${rows} rows in 12 months written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const parquet = await openHistory(path.join(dir, "parquet"));
    const ndjson = await openHistory(path.join(dir, "parquet"));
    // The same table over the NDJSON.gz files: read_json with the archive's columns typed as the Parquet ones are.
    const duckType: Record<string, string> = {
      string: "VARCHAR",
      json: "VARCHAR",
      timestamp: "TIMESTAMP",
      int32: "INTEGER",
      int64: "BIGINT",
      double: "DOUBLE",
      boolean: "BOOLEAN",
      string_list: "VARCHAR[]",
    };
    const cols = columns.map((c) => `'${c.name}': '${duckType[c.type]}'`).join(", ");
    await ndjson.run("DROP VIEW interactions");
    await ndjson.run(
      `CREATE VIEW interactions AS SELECT * FROM read_json('${path.join(dir, "ndjson")}/**/*.ndjson.gz', format = 'newline_delimited', hive_partitioning = true, hive_types = {'month': VARCHAR}, columns = {${cols}})`,
    );
    const check = "SELECT count(*) AS n, count(DISTINCT month) AS months FROM interactions";
    const a = (await runSql(parquet, check)).rows[0];
    const b = (await runSql(ndjson, check)).rows[0];
    if (a?.n !== rows || b?.n !== rows || a?.months !== 12)
      throw new Error(`year bench: counted ${JSON.stringify([a, b])}, expected ${rows} rows`);
    // Every named query, twice over (the first run of each warms the file cache); the second is timed.
    const timed = async (c: typeof parquet) => {
      let seconds = 0;
      for (const q of HISTORY_QUERIES) {
        await runSql(c, q.sql);
        const t = performance.now();
        await runSql(c, q.sql);
        seconds += (performance.now() - t) / 1000;
      }
      return seconds;
    };
    const pqSeconds = await timed(parquet);
    const ndSeconds = await timed(ndjson);
    // Same answers from both (the NDJSON read is a true baseline, not a different query).
    for (const q of HISTORY_QUERIES) {
      const x = JSON.stringify((await runSql(parquet, q.sql)).rows);
      const y = JSON.stringify((await runSql(ndjson, q.sql)).rows);
      if (x !== y && q.name !== "cost_by_day_and_models") throw new Error(`year bench: ${q.name} differs between Parquet and NDJSON`);
    }
    parquet.closeSync();
    ndjson.closeSync();
    log(
      `  DuckDB, all ${HISTORY_QUERIES.length} named queries over ${rows} rows: Parquet ${pqSeconds.toFixed(2)} s, NDJSON.gz ${ndSeconds.toFixed(2)} s`,
    );
    return [
      result(
        `archive-format: DuckDB, the ${HISTORY_QUERIES.length} named queries over a year of Parquet archives (${rows} rows)`,
        pqSeconds,
        "s",
        "DuckDB read_json over the same rows as NDJSON.gz",
        ndSeconds,
      ),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
    forget();
  }
}

export async function archiveFormatBench(env: BenchEnv): Promise<BenchResult[]> {
  const s = env.stack;
  const log = (l: string) => console.log(l);
  const store = new S3BlobStore({
    bucket: s.s3Bucket,
    region: "us-east-1",
    endpoint: s.s3Endpoint,
    credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey },
  });
  const c = new pg.Client({ connectionString: s.databaseUrl });
  await c.connect();
  try {
    const columns = await archiveColumns(dbOf(c), "interactions");
    return [...(await monthFormats(c, store, columns, log)), ...(await yearQuery(columns, log))];
  } finally {
    await c.end();
  }
}
