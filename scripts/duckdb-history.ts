import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { ARCHIVE_ROOT, type S3BlobStore } from "@hitl/core/backup";
import { HISTORY_TABLE } from "@hitl/core/analytics/history-queries";

/**
 * DuckDB over the archive (a tool of the CLI, the tests and the benches: never in a Lambda
 * bundle, test/lambda-bundles.test.ts checks). Locally the archive's Parquet objects are
 * downloaded to a temp dir (DuckDB's httpfs extension is a download of its own, which an offline
 * machine can't make), keeping their Hive layout, and the view `interactions` reads them as
 * Athena's table does: the Parquet columns plus the partition column `month`.
 */
export async function downloadArchives(store: S3BlobStore, dir: string): Promise<{ objects: number; bytes: number }> {
  const objects = (await store.list(ARCHIVE_ROOT)).filter((o) => /\/month=\d{4}-\d{2}\/[^/]+\.parquet$/.test(o.key));
  for (const o of objects) {
    const file = path.join(dir, o.key.slice(ARCHIVE_ROOT.length));
    await mkdir(path.dirname(file), { recursive: true });
    await pipeline(await store.read(o.key), createWriteStream(file));
  }
  return { objects: objects.length, bytes: objects.reduce((s, o) => s + o.size, 0) };
}

/** A temp dir for downloaded archives (/tmp/hitl-analytics-*), removed by `remove`. */
export async function archiveTempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "hitl-analytics-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** An in-memory DuckDB with the view `interactions` over the Parquet files under `dir` (Hive layout). */
export async function openHistory(dir: string): Promise<DuckDBConnection> {
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  await c.run(
    `CREATE VIEW ${HISTORY_TABLE} AS SELECT * FROM read_parquet(${literal(`${dir}/**/*.parquet`)}, hive_partitioning = true, hive_types = {'month': VARCHAR})`,
  );
  return c;
}

export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
}

/** Runs one statement; values as JSON-able JavaScript (big integers and decimals as numbers, dates as text). */
export async function runSql(c: DuckDBConnection, sql: string): Promise<QueryResult> {
  const reader = await c.runAndReadAll(sql);
  const columns = reader.columnNames();
  const rows = reader.getRowObjectsJS().map((r) => {
    const out: Record<string, unknown> = {};
    for (const k of columns) out[k] = plain(r[k]);
    return out;
  });
  return { columns, rows };
}

function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object" && "toString" in v && v.constructor?.name?.startsWith("DuckDB")) return String(v);
  return v;
}

/** A result as an aligned text table. */
export function formatTable({ columns, rows }: QueryResult): string {
  const cell = (v: unknown) =>
    v === null || v === undefined
      ? ""
      : typeof v === "number" && !Number.isInteger(v)
        ? String(Number(v.toFixed(6)))
        : typeof v === "object"
          ? JSON.stringify(v)
          : String(v);
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const width = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(width[i]!))
      .join("  ")
      .trimEnd();
  return [line(columns), width.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

/**
 * What `npm run analytics` does once it has a store: the archives fetched into a temp dir (removed
 * when done, and on Ctrl-C through `onTemp`), the SQL run, the rows written as a table or JSON lines.
 */
export async function analyticsOverArchives(
  store: S3BlobStore,
  sql: string,
  opts: {
    json?: boolean;
    write: (text: string) => void;
    progress?: (l: string) => void;
    onTemp?: (remove: () => Promise<void>) => () => void;
  },
): Promise<QueryResult> {
  const tmp = await archiveTempDir();
  const forget = opts.onTemp?.(tmp.remove);
  try {
    const t0 = Date.now();
    const got = await downloadArchives(store, tmp.dir);
    if (!got.objects)
      throw new Error("no Parquet archive yet (months older than 90 days are archived by the daily job: npm run archive -- run)");
    opts.progress?.(
      `${got.objects} Parquet ${got.objects === 1 ? "object" : "objects"} (${(got.bytes / 1048576).toFixed(1)} MiB) fetched in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const c = await openHistory(tmp.dir);
    const t1 = Date.now();
    const result = await runSql(c, sql);
    c.closeSync();
    if (opts.json) for (const r of result.rows) opts.write(JSON.stringify(r));
    else opts.write(formatTable(result));
    opts.progress?.(`${result.rows.length} ${result.rows.length === 1 ? "row" : "rows"} in ${((Date.now() - t1) / 1000).toFixed(2)} s`);
    return result;
  } finally {
    await tmp.remove();
    forget?.();
  }
}
