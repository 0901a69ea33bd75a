// Each bundle of `npm run build` as Lambda loads it: copied alone into an empty directory outside
// the repository (no node_modules reachable), imported by a fresh Node process with that directory
// as its working directory, its handler invoked with the event shapes Lambda really sends.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// Each test starts Node processes and runs whole jobs: on a loaded 2-core machine they take longer than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });
import { FUNCTIONS } from "../scripts/build.js";
import { createTestDatabase, testEnv, testKeys } from "./support/stack.js";
import { createEmptyDatabase, createTestBucket, withPg } from "./support/backup.js";
import { readArchive, type S3BlobStore } from "@hitl/core/backup";

const run = promisify(execFile);
const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

/** Lambda's Node 22 has a global WebSocket; this Node 20 gets it from its flag (the bundles leave `ws` out). */
const NODE_FLAGS = Number(process.versions.node.split(".")[0]) < 22 ? ["--experimental-websocket"] : [];

/** The runtime's part: import the handler, invoke it with each event and a Lambda context, record each result or error. */
const RUNNER = `
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const events = JSON.parse(process.env.EVENTS);
const results = [];
try {
  const { handler } = await import(pathToFileURL(process.cwd() + "/index.mjs").href);
  for (const [i, event] of events.entries()) {
    const context = { awsRequestId: "req-" + i + "-" + process.pid, functionName: "fn", getRemainingTimeInMillis: () => 900000 };
    try { results.push({ ok: await handler(event, context) }); } catch (e) { results.push({ error: String(e && e.stack || e) }); }
  }
} catch (e) { results.push({ error: "import: " + String(e && e.stack || e) }); }
writeFileSync(process.env.RESULTS, JSON.stringify(results));
process.exit(0);
`;

/** Copies dist/<name> alone into a new temp directory and runs `events` through its handler there. */
async function invokeAlone(name: string, env: Record<string, string>, events: unknown[]): Promise<{ ok?: any; error?: string }[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `lambda-${name}-`));
  const side = await mkdtemp(path.join(os.tmpdir(), "runner-"));
  temps.push(dir, side);
  await cp(path.resolve("dist", name), dir, { recursive: true });
  const runner = path.join(side, "runner.mjs");
  const results = path.join(side, "results.json");
  await writeFile(runner, RUNNER);
  await run(process.execPath, [...NODE_FLAGS, runner], {
    cwd: dir,
    timeout: 120_000,
    maxBuffer: 64 << 20,
    env: {
      PATH: process.env.PATH ?? "",
      ...env,
      EVENTS: JSON.stringify(events),
      RESULTS: results,
      POWERTOOLS_METRICS_DISABLED: "true",
      AWS_LAMBDA_FUNCTION_NAME: name,
    },
  });
  return JSON.parse(await readFile(results, "utf8"));
}

/** A Function URL (payload v2) event, as Lambda sends it: lower-cased header names by the URL service, here mixed to be sure. */
function urlEvent(
  method: string,
  rawPath: string,
  opts: { headers?: Record<string, string>; query?: string; cookies?: string[]; body?: string; base64?: boolean } = {},
) {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString: opts.query ?? "",
    ...(opts.cookies ? { cookies: opts.cookies } : {}),
    headers: { host: "abc.lambda-url.eu-central-1.on.aws", "X-Forwarded-Proto": "https", ...opts.headers },
    ...(opts.query ? { queryStringParameters: Object.fromEntries(new URLSearchParams(opts.query)) } : {}),
    requestContext: {
      accountId: "anonymous",
      apiId: "abc",
      domainName: "abc.lambda-url.eu-central-1.on.aws",
      domainPrefix: "abc",
      http: { method, path: rawPath, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "smoke" },
      requestId: "r",
      routeKey: "$default",
      stage: "$default",
      time: "07/Dec/2026:18:00:00 +0000",
      timeEpoch: Date.now(),
    },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    isBase64Encoded: opts.base64 ?? false,
  };
}

/** What EventBridge Scheduler delivers: SST's CronV2 sets the target input to `{}`; the classic scheduled-event envelope too. */
const SCHEDULER_EVENTS = [
  {},
  {
    version: "0",
    id: "e1",
    "detail-type": "Scheduled Event",
    source: "aws.scheduler",
    account: "123456789012",
    time: "2026-12-07T03:00:00Z",
    region: "eu-central-1",
    resources: ["arn:aws:scheduler:eu-central-1:123456789012:schedule/default/x"],
    detail: "{}",
  },
];

describe("what goes into the bundles", () => {
  it("DuckDB never enters a Lambda bundle (it is a tool of the CLI, the tests and the benches)", async () => {
    const record = JSON.parse(await readFile("dist/build.json", "utf8")) as { inputs: Record<string, string> };
    expect(Object.keys(record.inputs).filter((f) => /duckdb/i.test(f))).toEqual([]);
    const files = (await readdir("dist", { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(Object.keys(FUNCTIONS).length);
    for (const f of files) {
      const text = await readFile(path.join(f.parentPath, f.name), "latin1");
      expect(/@duckdb\/|duckdb\.node|read_parquet\(/i.test(text), path.join(f.parentPath, f.name)).toBe(false);
    }
    // The archive writes Parquet itself (hyparquet-writer, pure JavaScript).
    expect(Object.keys(record.inputs).some((f) => f.includes("node_modules/hyparquet-writer/"))).toBe(true);
  });
});

describe("each bundle, alone, as Lambda loads it", () => {
  let env: Record<string, string>;
  let keys: Record<string, string>;
  let store: S3BlobStore;

  beforeAll(async () => {
    for (const name of Object.keys(FUNCTIONS))
      expect(existsSync(`dist/${name}/index.mjs`), "run `npm run build` first (npm test does)").toBe(true);
    // The temp directory and everything above it hold no node_modules: the bundles must carry everything.
    for (let d = os.tmpdir(); ; d = path.dirname(d)) {
      expect(existsSync(path.join(d, "node_modules")), d).toBe(false);
      if (path.dirname(d) === d) break;
    }
    const k = testKeys();
    keys = k.keys;
    const b = await createTestBucket();
    const bucket = b.bucket;
    store = b.store;
    env = testEnv(await createTestDatabase(), JSON.stringify(k.entries), { S3_BUCKET: bucket });
  });

  it("the API answers Function URL events: JSON and base64 bodies, cookies, repeated query keys, mixed-case headers", async () => {
    const auth = { Authorization: `Bearer ${keys.bot}`, "Content-Type": "application/json" };
    const json = JSON.stringify({ user_id: "bundle-u1", text: "plain body" });
    const b64 = Buffer.from(JSON.stringify({ user_id: "bundle-u2", text: "base64 body ✓" })).toString("base64");
    const res = await invokeAlone("api", env, [
      urlEvent("GET", "/health"),
      urlEvent("GET", "/v1/health", { headers: { AUTHORIZATION: `Bearer ${keys.admin}` }, cookies: ["session=x", "other=y"] }),
      urlEvent("POST", "/v1/messages", { headers: auth, body: json }),
      urlEvent("POST", "/v1/messages", { headers: auth, body: b64, base64: true }),
      urlEvent("GET", "/v1/quarantine", { headers: { Authorization: `Bearer ${keys.admin}` }, query: "limit=2&limit=3", cookies: ["a=1"] }),
      urlEvent("POST", "/v1/messages", { headers: auth, body: "{not json" }),
      urlEvent("GET", "/openapi.json"),
    ]);
    for (const r of res) expect(r.error).toBeUndefined();
    const [health, deep, plain, base64, repeated, bad, doc] = res.map((r) => r.ok);
    expect(health.statusCode).toBe(200);
    expect(deep.statusCode).toBe(200);
    expect(JSON.parse(deep.body)).toMatchObject({ status: "ok", storage: { ok: true } });
    expect(plain.statusCode).toBe(202);
    expect(base64.statusCode).toBe(202);
    // Repeated query keys: answered (first value or a 400 in the API's error shape), never a 5xx.
    expect(repeated.statusCode).toBeLessThan(500);
    if (repeated.statusCode !== 200) expect(JSON.parse(repeated.body).error.code).toBeTruthy();
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe("invalid_request");
    expect(doc.statusCode).toBe(200);
    // Each body was decoded into its own message.
    expect(JSON.parse(plain.body).items[0].message_id).not.toBe(JSON.parse(base64.body).items[0].message_id);
  });

  it("Migrate applies every migration to an empty database from its Invocation payload, with the SQL files beside it", async () => {
    const empty = await createEmptyDatabase();
    const files = (await readdir("packages/core/migrations")).filter((f) => f.endsWith(".sql"));
    const [first, second] = await invokeAlone("migrate", { ...env, DATABASE_URL: empty }, [
      { deployedAt: new Date().toISOString() },
      { deployedAt: "again" },
    ]);
    expect(first!.error).toBeUndefined();
    expect(first!.ok.applied).toHaveLength(files.length);
    expect(second!.ok).toMatchObject({ applied: [], skipped: expect.arrayContaining(["0001", "0015"]) });
  });

  for (const fn of ["analytics-rollup", "monitor"]) {
    it(`${fn} runs from a scheduler event, twice (a retried or overlapping delivery is harmless)`, async () => {
      const res = await invokeAlone(fn, env, SCHEDULER_EVENTS);
      for (const r of res) expect(r.error, JSON.stringify(r)).toBeUndefined();
      expect(res).toHaveLength(SCHEDULER_EVENTS.length);
      for (const r of res) expect(r.ok).toBeTypeOf("object");
    });
  }

  it("export runs an export from its event (CSV into the bucket); a retried event does nothing; a bad event fails", async () => {
    const id = crypto.randomUUID();
    await withPg(env.DATABASE_URL!, (c) =>
      c.query(
        "INSERT INTO exports (id, dataset, format, filters, created_by, object_key) VALUES ($1, 'interactions', 'csv', '{}', 'test', $2)",
        [id, `exports/${id}/interactions.csv`],
      ),
    );
    const [first, retry, bad] = await invokeAlone("export", env, [{ export_id: id }, { export_id: id }, { export_id: "nope" }]);
    expect(first!.error, JSON.stringify(first)).toBeUndefined();
    expect(first!.ok).toMatchObject({ status: "done", key: `exports/${id}/interactions.csv` });
    expect(retry!.ok).toMatchObject({ status: "skipped" });
    expect(JSON.stringify(bad!.error)).toContain("BadExportEventError");
  });

  for (const job of ["backup-postgres", "backup-redis", "archive"]) {
    it(`${job} runs from a scheduler event, and from a continuation payload`, async () => {
      const events = [...SCHEDULER_EVENTS, { resume: "2026-12-07T03-00-00-000Z", run: 2, lease: "chain-of-another-run" }];
      const res = await invokeAlone(job, env, events);
      for (const r of res) expect(r.error, JSON.stringify(r)).toBeUndefined();
      const [scheduled, envelope, continuation] = res.map((r) => r.ok);
      const done = job === "archive" ? { archived: [] } : { status: "complete", verified: true };
      expect(scheduled).toMatchObject({ run: 1, ...done });
      expect(envelope).toMatchObject({ run: 1, ...done });
      // A continuation whose chain's lease is free (the earlier runs ended): it takes it and runs (run 2).
      expect(continuation).toMatchObject({ run: 2, ...done });
    });
  }

  it("archive, bundled alone, writes an old month as Parquet (hyparquet-writer inside the bundle) that reads back row for row", async () => {
    const rows = await withPg(env.DATABASE_URL!, async (c) => {
      await c.query("SELECT hitl_ensure_interaction_partitions(date '2024-01-01', 1)");
      await c.query(
        `INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, edit_tags, cta_data, created_at)
        SELECT 'bundle-' || g, 'c', 'msg ✓ ' || g, now(), ARRAY['tone'], '{"a": [1, 2]}', timestamptz '2024-01-10T00:00:00Z' + g * interval '1 hour'
        FROM generate_series(1, 3) g`,
      );
      return (await c.query("SELECT row_to_json(i)::text AS j FROM interactions_2024_01 i")).rows.map((r) => JSON.parse(r.j));
    });
    const [res] = await invokeAlone("archive", env, [SCHEDULER_EVENTS[0]]);
    expect(res!.error).toBeUndefined();
    expect(res!.ok.archived).toEqual([{ partition: "interactions_2024_01", rows: 3 }]);
    const lines: string[] = [];
    await readArchive(store, "interactions_2024_01", (l) => lines.push(l));
    const byId = (xs: { id: string }[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(lines.map((l) => JSON.parse(l)))).toEqual(byId(rows));
  });
});
