import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import {
  archiveColumns,
  archiveManifest,
  archiveOldPartitions,
  archivePartition,
  convertLegacyArchives,
  eraseArchivedUsers,
  GLUE_TYPES,
  legacyArchivePrefix,
  manifestText,
  newSetId,
  readArchive,
  type S3BlobStore,
} from "@hitl/core/backup";
import { HISTORY_COLUMNS, HISTORY_QUERIES, historyQuery } from "@hitl/core/analytics/history-queries";
import { analyticsOverArchives, archiveTempDir, downloadArchives, openHistory, runSql } from "../scripts/duckdb-history.js";
import { createTestContext, stack, type TestContext } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";

let t: TestContext;
let store: S3BlobStore;
let reader: PoolDb;
const temps: (() => Promise<void>)[] = [];
beforeAll(async () => {
  const b = await createTestBucket();
  store = b.store;
  t = await createTestContext({ S3_BUCKET: b.bucket });
  useLocalNeonProxy(stack().neonProxyUrl);
  reader = new PoolDb(t.databaseUrl);
});
afterAll(async () => {
  await reader.end();
  for (const remove of temps) await remove();
});
const deps = () => ({ db: t.services.db, reader, hasher: t.services.hasher, store });

/** A seeded-random generator: the rows differ by seed, never by run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Seeded {
  id: string;
  user_id: string;
  created_at: string;
  review_status: string;
  quality_score: number | null;
  review_time_seconds: number | null;
  edit_tags: string[];
  llm1_model: string | null;
  llm2_model: string;
  llm1_tokens_used: number | null;
  llm2_tokens_used: number;
  llm1_cost_usd: number | null;
  llm2_cost_usd: number;
  customer_status: string;
  [k: string]: unknown;
}

const MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04"];
const TAGS = ["tone", "facts", "length", "emoji ✓"];
const STATUSES = ["PROSPECT", "LEAD_QUALIFIED", "CUSTOMER", "CHURNED", "LEAD_EXHAUSTED"];

/** Rows spread over the months, with every column kind: nulls, arrays, JSON, unicode, microseconds. */
function seedRows(n: number): Seeded[] {
  const r = rng(28);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const month = MONTHS[i % MONTHS.length]!;
    const day = String(1 + Math.floor(r() * 27)).padStart(2, "0");
    // Unique instants (the funnel takes each user's last one of the month), with microseconds.
    const created = `${month}-${day}T${String(Math.floor(r() * 24)).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}:${String(Math.floor(i / 60) % 60).padStart(2, "0")}.${String(100000 + i).slice(-6)}Z`;
    const status = pick(["pending", "approved", "approved", "rejected"]);
    const reviewed = status !== "pending";
    const draft = [`draft ${i}`, "second bubble"];
    return {
      id: randomUUID(),
      message_id: `m-${i}`,
      user_id: `u${i % 17}`,
      chat_id: i % 5 === 0 ? "@channel" : String(1000 + i),
      conversation_id: `c-${i % 23}`,
      user_message: `hello "${i}" — ünïcödé\nline`,
      user_message_timestamp: created,
      llm1_model: i % 7 === 0 ? null : pick(["gpt-a", "gpt-b"]),
      llm2_model: pick(["claude-x", "claude-y"]),
      llm1_tokens_used: i % 7 === 0 ? null : 100 + Math.floor(r() * 900),
      llm2_tokens_used: 50 + Math.floor(r() * 500),
      llm1_cost_usd: i % 7 === 0 ? null : Math.round(r() * 5000) / 1e6,
      llm2_cost_usd: Math.round(r() * 9000) / 1e6,
      llm2_bubbles: draft,
      review_status: status,
      quality_score: reviewed && r() < 0.8 ? 1 + Math.floor(r() * 5) : null,
      review_time_seconds: reviewed && r() < 0.9 ? Math.floor(r() * 600) : null,
      final_bubbles: status === "approved" ? (r() < 0.5 ? draft : [`edited ${i}`]) : null,
      edit_tags: reviewed ? TAGS.filter(() => r() < 0.35) : [],
      cta_data: i % 3 === 0 ? { type: "link", url: `https://e.example/${i}`, n: 1.5 } : null,
      customer_status: pick(STATUSES),
      telegram_message_id: 2 ** 40 + i,
      is_recovered_message: i % 11 === 0,
      created_at: created,
    };
  });
}

const rows = seedRows(800);
const monthOf = (s: Seeded) => s.created_at.slice(0, 7);
const dayOf = (s: Seeded) => s.created_at.slice(0, 10);

/** The archive of 2025-04 as the NDJSON archives were written before Parquet (the legacy format). */
async function writeLegacyArchive(partition: string) {
  const lines = await withPg(t.databaseUrl, async (c) =>
    (await c.query(`SELECT row_to_json(i)::text AS j FROM ONLY ${partition} i ORDER BY created_at`)).rows.map((x) => x.j as string),
  );
  const prefix = legacyArchivePrefix(partition);
  // Two objects, as ARCHIVE_OBJECT_ROWS splits a month.
  const halves = [lines.slice(0, 100), lines.slice(100)];
  const objects = [];
  for (const [i, part] of halves.entries()) {
    const body = gzipSync(part.join("\n") + "\n");
    const key = `${prefix}part-${String(i).padStart(4, "0")}.ndjson.gz`;
    await store.put(key, body, "application/x-ndjson+gzip");
    const users = [...new Set(part.map((l) => t.services.hasher.hash(JSON.parse(l).user_id)))];
    objects.push({ key, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex"), rows: part.length, users });
  }
  const now = new Date("2025-09-01T00:00:00Z");
  const manifest = {
    format: 1 as const,
    kind: "archive" as const,
    id: newSetId(now),
    prefix,
    started_at: now.toISOString(),
    finished_at: now.toISOString(),
    objects: objects.map(({ users: _u, ...o }) => o),
    totals: { objects: 2, bytes: objects.reduce((s, o) => s + o.bytes, 0), rows: lines.length },
  };
  await store.put(`${prefix}manifest.json`, manifestText(manifest), "application/json");
  await t.services.db.transaction([
    {
      text: "INSERT INTO archived_partitions (partition, prefix, rows, bytes) VALUES ($1, $2, $3, $4)",
      params: [partition, prefix, lines.length, manifest.totals.bytes],
    },
    ...objects.map((o) => ({
      text: "INSERT INTO archive_objects (key, partition, rows, bytes, sha256) VALUES ($1, $2, $3, $4, $5)",
      params: [o.key, partition, o.rows, o.bytes, o.sha256],
    })),
    ...objects.map((o) => ({
      text: "INSERT INTO archive_users (user_hash, object_key) SELECT unnest($1::text[]), $2",
      params: [o.users, o.key],
    })),
    { text: `ALTER TABLE interactions DETACH PARTITION ${partition}` },
    { text: `DROP TABLE ${partition}` },
  ]);
  return lines;
}

let legacyLines: string[] = [];
let liveLines: Record<string, string[]> = {};

beforeAll(async () => {
  await withPg(t.databaseUrl, async (c) => {
    await c.query("SELECT hitl_ensure_interaction_partitions(date '2025-01-01', 4)");
    const cols = Object.keys(rows[0]!);
    await c.query(
      `INSERT INTO interactions (${cols.join(", ")}) SELECT ${cols.join(", ")} FROM json_populate_recordset(NULL::interactions, $1::json)`,
      [JSON.stringify(rows)],
    );
    liveLines = {};
    for (const m of MONTHS) {
      const p = `interactions_${m.replace("-", "_")}`;
      liveLines[p] = (await c.query(`SELECT row_to_json(i)::text AS j FROM ONLY ${p} i ORDER BY created_at`)).rows.map((x) => x.j);
    }
  });
  legacyLines = await writeLegacyArchive("interactions_2025_04");
  await archivePartition(deps(), "interactions_2025_01", new Date("2025-09-01T00:00:00Z"));
  const out = await archiveOldPartitions({ ...deps(), now: () => new Date("2025-09-01T00:00:00Z") });
  expect(out.archived.map((a) => a.partition)).toEqual(["interactions_2025_02", "interactions_2025_03"]);
}, 120_000);

/** DuckDB over the bucket's archives as `npm run analytics` sees them (downloaded to a temp dir). */
async function duck(): Promise<DuckDBConnection> {
  const tmp = await archiveTempDir();
  temps.push(tmp.remove);
  await downloadArchives(store, tmp.dir);
  return openHistory(tmp.dir);
}
const sorted = <T>(xs: T[], key: (x: T) => string) => [...xs].sort((a, b) => key(a).localeCompare(key(b)));
const avg = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);

describe("archives as Parquet", () => {
  it("each month is a Hive partition of Parquet objects with a checksummed manifest; read back as the rows' JSON", async () => {
    const keys = (await store.list("archives/interactions/")).map((o) => o.key).sort();
    expect(keys).toEqual([
      "archives/interactions/interactions_2025_04/manifest.json",
      "archives/interactions/interactions_2025_04/part-0000.ndjson.gz",
      "archives/interactions/interactions_2025_04/part-0001.ndjson.gz",
      ...["01", "02", "03"].flatMap((m) => [
        `archives/interactions/month=2025-${m}/_manifest.json`,
        `archives/interactions/month=2025-${m}/part-00000.parquet`,
      ]),
    ]);
    for (const p of ["interactions_2025_01", "interactions_2025_02", "interactions_2025_03"]) {
      const m = await archiveManifest(store, p);
      expect(m).toMatchObject({ row_format: "parquet", prefix: `archives/interactions/month=2025-${p.slice(-2)}/` });
      for (const o of m.objects!)
        expect(
          createHash("sha256")
            .update((await store.get(o.key))!)
            .digest("hex"),
        ).toBe(o.sha256);
      const lines: string[] = [];
      await readArchive(store, p, (l) => lines.push(l));
      // readArchive's contract: one JSON text line per row, the fields and values of row_to_json.
      const byId = (ls: string[]) =>
        sorted(
          ls.map((l) => JSON.parse(l) as Record<string, unknown>),
          (r) => r.id as string,
        );
      expect(byId(lines)).toEqual(byId(liveLines[p]!));
    }
    const catalog = await t.services.db.query<{ partition: string; format: string; rows: string }>(
      "SELECT partition, format, rows FROM archived_partitions ORDER BY partition",
    );
    expect(catalog.map((c) => [c.partition, c.format, Number(c.rows)])).toEqual(
      MONTHS.map((m) => [
        `interactions_${m.replace("-", "_")}`,
        m === "2025-04" ? "ndjson" : "parquet",
        rows.filter((r) => monthOf(r) === m).length,
      ]),
    );
  });

  it("the Glue table's columns are the columns the archive writes (a new column must be added to HISTORY_COLUMNS)", async () => {
    const cols = await archiveColumns(t.services.db, "interactions");
    expect(cols.map((c) => ({ name: c.name, type: GLUE_TYPES[c.type] }))).toEqual(HISTORY_COLUMNS);
  });

  it("DuckDB reads the Parquet objects directly, with typed columns and the seeded values", async () => {
    const c = await duck();
    const types = Object.fromEntries(
      (await runSql(c, "DESCRIBE SELECT * FROM interactions")).rows.map((r) => [r.column_name, r.column_type]),
    );
    expect(types).toMatchObject({
      id: "VARCHAR",
      created_at: "TIMESTAMP",
      user_message_timestamp: "TIMESTAMP",
      quality_score: "INTEGER",
      telegram_message_id: "BIGINT",
      total_cost_usd: "DOUBLE",
      ltv_usd: "DOUBLE",
      is_recovered_message: "BOOLEAN",
      edit_tags: "VARCHAR[]",
      final_bubbles: "VARCHAR[]",
      cta_data: "VARCHAR",
      month: "VARCHAR",
    });
    const s = rows.find((r) => monthOf(r) === "2025-02" && r.cta_data && r.final_bubbles && r.edit_tags.length)!;
    const { rows: found } = await runSql(
      c,
      `SELECT month, user_message, CAST(created_at AS VARCHAR) AS created, edit_tags, final_bubbles, cta_data, telegram_message_id, total_cost_usd
      FROM interactions WHERE id = '${s.id}'`,
    );
    const got = found.map((r) => ({ ...r, cta_data: JSON.parse(r.cta_data as string) }));
    expect(got).toEqual([
      {
        month: "2025-02",
        user_message: s.user_message,
        created: s.created_at.replace("T", " ").replace("Z", ""),
        edit_tags: s.edit_tags,
        final_bubbles: s.final_bubbles,
        cta_data: s.cta_data,
        telegram_message_id: s.telegram_message_id,
        total_cost_usd: expect.closeTo((s.llm1_cost_usd ?? 0) + s.llm2_cost_usd, 9),
      },
    ]);
    // Only the Parquet months are in the Hive layout until the NDJSON month is converted.
    expect((await runSql(c, "SELECT DISTINCT month FROM interactions ORDER BY month")).rows.map((r) => r.month)).toEqual([
      "2025-01",
      "2025-02",
      "2025-03",
    ]);
  });
});

describe("the NDJSON archives written before Parquet", () => {
  it("are read as before, and converted by `archive convert` into a verified Parquet set; the old set is deleted", async () => {
    const before: string[] = [];
    await readArchive(store, "interactions_2025_04", (l) => before.push(l));
    expect(before).toEqual(legacyLines);
    // An object that does not match its manifest (here: the same rows gzipped again) stops the
    // conversion, which leaves nothing under month=2025-04/ and the NDJSON set in force.
    const second = "archives/interactions/interactions_2025_04/part-0001.ndjson.gz";
    const original = (await store.get(second))!;
    await store.put(second, gzipSync(gunzipSync(original), { level: 9 }));
    await expect(convertLegacyArchives({ db: t.services.db, store })).rejects.toThrow(/does not match its manifest/);
    expect(await store.list("archives/interactions/month=2025-04/")).toEqual([]);
    await store.put(second, original);
    const out = await convertLegacyArchives({ db: t.services.db, store });
    expect(out.converted).toEqual([
      { partition: "interactions_2025_04", rows: legacyLines.length, ndjson_bytes: expect.any(Number), parquet_bytes: expect.any(Number) },
    ]);
    expect(await store.list("archives/interactions/interactions_2025_04/")).toEqual([]);
    expect((await store.list("archives/interactions/month=2025-04/")).map((o) => o.key).sort()).toEqual([
      "archives/interactions/month=2025-04/_manifest.json",
      "archives/interactions/month=2025-04/part-00000.parquet",
      "archives/interactions/month=2025-04/part-00001.parquet",
    ]);
    const after: string[] = [];
    await readArchive(store, "interactions_2025_04", (l) => after.push(l));
    // Same order, same fields and values (json columns keep their values; jsonb's spacing is not data).
    expect(after.map((l) => JSON.parse(l))).toEqual(legacyLines.map((l) => JSON.parse(l)));
    const [cat] = await t.services.db.query<{ format: string; prefix: string }>(
      "SELECT format, prefix FROM archived_partitions WHERE partition = 'interactions_2025_04'",
    );
    expect(cat).toEqual({ format: "parquet", prefix: "archives/interactions/month=2025-04/" });
    // The user index follows the objects: every user of the month is listed on a Parquet object.
    const indexed = await t.services.db.query<{ object_key: string }>(
      "SELECT DISTINCT object_key FROM archive_users u JOIN archive_objects o ON o.key = u.object_key WHERE o.partition = 'interactions_2025_04' ORDER BY 1",
    );
    expect(indexed.map((x) => x.object_key)).toEqual([
      "archives/interactions/month=2025-04/part-00000.parquet",
      "archives/interactions/month=2025-04/part-00001.parquet",
    ]);
    // Run again: nothing left to convert.
    await expect(convertLegacyArchives({ db: t.services.db, store })).resolves.toEqual({ converted: [] });
  });
});

describe("every named query over history, in DuckDB, against a recount of the seeded rows", () => {
  let c: DuckDBConnection;
  beforeAll(async () => {
    c = await duck();
  });
  const run = async (name: string) => (await runSql(c, historyQuery(name)!.sql)).rows;

  it("every named query is checked below", () => {
    expect(HISTORY_QUERIES.map((q) => q.name).sort()).toEqual(
      ["cost_by_day_and_models", "edit_tags", "funnel_by_month", "quality_by_month", "volume_by_day"].sort(),
    );
    for (const q of HISTORY_QUERIES) expect(q.sql, q.name).not.toMatch(/::|strftime|FILTER\s*\(/i);
  });

  it("volume_by_day", async () => {
    const days = [...new Set(rows.map(dayOf))].sort();
    const expected = days.map((d) => {
      const of = rows.filter((r) => dayOf(r) === d);
      return {
        day: d,
        interactions: of.length,
        approved: of.filter((r) => r.review_status === "approved").length,
        rejected: of.filter((r) => r.review_status === "rejected").length,
        users: new Set(of.map((r) => r.user_id)).size,
      };
    });
    const got = (await run("volume_by_day")).map((r) => ({ ...r, day: String(r.day).slice(0, 10) }));
    expect(got).toEqual(expected);
  });

  it("quality_by_month", async () => {
    const expected = MONTHS.map((m) => {
      const scores = rows.filter((r) => monthOf(r) === m && r.quality_score !== null).map((r) => r.quality_score!);
      return {
        month: m,
        scored: scores.length,
        avg_quality: expect.closeTo(avg(scores)!, 9),
        ...Object.fromEntries([1, 2, 3, 4, 5].map((q) => [`q${q}`, scores.filter((s) => s === q).length])),
      };
    });
    expect(await run("quality_by_month")).toEqual(expected);
  });

  it("funnel_by_month", async () => {
    const expected = MONTHS.flatMap((m) => {
      const last = new Map<string, Seeded>();
      for (const r of rows.filter((x) => monthOf(x) === m))
        if (!last.has(r.user_id) || last.get(r.user_id)!.created_at < r.created_at) last.set(r.user_id, r);
      const by = new Map<string, number>();
      for (const r of last.values()) by.set(r.customer_status, (by.get(r.customer_status) ?? 0) + 1);
      return [...by.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([customer_status, users]) => ({ month: m, customer_status, users }));
    });
    expect(await run("funnel_by_month")).toEqual(expected);
  });

  it("cost_by_day_and_models", async () => {
    const groups = new Map<string, Seeded[]>();
    for (const r of rows) {
      const k = JSON.stringify([dayOf(r), r.llm1_model ?? "", r.llm2_model]);
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    const expected = [...groups.keys()].sort().map((k) => {
      const [day, llm1, llm2] = JSON.parse(k) as string[];
      const of = groups.get(k)!;
      const sum = (f: (r: Seeded) => number) => of.reduce((s, r) => s + f(r), 0);
      return {
        day,
        llm1_model: llm1,
        llm2_model: llm2,
        interactions: of.length,
        tokens: sum((r) => (r.llm1_tokens_used ?? 0) + r.llm2_tokens_used),
        llm1_cost_usd: expect.closeTo(
          sum((r) => r.llm1_cost_usd ?? 0),
          9,
        ),
        llm2_cost_usd: expect.closeTo(
          sum((r) => r.llm2_cost_usd),
          9,
        ),
        total_cost_usd: expect.closeTo(
          sum((r) => (r.llm1_cost_usd ?? 0) + r.llm2_cost_usd),
          9,
        ),
      };
    });
    const got: Record<string, unknown>[] = (await run("cost_by_day_and_models")).map((r) => ({ ...r, day: String(r.day).slice(0, 10) }));
    expect(sorted(got, (r) => JSON.stringify([r.day, r.llm1_model, r.llm2_model]))).toEqual(expected);
    expect(got.length).toBeGreaterThan(100);
  });

  it("edit_tags", async () => {
    const expected = TAGS.map((tag) => {
      const of = rows.filter((r) => r.edit_tags.includes(tag));
      const q = avg(of.filter((r) => r.quality_score !== null).map((r) => r.quality_score!));
      const rt = avg(of.filter((r) => r.review_time_seconds !== null).map((r) => r.review_time_seconds!));
      return { tag, tagged: of.length, avg_quality: expect.closeTo(q!, 9), avg_review_time_seconds: expect.closeTo(rt!, 9) };
    }).sort((a, b) => b.tagged - a.tagged || (a.tag < b.tag ? -1 : 1));
    expect(expected.every((e) => e.tagged > 20)).toBe(true);
    expect(await run("edit_tags")).toEqual(expected);
  });
});

describe("npm run analytics", () => {
  // Usage errors are found before any stack or store is touched.
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", "scripts/analytics.ts", ...args], { timeout: 60_000 });
  const temps = async () => (await readdir(tmpdir())).filter((f) => f.startsWith("hitl-analytics-")).length;

  it("runs a named query and free SQL over the bucket's archives, prints a table, and removes its temp dir", async () => {
    const before = await temps();
    const out: string[] = [];
    const progress: string[] = [];
    let registered = 0;
    const opts = {
      write: (l: string) => out.push(l),
      progress: (l: string) => progress.push(l),
      onTemp: () => {
        registered++;
        return () => {};
      },
    };
    const named = await analyticsOverArchives(store, historyQuery("quality_by_month")!.sql, { ...opts, json: true });
    expect(out.map((l) => JSON.parse(l))).toEqual(named.rows);
    expect(named.rows.map((r) => r.month)).toEqual(MONTHS);
    out.length = 0;
    await analyticsOverArchives(store, "SELECT month, count(*) AS n FROM interactions GROUP BY month ORDER BY month", opts);
    expect(out[0]!.split("\n").slice(0, 3)).toEqual([
      "month    n",
      "-------  ---",
      `2025-01  ${rows.filter((r) => monthOf(r) === "2025-01").length}`,
    ]);
    expect(progress).toContainEqual(expect.stringMatching(/^4 rows in [\d.]+ s$/));
    // The temp dir was registered for Ctrl-C, and is gone after each run.
    expect(registered).toBe(2);
    expect(await temps()).toBe(before);
    await expect(analyticsOverArchives(store, "SELECT nope FROM interactions", opts)).rejects.toThrow(/nope/);
    expect(await temps()).toBe(before);
  });

  it("--help is safe; a wrong flag or an unknown named query prints the usage and exits 2", async () => {
    expect((await cli("--help")).stdout).toMatch(/^usage:\n {2}npm run analytics -- "<SQL>"/);
    for (const args of [["--nope"], ["--query", "nope"], []]) {
      const e = await cli(...args).then(
        () => null,
        (err: { code: number; stderr: string }) => err,
      );
      expect(e?.code, args.join(" ")).toBe(2);
      expect(e?.stderr).toContain("usage:");
    }
  });
});

describe("GDPR over Parquet archives", () => {
  it("an erasure rewrites the Parquet objects holding the user: DuckDB and readArchive find none of their rows, the rest intact", async () => {
    const erased = await (await t.call("DELETE", "/v1/users/u3", { key: t.keys.admin })).json();
    expect(erased.deleted.archives_rewritten).toBe(5);
    await expect(eraseArchivedUsers({ db: t.services.db, hasher: t.services.hasher, store })).resolves.toEqual({ erasures: 1, objects: 5 });
    const c = await duck();
    const { rows: counts } = await runSql(
      c,
      "SELECT count(*) AS n, sum(CASE WHEN user_id = 'u3' THEN 1 ELSE 0 END) AS erased FROM interactions",
    );
    expect(counts).toEqual([{ n: rows.filter((r) => r.user_id !== "u3").length, erased: 0 }]);
    for (const m of MONTHS) {
      const p = `interactions_${m.replace("-", "_")}`;
      const lines: string[] = [];
      await readArchive(store, p, (l) => lines.push(l));
      expect(lines.map((l) => JSON.parse(l).id).sort()).toEqual(
        rows
          .filter((r) => monthOf(r) === m && r.user_id !== "u3")
          .map((r) => r.id)
          .sort(),
      );
      const manifest = await archiveManifest(store, p);
      for (const o of manifest.objects!)
        expect(
          createHash("sha256")
            .update((await store.get(o.key))!)
            .digest("hex"),
        ).toBe(o.sha256);
    }
    const [cat] = await t.services.db.query<{ n: string }>("SELECT sum(rows) AS n FROM archived_partitions");
    expect(Number(cat!.n)).toBe(rows.filter((r) => r.user_id !== "u3").length);
  });
});
