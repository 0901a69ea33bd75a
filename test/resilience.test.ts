import { randomUUID } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { FetchBlobStore } from "@hitl/core";
import { S3BlobStore } from "@hitl/core/backup";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrivateStack, type PrivateStack } from "./support/private-stack.js";
import { interactionBody } from "./support/fixtures.js";

/** Breakers, deadlines, cancellation, lost responses and Neon's size limit, on a stack of this file's own. */
let s: PrivateStack;
beforeAll(async () => {
  s = await startPrivateStack();
}, 120_000);
afterAll(async () => {
  await s?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const COOLDOWN_MS = 800;

describe.each(["redis", "postgres"] as const)("the %s breaker", (store) => {
  it("opens after 3 timeouts, answers at once while open, and closes after the cooldown with no stale cache", async () => {
    const a = s.app({
      REDIS_TIMEOUT_MS: "250",
      PG_TIMEOUT_MS: "400",
      BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
      PG_BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
    });
    const user = `b${randomUUID().slice(0, 8)}`;
    expect((await a.call("PUT", `/v1/users/${user}/status`, s.keys.reviewer, { customer_status: "CUSTOMER" })).status).toBe(200);
    const breaker = store === "redis" ? a.services.redis.breaker : a.services.db.breaker;
    const faults = store === "redis" ? s.stack.bridge.faults : s.stack.proxy.faults;
    faults.set({ hang: true });
    try {
      // A route that needs the failing store: WAL stats for Redis, the review list for Postgres.
      const needs = () =>
        store === "redis" ? a.call("GET", "/v1/messages/stats", s.keys.agent) : a.call("GET", "/v1/reviews", s.keys.reviewer);
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await needs();
        expect(r.status).toBe(503);
        times.push(r.ms);
        expect(breaker.state).toBe(i < 2 ? "closed" : "open");
      }
      for (const t of times) expect(t).toBeGreaterThanOrEqual(store === "redis" ? 240 : 390);
      const fast = await needs();
      expect(fast.status).toBe(503);
      expect(fast.ms).toBeLessThan(50);
      expect(Number(fast.headers.get("retry-after"))).toBe(1);
      // A write while Redis is down leaves a cache key that must not be served after recovery.
      if (store === "redis")
        expect((await a.call("PUT", `/v1/users/${user}/status`, s.keys.reviewer, { customer_status: "CHURNED" })).status).toBe(200);
      const health = (await a.call("GET", "/v1/health", s.keys.admin)).json();
      expect(health[store]).toMatchObject({ ok: false, breaker: "open" });
    } finally {
      faults.clear();
    }
    await sleep(COOLDOWN_MS + 50);
    expect(breaker.state).toBe("half_open");
    const back =
      store === "redis" ? await a.call("GET", "/v1/messages/stats", s.keys.agent) : await a.call("GET", "/v1/reviews", s.keys.reviewer);
    expect(back.status).toBe(200);
    expect(breaker.state).toBe("closed");
    await expect
      .poll(async () => (await a.call("GET", `/v1/users/${user}/status`, s.keys.agent)).json().customer_status)
      .toBe(store === "redis" ? "CHURNED" : "CUSTOMER");
  });

  it("does not count the store's own answers (a reply or SQL error) as failures", async () => {
    const a = s.app();
    const breaker = store === "redis" ? a.services.redis.breaker : a.services.db.breaker;
    for (let i = 0; i < 5; i++) {
      if (store === "redis") {
        const key = a.services.redis.key("wrongtype");
        await a.services.redis.run("set", (r) => r.set(key, "x"));
        await expect(a.services.redis.run("lpush", (r) => r.lpush(key, "y"))).rejects.toThrow(/WRONGTYPE/);
      } else {
        await expect(a.services.db.query("SELECT 1/0")).rejects.toMatchObject({ code: "22012" });
      }
    }
    expect(breaker.state).toBe("closed");
  });
});

describe("deadlines", () => {
  it("a statement past its deadline is cancelled on the server, not left running", async () => {
    const a = s.app({ PG_TIMEOUT_MS: "300" });
    const started = performance.now();
    await expect(a.services.db.query("SELECT pg_sleep(30), $1::text AS marker", ["deadline-probe"])).rejects.toMatchObject({
      code: "unavailable",
    });
    expect(performance.now() - started).toBeLessThan(1000);
    const admin = new pg.Client({ connectionString: s.stack.adminUrl("postgres") });
    await admin.connect();
    try {
      await expect
        .poll(
          async () =>
            (
              await admin.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
              )
            ).rows[0].n,
          { timeout: 3000 },
        )
        .toBe(0);
    } finally {
      await admin.end();
    }
  });

  it("no store call runs into the Lambda's timeout: each is cut at the remaining time minus the margin", async () => {
    const a = s.app({ PG_TIMEOUT_MS: "10000", REDIS_TIMEOUT_MS: "10000", LAMBDA_MARGIN_MS: "200" });
    s.stack.proxy.faults.set({ hang: true });
    try {
      const lambda = { lambdaContext: { getRemainingTimeInMillis: () => 700 } };
      const started = performance.now();
      // The app sets the request deadline from the Lambda context (now + 700 - 200 ms).
      const r = await a.app.request("/v1/reviews", { headers: { authorization: `Bearer ${s.keys.reviewer}` } }, lambda as never);
      const ms = performance.now() - started;
      expect(r.status).toBe(503);
      expect(ms).toBeGreaterThanOrEqual(450);
      expect(ms).toBeLessThan(700);
    } finally {
      s.stack.proxy.faults.clear();
    }
  });
});

describe("lost responses", () => {
  it("a batch whose response was lost after Redis applied it, retried by the client through another instance, is queued once", async () => {
    const one = s.app();
    const two = s.app();
    const user = `r${randomUUID().slice(0, 8)}`;
    // The user's protocol is cached, so the batch is one script: it is applied, then the response is cut.
    expect((await one.call("PUT", `/v1/users/${user}/protocol`, s.keys.reviewer, { status: "INACTIVE" })).status).toBe(200);
    const batch = { messages: Array.from({ length: 10 }, (_, i) => ({ user_id: user, text: `m${i}`, telegram_message_id: 9000 + i })) };
    const before = (await one.call("GET", "/v1/messages/stats", s.keys.agent)).json().pending;
    const lost = await s.stack.bridge.faults.during({ reset: true }, () => one.call("POST", "/v1/messages", s.keys.bot, batch));
    expect(lost.status).toBe(503);
    const retried = await two.call("POST", "/v1/messages", s.keys.bot, batch);
    expect(retried.status).toBe(202);
    expect(retried.json().items.map((i: { status: string }) => i.status)).toEqual(Array(10).fill("duplicate"));
    expect((await two.call("GET", "/v1/messages/stats", s.keys.agent)).json().pending).toBe(before + 10);
  });

  it("an interaction whose response was lost after Postgres committed it is stored once when retried", async () => {
    const one = s.app();
    const two = s.app();
    const body = interactionBody({ user_id: `i${randomUUID().slice(0, 8)}` });
    expect(
      (await s.stack.proxy.faults.during({ reset: true }, () => one.call("POST", "/v1/interactions", s.keys.agent, body))).status,
    ).toBe(503);
    const retried = await two.call("POST", "/v1/interactions", s.keys.agent, body);
    expect([200, 201]).toContain(retried.status);
    const rows = await two.services.db.query<{ n: number }>("SELECT count(*)::int AS n FROM interactions WHERE message_id = $1", [
      body.message_id,
    ]);
    expect(rows[0]!.n).toBe(1);
  });
});

describe("Neon's 10 MiB answer limit", () => {
  it("the local proxy refuses an answer over 10 MiB with 507, which is never a store outage", async () => {
    const a = s.app();
    await expect(a.services.db.query("SELECT repeat('x', 11 * 1024 * 1024) AS big")).rejects.toThrow(/size limit/);
    expect(a.services.db.breaker.state).toBe("closed");
  });

  it("list routes at limit=500 with rows at their maximum size page by bytes and never hit it", async () => {
    const a = s.app();
    const user = `big${randomUUID().slice(0, 6)}`;
    // Values that grow the most in Neon's encoding: quotes inside text arrays, control characters.
    const ctl = "\u0001".repeat(4000);
    const created = await a.call(
      "POST",
      "/v1/interactions",
      s.keys.agent,
      interactionBody({
        user_id: user,
        user_message: ctl,
        llm1_raw_response: "\u0002".repeat(20_000),
        llm2_bubbles: Array(20).fill('"'.repeat(4000)),
        constitution_flags: Array(50).fill('"'.repeat(100)),
      }),
    );
    expect(created.status, created.text).toBe(201);
    await a.services.db.query(
      `INSERT INTO interactions (message_id, user_id, chat_id, conversation_id, user_message, user_message_timestamp,
        llm1_raw_response, llm2_bubbles, constitution_risk_score, constitution_flags, constitution_recommendation, priority_score, review_status)
      SELECT gen_random_uuid()::text, user_id, chat_id, conversation_id, user_message, user_message_timestamp, llm1_raw_response, llm2_bubbles,
        constitution_risk_score, constitution_flags, constitution_recommendation, priority_score, review_status
      FROM interactions i, generate_series(1, 499) WHERE i.user_id = $1`,
      [user],
    );
    await a.services.db.query(
      `INSERT INTO quarantine_messages (message_id, user_id, message_text)
      SELECT gen_random_uuid()::text, $1, repeat(chr(1), 4000) FROM generate_series(1, 500)`,
      [user],
    );

    for (const [path, key] of [
      ["/v1/reviews?limit=500", s.keys.reviewer],
      [`/v1/quarantine?limit=500&user_id=${user}`, s.keys.reviewer],
    ] as const) {
      let cursor: string | null = null;
      let seen = 0;
      let pages = 0;
      do {
        const r = await a.call("GET", cursor ? `${path}&cursor=${cursor}` : path, key);
        expect(r.status, `${path}: ${r.text.slice(0, 200)}`).toBe(200);
        const body = r.json();
        expect(body.items.length).toBeGreaterThan(0);
        expect(body.items.length).toBeLessThanOrEqual(500);
        seen += body.items.filter((i: { user_id: string }) => i.user_id === user).length;
        cursor = body.next_cursor;
        pages++;
      } while (cursor);
      expect(seen, path).toBe(500);
      expect(pages, path).toBeGreaterThan(1);
    }
    // About 56 pages of reviews: each page also fits the Lambda envelope (test/lambda-page-size.test.ts).
  }, 180_000);
});

describe("npm run fault", () => {
  const cli = async (dataDir: string, ...args: string[]) => {
    const { execFile } = await import("node:child_process");
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "scripts/fault.ts", ...args],
        { env: { ...process.env, DATA_DIR: dataDir }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  };

  it("switches the running stack's faults, and refuses bad usage before touching it", async () => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-faultcli-"));
    try {
      const bad = await cli(dir, "redis", "latency", "fast");
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/MS must look like 250ms/);
      expect((await cli(dir, "show")).stderr).toMatch(/no running local stack/);
      // The stack.json `npm start` writes, naming this (alive) process.
      await writeFile(
        path.join(dir, "stack.json"),
        JSON.stringify({ ...s.stack.endpoints(), apiUrl: "", pid: process.pid, startedAt: "" }),
      );
      const set = await cli(dir, "redis", "status", "429", "30s");
      expect(set.code, set.stderr).toBe(0);
      expect(s.stack.bridge.faults.current()).toMatchObject({ status: 429, forMs: 30_000 });
      expect((await cli(dir, "postgres", "latency", "200ms", "50ms")).code).toBe(0);
      expect(s.stack.proxy.faults.current()).toMatchObject({ latency: { ms: 200, jitterMs: 50 } });
      expect((await cli(dir, "postgres", "stall", "1m")).code).toBe(0);
      expect(s.stack.proxy.faults.current()).toEqual({ stall: true, forMs: 60_000 });
      const cleared = await cli(dir, "clear");
      expect(cleared.stdout).toMatch(/redis: none\npostgres: none/);
      expect(s.stack.bridge.faults.current()).toEqual({});
    } finally {
      s.stack.bridge.faults.clear();
      s.stack.proxy.faults.clear();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("the bulk jobs' WebSocket pool", () => {
  it("has a connection deadline (hang, 503 on upgrade) and a server-side statement timeout", async () => {
    const { PoolDb } = await import("@hitl/core/postgres");
    const url = s.stack.databaseUrl;
    for (const spec of [{ hang: true }, { status: 503 }] as const) {
      s.stack.proxy.faults.set(spec);
      const db = new PoolDb(url, { connectTimeoutMs: 400 });
      try {
        const started = performance.now();
        await expect(db.query("SELECT 1")).rejects.toThrow();
        expect(performance.now() - started).toBeLessThan(1500);
      } finally {
        s.stack.proxy.faults.clear();
        await db.end().catch(() => {});
      }
    }
    const db = new PoolDb(url, { statementTimeoutMs: 300 });
    try {
      await expect(db.query("SELECT pg_sleep(5)")).rejects.toMatchObject({ code: "57014" });
      expect(await db.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    } finally {
      await db.end();
    }
  });

  it("gives a session up when Postgres cannot even cancel (a frozen host): statement_timeout plus the connection deadline", async () => {
    const { PoolDb } = await import("@hitl/core/postgres");
    const db = new PoolDb(s.stack.databaseUrl, { statementTimeoutMs: 300, connectTimeoutMs: 300 });
    try {
      // A ready session first, so what follows is a statement on a live connection, not a connect.
      expect(await db.session((x) => x.query("SELECT 1 AS one"))).toEqual([{ one: 1 }]);
      s.signal("postgres", "SIGSTOP");
      try {
        for (const [label, call] of [
          ["a query", () => db.query("SELECT 2")],
          ["a COPY", () => db.session((x) => x.copyOut("COPY (SELECT 1) TO STDOUT", () => {}))],
          ["a transaction", () => db.transaction([{ text: "SELECT 3" }])],
        ] as [string, () => Promise<unknown>][]) {
          const started = performance.now();
          await expect(settlesWithin(label, 10_000, call()), label).rejects.toMatchObject({
            name: expect.stringMatching(/StoreFailure|ConnectTimeoutError/),
          });
          expect(performance.now() - started, label).toBeLessThan(600 + 1000);
        }
      } finally {
        s.signal("postgres", "SIGCONT");
      }
      // The frozen sessions were given up, not handed out again: the pool works once Postgres does.
      expect(await db.query("SELECT 4 AS four")).toEqual([{ four: 4 }]);
    } finally {
      await db.end().catch(() => {});
    }
  });
});

describe("the rate limiter under a Redis stall", () => {
  it("fails open within the Redis deadline (it used to add 5 s to every request)", async () => {
    const a = s.app({ RATE_LIMIT_REQUESTS: "100", REDIS_TIMEOUT_MS: "250" });
    s.stack.bridge.faults.set({ hang: true });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await a.call("GET", "/v1/edit-taxonomy", s.keys.agent);
        expect(r.status).toBe(200);
        expect(r.ms).toBeLessThan(250 + 500);
      }
    } finally {
      s.stack.bridge.faults.clear();
    }
  });
});

describe("S3 calls have deadlines", () => {
  it("a hung S3 endpoint fails the small-object client and the SDK client within their deadlines", async () => {
    // Accepts connections and never answers: a stalled S3.
    const sockets: net.Socket[] = [];
    const hung = net.createServer((sock) => {
      sockets.push(sock);
    });
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
    const endpoint = `http://127.0.0.1:${(hung.address() as { port: number }).port}`;
    const credentials = { accessKeyId: "k", secretAccessKey: "s" };
    try {
      const small = new FetchBlobStore({ bucket: "b", region: "us-east-1", endpoint, credentials, timeoutMs: 300 });
      let started = performance.now();
      await expect(settlesWithin("the small-object GET", 5_000, small.get("x"))).rejects.toMatchObject({
        name: "StoreFailure",
        store: "s3",
        kind: "timeout",
      });
      expect(performance.now() - started).toBeLessThan(1000);
      const sdk = new S3BlobStore({ bucket: "b", region: "us-east-1", endpoint, credentials, timeoutMs: 300 });
      started = performance.now();
      await expect(settlesWithin("the SDK PUT", 10_000, sdk.put("x", "y"))).rejects.toThrow(/timed out|timeout|deadline/i);
      // The SDK retries (3 attempts by default), each cut at the deadline.
      expect(performance.now() - started).toBeLessThan(3 * 300 + 1500);
    } finally {
      for (const sock of sockets) sock.destroy();
      hung.close();
    }
  });

  it("an S3 answering 503 SlowDown is retried within the deadline, then fails as unavailable (never a timeout, never past the deadline)", async () => {
    // S3's throttling answer, for the first `slowDowns` requests.
    let slowDowns = Infinity;
    let requests = 0;
    const throttling = http.createServer((req, res) => {
      requests++;
      req.resume();
      if (requests <= slowDowns) {
        res
          .writeHead(503, { "content-type": "application/xml" })
          .end("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
      } else {
        res.writeHead(200, { "content-type": "application/octet-stream" }).end("stored bytes");
      }
    });
    await new Promise<void>((r) => throttling.listen(0, "127.0.0.1", r));
    const endpoint = `http://127.0.0.1:${(throttling.address() as { port: number }).port}`;
    const credentials = { accessKeyId: "k", secretAccessKey: "s" };
    try {
      const small = new FetchBlobStore({ bucket: "b", region: "us-east-1", endpoint, credentials, timeoutMs: 2_000 });
      let started = performance.now();
      await expect(settlesWithin("the throttled GET", 10_000, small.get("x"))).rejects.toMatchObject({
        name: "StoreFailure",
        store: "s3",
        kind: "http",
        status: 503,
      });
      expect(performance.now() - started).toBeLessThan(2_000 + 500);
      expect(requests).toBe(3);

      // A deadline the backoff does not fit in: the call ends by its deadline (aws4fetch's own retries
      // slept past it: 300-900 ms for this one), with what S3 said if it could answer in time.
      const tight = new FetchBlobStore({ bucket: "b", region: "us-east-1", endpoint, credentials, timeoutMs: 300 });
      for (let i = 0; i < 3; i++) {
        started = performance.now();
        const failure = await settlesWithin("the tightly bounded GET", 10_000, tight.get("x")).catch((e: unknown) => e);
        expect(performance.now() - started).toBeLessThan(300 + 250);
        expect(failure).toMatchObject({ name: "StoreFailure", store: "s3" });
        expect(["http", "timeout"]).toContain((failure as { kind?: string }).kind);
      }

      // Throttling that clears within the deadline is invisible to the caller.
      requests = 0;
      slowDowns = 1;
      expect((await small.get("x"))?.toString()).toBe("stored bytes");
      expect(requests).toBe(2);
    } finally {
      throttling.closeAllConnections();
      throttling.close();
    }
  });
});

/** The call's own outcome, or a rejection naming it if it has not settled in `ms` (a hang names its step instead of timing the test out). */
function settlesWithin<T>(label: string, ms: number, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HUNG: ${label} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([call, hang]).finally(() => clearTimeout(timer));
}
