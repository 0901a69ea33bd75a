import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseCsv } from "csv-parse/sync";
import readXlsxFile from "read-excel-file/node";
import { parquetReadObjects } from "hyparquet";
import { DuckDBInstance } from "@duckdb/node-api";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { type PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import { S3BlobStore, archivePartition, type S3BlobStore as Store } from "@hitl/core/backup";
import {
  exportJobDeps,
  inProcessExportStarter,
  runExport,
  INTERACTION_EXPORT_COLUMNS,
  isoTimestamp,
  type ExportJobDeps,
  type ExportSourceFactory,
} from "@hitl/core/exports";
import { createTestContext, stack, type TestContext } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";
import { seedInteractions } from "./support/analytics-seed.js";

let t: TestContext;
let store: Store;
let bucket: string;
let deps: ExportJobDeps & { reader: PoolDb };
let starter: ReturnType<typeof inProcessExportStarter>;
let dir: string;
const json = async (res: Response) => (await res.json()) as any;
/** Interactions in the live table plus the archived month (July 2025). */
let liveRows = 0;
const ARCHIVED = 3;

beforeAll(async () => {
  const b = await createTestBucket();
  store = b.store;
  bucket = b.bucket;
  t = await createTestContext({ S3_BUCKET: b.bucket });
  useLocalNeonProxy(stack().neonProxyUrl);
  deps = { ...exportJobDeps(t.config, t.services.db), store };
  starter = inProcessExportStarter(deps);
  t.services.exportStarter = starter;
  dir = await mkdtemp(join(tmpdir(), "hitl-exports-"));
  await seedInteractions(t.databaseUrl, { n: 240, days: 20, users: 9 });
  // A month archived the way the Archive job does it: exported to S3 and dropped from Postgres.
  await withPg(t.databaseUrl, async (c) => {
    await c.query("SELECT hitl_ensure_interaction_partitions(date '2025-07-01', 1)");
    await c.query(`INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, review_status, quality_score, edit_tags, final_bubbles, llm2_bubbles)
      VALUES ('old1', 'old1_c', 'from july, "quoted", with comma', '2025-07-03T10:00:00Z', '2025-07-03T10:00:00Z', 'approved', 5, '{TONE_CASUAL}', '{"a reply"}', '{"a draft"}'),
             ('old2', 'old2_c', E'line\\nbreak', '2025-07-15T10:00:00Z', '2025-07-15T10:00:00.123Z', 'pending', NULL, '{}', NULL, '{}'),
             ('old1', 'old1_c', 'second', '2025-07-20T10:00:00Z', '2025-07-20T10:00:00Z', 'rejected', NULL, '{}', NULL, '{}')`);
  });
  await archivePartition({ db: t.services.db, reader: deps.reader, hasher: t.services.hasher, store }, "interactions_2025_07");
  liveRows = await withPg(t.databaseUrl, async (c) => Number((await c.query("SELECT count(*) AS n FROM interactions")).rows[0].n));
}, 60_000);
afterAll(async () => {
  await starter?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** POST an export, wait for its in-process job, and GET it. */
async function exportVia(body: unknown, headers: Record<string, string> = {}) {
  const res = await t.call("POST", "/v1/exports", { key: t.keys.admin, body, headers });
  expect(res.status).toBe(202);
  const created = await json(res);
  await starter.idle();
  const got = await json(await t.call("GET", `/v1/exports/${created.id}`, { key: t.keys.admin }));
  return { created, got };
}
/** The file behind a presigned URL (fetched as a browser would, no credentials). */
async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}
const keysUnder = async (id: string) => (await store.list(`exports/${id}/`)).map((o) => o.key);
const sqlCount = (where: string, params: unknown[] = []) =>
  withPg(t.databaseUrl, async (c) => Number((await c.query(`SELECT count(*) AS n FROM interactions WHERE ${where}`, params)).rows[0].n));

describe("exports: formats read back by independent readers", () => {
  it("csv: every live and archived row, progress at its total, a presigned URL that downloads the bytes (csv-parse)", async () => {
    const { created, got } = await exportVia({ dataset: "interactions", format: "csv" });
    expect(created.state).toMatch(/queued|running/);
    expect(got).toMatchObject({ state: "done", rows_done: liveRows + ARCHIVED, rows_total: liveRows + ARCHIVED, error: null });
    expect(got.download_url).toMatch(/^http/);
    expect(Date.parse(got.download_expires_at) - Date.now()).toBeGreaterThan(14 * 60_000);
    const bytes = await download(got.download_url);
    expect(bytes.length).toBe(got.bytes);
    const records = parseCsv(bytes, { columns: true }) as Record<string, string>[];
    expect(records).toHaveLength(liveRows + ARCHIVED);
    expect(Object.keys(records[0]!)).toEqual(INTERACTION_EXPORT_COLUMNS.map((c) => c.name));
    const july = records.filter((r) => r.user_id === "old1" || r.user_id === "old2");
    expect(july.map((r) => r.user_message).sort()).toEqual(['from july, "quoted", with comma', "line\nbreak", "second"]);
    const first = july.find((r) => r.user_message?.startsWith("from july"))!;
    expect(JSON.parse(first.edit_tags!)).toEqual(["TONE_CASUAL"]);
    expect(first.created_at).toBe("2025-07-03T10:00:00.000Z");
    expect(await keysUnder(got.id)).toEqual([`exports/${got.id}/interactions.csv`]);
  });

  it("ndjson: filters applied (statuses, quality, tags, models) over live and archived rows alike", async () => {
    const filters = { review_status: ["approved"], quality_min: 3, edit_tags: ["TONE_CASUAL"] };
    const { got } = await exportVia({ dataset: "interactions", format: "ndjson", filters });
    expect(got.state).toBe("done");
    const lines = (await download(got.download_url))
      .toString("utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    const live = await sqlCount("review_status = 'approved' AND quality_score >= 3 AND edit_tags @> '{TONE_CASUAL}'");
    expect(live).toBeGreaterThan(0);
    expect(lines).toHaveLength(live + 1); // + old1's approved, quality 5, TONE_CASUAL row of July
    for (const l of lines) {
      expect(l.review_status).toBe("approved");
      expect(l.quality_score).toBeGreaterThanOrEqual(3);
      expect(l.edit_tags).toContain("TONE_CASUAL");
    }
    expect(got.rows_done).toBe(lines.length);
    // Live and archived lines alike: the columns in order, times as the API gives them.
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(INTERACTION_EXPORT_COLUMNS.map((c) => c.name));
      expect(l.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    // A date range over the archived month only, and a user filter.
    const july = await exportVia({
      dataset: "interactions",
      format: "ndjson",
      filters: { from: "2025-07-01T00:00:00Z", to: "2025-08-01T00:00:00Z", user_id: "old1" },
    });
    const rows = (await download(july.got.download_url))
      .toString()
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.user_message).sort()).toEqual(['from july, "quoted", with comma', "second"]);
  });

  it("xlsx: read back by read-excel-file (not the writer's library); past a sheet's row limit the rows go on in a new sheet", async () => {
    const { got } = await exportVia({ dataset: "interactions", format: "xlsx", filters: { to: "2025-08-01T00:00:00Z" } });
    expect(got.state).toBe("done");
    const xlsx = await download(got.download_url);
    expect(xlsx.length).toBe(got.bytes);
    const sheets = await readXlsxFile(xlsx);
    expect(sheets).toHaveLength(1);
    const [header, ...data] = sheets[0]!.data;
    expect(header).toEqual(INTERACTION_EXPORT_COLUMNS.map((c) => c.name));
    expect(data).toHaveLength(ARCHIVED);
    const col = (n: string) => header!.indexOf(n);
    expect(data.map((r) => r[col("user_message")]).sort()).toEqual(['from july, "quoted", with comma', "line\nbreak", "second"]);
    const created = data.map((r) => r[col("created_at")]);
    expect(created.every((d) => d instanceof Date)).toBe(true);
    // The sheet limit, shrunk to 100 rows: 100 + 100 + the rest, each sheet with its header.
    const id = await queued("xlsx", {});
    const r = await runExport({ ...deps, writer: { sheetRows: 100 } }, id);
    expect(r.status).toBe("done");
    const split = await readXlsxFile(await store.get(`exports/${id}/interactions.xlsx`).then((b) => b!));
    expect(split.map((s) => s.sheet)).toEqual(["interactions", "interactions (2)", "interactions (3)"]);
    expect(split.map((s) => s.data.length - 1)).toEqual([100, 100, liveRows + ARCHIVED - 200]);
    expect(split.every((s) => s.data[0]![0] === "id")).toBe(true);
  });

  it("parquet: read back by hyparquet and by DuckDB, in small row groups", async () => {
    const id = await queued("parquet", {});
    const r = await runExport({ ...deps, writer: { rowGroupRows: 64 } }, id);
    expect(r, JSON.stringify(r)).toMatchObject({ status: "done" });
    const bytes = (await store.get(`exports/${id}/interactions.parquet`))!;
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    const rows = (await parquetReadObjects({ file: ab })) as Record<string, unknown>[];
    expect(rows).toHaveLength(liveRows + ARCHIVED);
    const old = rows.find((x) => x.user_message === 'from july, "quoted", with comma')!;
    expect(old.quality_score).toBe(5n);
    expect(old.edit_tags).toEqual(["TONE_CASUAL"]);
    expect((old.created_at as Date).toISOString()).toBe("2025-07-03T10:00:00.000Z");
    const file = join(dir, "x.parquet");
    await writeFile(file, bytes);
    const duck = await DuckDBInstance.create(":memory:");
    const conn = await duck.connect();
    try {
      const res = await conn.runAndReadAll(
        `SELECT count(*)::INT AS n, count(*) FILTER (WHERE review_status = 'approved')::INT AS approved, max(quality_score)::INT AS q,
          count(DISTINCT user_id)::INT AS users, min(created_at)::VARCHAR AS first FROM read_parquet('${file}')`,
      );
      const [row] = res.getRowObjects();
      expect(row).toMatchObject({
        n: liveRows + ARCHIVED,
        approved: (await sqlCount("review_status = 'approved'")) + 1,
        q: 5,
        first: "2025-07-03 10:00:00",
      });
      const groups = await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id)::INT AS g FROM parquet_metadata('${file}')`);
      expect(groups.getRowObjects()[0]!.g).toBe(Math.ceil((liveRows + ARCHIVED) / 64));
    } finally {
      conn.closeSync();
      duck.closeSync();
    }
  });
});

/** An export row, queued, as POST /v1/exports records it (without starting it). */
async function queued(format: string, filters: object): Promise<string> {
  const id = crypto.randomUUID();
  await withPg(t.databaseUrl, (c) =>
    c.query("INSERT INTO exports (id, dataset, format, filters, created_by, object_key) VALUES ($1, 'interactions', $2, $3, 'test', $4)", [
      id,
      format,
      JSON.stringify(filters),
      `exports/${id}/interactions.${format}`,
    ]),
  );
  return id;
}

describe("exports: timestamps", () => {
  it("timestamptz text (UTC session) becomes toISOString's form, whatever its fraction", () => {
    for (const iso of ["2025-07-15T10:00:00.000Z", "2025-07-15T10:00:00.100Z", "2025-07-15T10:00:00.120Z", "2025-07-15T10:00:00.123Z"]) {
      const pg = `${iso.slice(0, 10)} ${iso.slice(11, 23).replace(/\.?0+$/, "")}+00`;
      expect(isoTimestamp(pg), pg).toBe(iso);
    }
    expect(isoTimestamp("2025-07-15 10:00:00.123456+00")).toBe("2025-07-15T10:00:00.123Z");
    expect(isoTimestamp("2025-07-15T12:00:00+02:00")).toBe("2025-07-15T10:00:00.000Z");
    expect(isoTimestamp(null)).toBeNull();
  });
});

describe("exports: the job is retry-safe and says why it failed", () => {
  it("a retried or duplicated invocation writes one object; a done export is not run again", async () => {
    const id = await queued("csv", { user_id: "u1" });
    const [a, b] = await Promise.all([runExport({ ...deps, holder: "one" }, id), runExport({ ...deps, holder: "two" }, id)]);
    expect([a.status, b.status].sort()).toEqual(["done", "skipped"]);
    const again = await runExport({ ...deps, holder: "one" }, id);
    expect(again).toMatchObject({ status: "skipped", reason: "the export is done" });
    expect(await keysUnder(id)).toEqual([`exports/${id}/interactions.csv`]);
  });

  it("a run that died is restarted after its lease, writing the same key", async () => {
    const id = await queued("ndjson", {});
    await withPg(t.databaseUrl, (c) =>
      c.query(
        "UPDATE exports SET state = 'running', lease_holder = 'dead', lease_expires_at = now() + interval '1 minute', attempts = 1 WHERE id = $1",
        [id],
      ),
    );
    expect((await runExport(deps, id)).status).toBe("skipped");
    await withPg(t.databaseUrl, (c) => c.query("UPDATE exports SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [id]));
    expect(await runExport(deps, id)).toMatchObject({ status: "done", rows: liveRows + ARCHIVED });
    expect(await keysUnder(id)).toEqual([`exports/${id}/interactions.ndjson`]);
  });

  it("S3 failing: the export fails and says why", async () => {
    const s = stack();
    const broken = new S3BlobStore({
      bucket: `${bucket}-missing`,
      region: "us-east-1",
      endpoint: s.s3Endpoint,
      credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey },
    });
    const id = await queued("csv", {});
    const r = await runExport({ ...deps, store: broken }, id);
    expect(r.status).toBe("failed");
    const got = await json(await t.call("GET", `/v1/exports/${id}`, { key: t.keys.admin }));
    expect(got).toMatchObject({ state: "failed", download_url: null });
    expect(got.error).toMatch(/NoSuchBucket|bucket/i);
  });

  it("a source that fails midway: failed with its reason, no object left", async () => {
    const failing: ExportSourceFactory = () => ({
      columns: INTERACTION_EXPORT_COLUMNS,
      formats: ["csv"],
      count: async () => 10,
      async *rows() {
        yield { id: "x", user_id: "u1" };
        throw new Error("the archive of 2025_07 is unreadable");
      },
    });
    const id = await queued("csv", {});
    const r = await runExport({ ...deps, sources: { interactions: failing } }, id);
    expect(r).toMatchObject({ status: "failed", reason: "Error: the archive of 2025_07 is unreadable" });
    expect(await keysUnder(id)).toEqual([]);
  });
});

describe("exports: API", () => {
  it("bad bodies are 400 with the issues; nothing is recorded", async () => {
    const before = await withPg(t.databaseUrl, async (c) => Number((await c.query("SELECT count(*) AS n FROM exports")).rows[0].n));
    const bad = [
      { dataset: "chat_finetune", format: "csv" },
      { dataset: "interactions", format: "pdf" },
      { dataset: "everything", format: "csv" },
      { dataset: "interactions" },
      { dataset: "interactions", format: "csv", filters: { quality_min: 4, quality_max: 2 } },
      { dataset: "interactions", format: "csv", filters: { from: "yesterday" } },
      { dataset: "interactions", format: "csv", filters: { sql: "DROP TABLE x" } },
      { dataset: "interactions", format: "csv", extra: 1 },
    ];
    for (const body of bad) {
      const res = await t.call("POST", "/v1/exports", { key: t.keys.admin, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).error.code).toBe("invalid_request");
    }
    const format = await json(await t.call("POST", "/v1/exports", { key: t.keys.admin, body: bad[0] }));
    expect(JSON.stringify(format.error.details)).toContain("ndjson only");
    expect((await t.call("GET", "/v1/exports/not-a-uuid", { key: t.keys.admin })).status).toBe(400);
    expect((await t.call("GET", `/v1/exports/${crypto.randomUUID()}`, { key: t.keys.admin })).status).toBe(404);
    expect((await t.call("POST", "/v1/exports", { key: t.keys.reviewer, body: { dataset: "interactions", format: "csv" } })).status).toBe(
      403,
    );
    const after = await withPg(t.databaseUrl, async (c) => Number((await c.query("SELECT count(*) AS n FROM exports")).rows[0].n));
    expect(after).toBe(before);
  });

  it("Idempotency-Key: a retry answers the same export; the same key with another body is 422", async () => {
    const body = { dataset: "interactions", format: "ndjson", filters: { user_id: "u2" } };
    const headers = { "idempotency-key": `exp-${crypto.randomUUID()}` };
    const a = await json(await t.call("POST", "/v1/exports", { key: t.keys.admin, body, headers }));
    await starter.idle();
    const b = await t.call("POST", "/v1/exports", { key: t.keys.admin, body, headers });
    expect(b.status).toBe(202);
    expect((await json(b)).id).toBe(a.id);
    const c = await t.call("POST", "/v1/exports", { key: t.keys.admin, body: { ...body, format: "csv" }, headers });
    expect(c.status).toBe(422);
    expect(await keysUnder(a.id)).toHaveLength(1);
  });

  it("a job that cannot be started: 503, and the export says why", async () => {
    t.services.exportStarter = {
      start: async () => {
        throw new Error("the export function refused the invocation: HTTP 429");
      },
    };
    try {
      const res = await t.call("POST", "/v1/exports", { key: t.keys.admin, body: { dataset: "interactions", format: "csv" } });
      expect(res.status).toBe(503);
      const [row] = await withPg(
        t.databaseUrl,
        async (c) => (await c.query("SELECT id FROM exports ORDER BY created_at DESC LIMIT 1")).rows,
      );
      const got = await json(await t.call("GET", `/v1/exports/${row.id}`, { key: t.keys.admin }));
      expect(got).toMatchObject({ state: "failed", download_url: null });
      expect(got.error).toMatch(/could not be started: the export function refused the invocation: HTTP 429/);
    } finally {
      t.services.exportStarter = starter;
    }
  });

  it("lists exports newest first, keyset-paged; expired after 7 days (no URL)", async () => {
    const page1 = await json(await t.call("GET", "/v1/exports?limit=2", { key: t.keys.admin }));
    expect(page1.items).toHaveLength(2);
    expect(page1.next_cursor).toBeTruthy();
    const page2 = await json(await t.call("GET", `/v1/exports?limit=2&cursor=${page1.next_cursor}`, { key: t.keys.admin }));
    const ids = [...page1.items, ...page2.items].map((i: { id: string }) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Date.parse(page1.items[1].created_at)).toBeGreaterThanOrEqual(Date.parse(page2.items[0].created_at));
    const id = await queued("csv", { user_id: "u3" });
    await runExport(deps, id);
    await withPg(t.databaseUrl, (c) => c.query("UPDATE exports SET finished_at = now() - interval '8 days' WHERE id = $1", [id]));
    const got = await json(await t.call("GET", `/v1/exports/${id}`, { key: t.keys.admin }));
    expect(got).toMatchObject({ state: "expired", download_url: null });
    expect(got.error).toMatch(/expired/);
  });
});

describe("exports: GDPR erasure", () => {
  it("erasing a user deletes every export holding them (GET says erased) and leaves the others", async () => {
    const withA = await exportVia({ dataset: "interactions", format: "csv", filters: { user_id: "u4" } });
    const withoutA = await exportVia({ dataset: "interactions", format: "csv", filters: { user_id: "u5" } });
    expect(withA.got.state).toBe("done");
    expect(withA.got.rows_done).toBeGreaterThan(0);
    const erased = await json(await t.call("DELETE", "/v1/users/u4", { key: t.keys.admin }));
    // u4's own export, and the earlier whole-table exports (they hold u4 too).
    const holding = await withPg(t.databaseUrl, async (c) =>
      Number(
        (await c.query("SELECT count(DISTINCT export_id) AS n FROM export_users WHERE user_hash = $1", [t.services.hasher.hash("u4")]))
          .rows[0].n,
      ),
    );
    expect(holding).toBeGreaterThanOrEqual(1);
    expect(erased.deleted.postgres.exports).toBe(holding);
    expect(await keysUnder(withA.got.id)).toEqual([]);
    const a = await json(await t.call("GET", `/v1/exports/${withA.got.id}`, { key: t.keys.admin }));
    expect(a).toMatchObject({ state: "erased", download_url: null, filters: { user_id: "erased" } });
    expect(a.error).toMatch(/erased/);
    const b = await json(await t.call("GET", `/v1/exports/${withoutA.got.id}`, { key: t.keys.admin }));
    expect(b.state).toBe("done");
    expect((await download(b.download_url)).length).toBe(b.bytes);
  });

  it("an export running during the erasure does not end up holding the user", async () => {
    // A source that pauses after its first rows (one of them the user's) until the erasure is done.
    let resume!: () => void;
    const paused = new Promise<void>((r) => (resume = r));
    let reached!: () => void;
    const atPause = new Promise<void>((r) => (reached = r));
    const slow: ExportSourceFactory = () => ({
      columns: INTERACTION_EXPORT_COLUMNS,
      formats: ["ndjson"],
      count: async () => 3,
      async *rows() {
        yield { id: "1", user_id: "u6", user_message: "hello" };
        yield { id: "2", user_id: "u7", user_message: "other" };
        reached();
        await paused;
        yield { id: "3", user_id: "u7", user_message: "after" };
      },
    });
    const id = await queued("ndjson", {});
    const run = runExport({ ...deps, sources: { interactions: slow } }, id);
    await atPause;
    expect((await t.call("DELETE", "/v1/users/u6", { key: t.keys.admin })).status).toBe(200);
    resume();
    expect(await run).toMatchObject({ status: "erased" });
    expect(await keysUnder(id)).toEqual([]);
    const got = await json(await t.call("GET", `/v1/exports/${id}`, { key: t.keys.admin }));
    expect(got).toMatchObject({ state: "erased", download_url: null });
    // An export started after the erasure does not contain the user (live rows are gone).
    const later = await exportVia({ dataset: "interactions", format: "ndjson", filters: { user_id: "u6" } });
    expect(later.got).toMatchObject({ state: "done", rows_done: 0 });
  });
});

describe("exports: training datasets end to end (API, job, presigned download, JSON Schema)", () => {
  type Validate = ((data: unknown) => boolean) & { errors?: unknown };
  type Ajv = { compile(schema: unknown): Validate };
  const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as new (o: object) => Ajv;
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => void;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTuples: false });
  addFormats(ajv);
  const schemaOf = (name: string): Validate =>
    ajv.compile(JSON.parse(readFileSync(new URL(`../docs/datasets/${name}.schema.json`, import.meta.url), "utf8")));
  const SCHEMAS = { chat_finetune: schemaOf("chat_finetune"), preference_pairs: schemaOf("preference_pairs") };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    // Two users' conversations, a few minutes old: reviewed turns (edited and not), a rejected and a pending one.
    await withPg(t.databaseUrl, async (c) => {
      await c.query("SELECT hitl_ensure_interaction_partitions((now() - interval '1 day')::date, 2)");
      const turns: [string, string, string, string[], string[] | null, string, string[], number | null][] = [
        ["tr_a", "a1", "alpha first question", ["hello", "there"], ["hello", "there"], "approved", [], 5],
        ["tr_a", "a2", "alpha second question", ["a draft"], ["an edited reply"], "approved", ["TONE_CASUAL"], 3],
        ["tr_a", "a3", "alpha rejected", ["bad draft"], null, "rejected", [], null],
        ["tr_a", "a4", 'alpha third question ü 🎉 "q"', ["draft three"], ["edited three"], "approved", ["CTA_SOFT"], 4],
        ["tr_a", "a5", "alpha pending", ["pending draft"], null, "pending", [], null],
        ["tr_b", "b1", "beta question", ["b draft"], ["b edited"], "approved", ["TONE_CASUAL"], 2],
      ];
      for (const [i, [user, tag, msg, draft, final, status, tags, quality]] of turns.entries()) {
        const { rows } = await c.query(
          `INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, llm2_bubbles, final_bubbles,
             review_status, edit_tags, quality_score, llm1_model, llm2_model, messages_sent_at, review_completed_at)
           VALUES ($1, $1 || '_c', $2, now() - make_interval(mins => 30 - $3), now() - make_interval(mins => 30 - $3), $4, $5, $6, $7, $8,
             'm1', 'm2', CASE WHEN $6 = 'approved' THEN now() END, CASE WHEN $6 IN ('approved', 'rejected') THEN now() END) RETURNING id::text AS id`,
          [user, msg, i, draft, final, status, tags, quality],
        );
        ids[tag] = rows[0].id;
      }
    });
  });

  /** An export of `dataset` as ndjson through the API, done, downloaded by its presigned URL, every line checked against its schema. */
  async function trainingExport(dataset: "chat_finetune" | "preference_pairs", filters: Record<string, unknown> = {}) {
    const { got } = await exportVia({ dataset, format: "ndjson", filters });
    expect(got).toMatchObject({ state: "done", error: null, dataset, format: "ndjson" });
    const text = (await download(got.download_url)).toString("utf8");
    expect(text.endsWith("\n")).toBe(true);
    const lines = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.length).toBe(got.rows_done);
    for (const l of lines) {
      const validate = SCHEMAS[dataset];
      expect(validate(l), JSON.stringify(validate.errors)).toBe(true);
      // The job's internal field (the user, for erasure) is never written.
      expect(Object.keys(l)).not.toContain("user_id");
    }
    expect(text).not.toContain('"user_id"');
    expect(text).not.toMatch(/tr_a|tr_b/);
    return { got, lines, byId: new Map(lines.map((l) => [l.metadata.interaction_id as string, l])) };
  }

  it("a training dataset asked as csv (or any other format than ndjson) is a 400", async () => {
    for (const dataset of ["chat_finetune", "preference_pairs"])
      for (const format of ["csv", "xlsx", "parquet"]) {
        const res = await t.call("POST", "/v1/exports", { key: t.keys.admin, body: { dataset, format } });
        expect(res.status, `${dataset} ${format}`).toBe(400);
        expect((await json(res)).error.code).toBe("invalid_request");
      }
  });

  it("chat_finetune and preference_pairs over the whole table: every line valid; the reviewed turns with their context; erasing a user erases the exports holding them", async () => {
    const chat = await trainingExport("chat_finetune");
    // Approved turns only (live seeds, the archived July month, and ours), edited or not.
    expect([ids.a1, ids.a2, ids.a4, ids.b1].every((id) => chat.byId.has(id!))).toBe(true);
    expect([ids.a3, ids.a5].some((id) => chat.byId.has(id!))).toBe(false);
    const a1 = chat.byId.get(ids.a1!)!;
    expect(a1.metadata).toMatchObject({ edited: false, quality_score: 5, context_turns: 0, bubbles: 2, sent: true });
    expect(a1.messages).toEqual([
      { role: "user", content: "alpha first question" },
      { role: "assistant", content: expect.stringContaining("hello") },
    ]);
    const a4 = chat.byId.get(ids.a4!)!;
    expect(a4.metadata).toMatchObject({ edited: true, edit_tags: ["CTA_SOFT"], quality_score: 4 });
    expect(a4.metadata.context_turns).toBeGreaterThanOrEqual(2);
    // Earlier turns of the same user come first, oldest first; the approved (edited) reply last.
    const contents = (a4.messages as { role: string; content: string }[]).map((m) => m.content);
    expect(contents.indexOf("alpha first question")).toBeLessThan(contents.indexOf("alpha second question"));
    expect(contents).toContain("an edited reply");
    // The rejected turn's message goes with the next reviewed one.
    expect(a4.messages.at(-2)).toEqual({ role: "user", content: 'alpha rejected\nalpha third question ü 🎉 "q"' });
    expect(a4.messages.at(-1)).toEqual({ role: "assistant", content: "edited three" });

    const pairs = await trainingExport("preference_pairs");
    // Edited turns only: the reviewer's reply chosen over the draft.
    expect(pairs.byId.has(ids.a1!)).toBe(false);
    expect(pairs.byId.get(ids.a2!)).toMatchObject({
      chosen: [{ role: "assistant", content: "an edited reply" }],
      rejected: [{ role: "assistant", content: "a draft" }],
      metadata: { edit_tags: ["TONE_CASUAL"], context_turns: 1 },
    });
    expect(pairs.byId.get(ids.a4!)!.prompt.at(-1)).toEqual({ role: "user", content: 'alpha rejected\nalpha third question ü 🎉 "q"' });
    expect(pairs.byId.has(ids.b1!)).toBe(true);

    // One user's export, and another without them.
    const onlyB = await trainingExport("chat_finetune", { user_id: "tr_b" });
    expect(onlyB.lines.map((l) => l.metadata.interaction_id)).toEqual([ids.b1]);
    const onlyA = await trainingExport("preference_pairs", { user_id: "tr_a" });
    expect(onlyA.lines.map((l) => l.metadata.interaction_id).sort()).toEqual([ids.a2, ids.a4].sort());

    const erased = await json(await t.call("DELETE", "/v1/users/tr_b", { key: t.keys.admin }));
    expect(erased.deleted.postgres.exports).toBeGreaterThanOrEqual(3);
    for (const e of [chat, pairs, onlyB]) {
      const got = await json(await t.call("GET", `/v1/exports/${e.got.id}`, { key: t.keys.admin }));
      expect(got, e.got.dataset).toMatchObject({ state: "erased", download_url: null });
      expect(await keysUnder(e.got.id)).toEqual([]);
    }
    const kept = await json(await t.call("GET", `/v1/exports/${onlyA.got.id}`, { key: t.keys.admin }));
    expect(kept.state).toBe("done");
    expect((await download(kept.download_url)).length).toBe(kept.bytes);
    // A training export after the erasure holds nothing of the user.
    const after = await trainingExport("chat_finetune");
    expect(after.byId.has(ids.b1!)).toBe(false);
    expect(after.byId.has(ids.a4!)).toBe(true);
  });
});

describe("npm run export (the CLI)", () => {
  it("--help runs nothing, a wrong flag prints the usage; an export of the local stack with progress, one summary line and --out", async () => {
    const { execFile } = await import("node:child_process");
    const { readFile, readdir } = await import("node:fs/promises");
    const data = await mkdtemp(join(tmpdir(), "hitl-export-cli-"));
    try {
      const cli = (...args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            ["--import", "tsx", "scripts/export-cli.ts", ...args],
            { env: { ...process.env, DATA_DIR: data, DATABASE_URL: "", HITL_MODE: "" }, timeout: 60_000 },
            (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
      expect(await cli("--help")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: npm run export/) });
      const typo = await cli("interactions", "--fromat", "csv");
      expect([typo.code, typo.stderr]).toEqual([2, expect.stringMatching(/^Unknown option '--fromat'\n\nusage:/)]);
      const badFormat = await cli("chat_finetune", "--format", "csv");
      expect([badFormat.code, badFormat.stderr]).toEqual([
        2,
        expect.stringMatching(/^format: the chat_finetune dataset is written as ndjson only/),
      ]);
      // Nothing was started by those.
      expect(await readdir(data)).toEqual([]);
      // The local stack as `npm start` records it (this test's database and bucket).
      await writeFile(
        join(data, "stack.json"),
        JSON.stringify({
          ...stack(),
          databaseUrl: t.databaseUrl,
          s3Bucket: bucket,
          apiUrl: "",
          pid: process.pid,
          startedAt: new Date().toISOString(),
        }),
      );
      const out = join(dir, "cli.csv");
      const r = await cli("interactions", "--format", "csv", "--user", "u1", "--status", "approved", "--out", out);
      expect(r.code, r.stderr).toBe(0);
      const expected = await sqlCount("user_id = 'u1' AND review_status = 'approved'");
      expect(r.stdout).toMatch(
        new RegExp(
          `^export \\S+: ${expected} rows?, [\\d.]+ (B|KiB|MiB) of csv in [\\d.]+ s -> exports/\\S+/interactions\\.csv \\(saved to ${out}\\)\\n$`,
        ),
      );
      expect(r.stderr).toMatch(/rows/);
      const rows = parseCsv(await readFile(out), { columns: true }) as Record<string, string>[];
      expect(rows).toHaveLength(expected);
      expect(rows.every((x) => x.user_id === "u1" && x.review_status === "approved")).toBe(true);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  }, 120_000);
});
