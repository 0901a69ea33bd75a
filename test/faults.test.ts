import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";
import { freePort, startNeonProxy, startPostgres, startRedisServer, startUpstashBridge } from "@hitl/devstack";
import { createTestContext, stack, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

const json = async (res: Response) => (await res.json()) as any;
const COOLDOWN_MS = 1500;

describe("Redis down: the breaker and the Postgres fallback", () => {
  let t: TestContext;
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  let bridge: Awaited<ReturnType<typeof startUpstashBridge>>;
  let bridgePort: number;
  const logs: string[] = [];
  const TOKEN = "fault-token";

  beforeAll(async () => {
    redis = await startRedisServer({ port: await freePort() });
    bridgePort = await freePort();
    bridge = await startUpstashBridge({ redisUrl: redis.url, token: TOKEN, port: bridgePort });
    t = await createTestContext(
      { UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: TOKEN, BREAKER_COOLDOWN_MS: String(COOLDOWN_MS), REDIS_RETRIES: "0" },
      logs,
    );
  });
  afterAll(async () => {
    await bridge.stop();
    await redis.stop();
  });

  it("keeps answering reads from Postgres and writes to Postgres; WAL routes answer 503; the breaker opens and closes", async () => {
    await t.call("PUT", "/v1/users/f1/status", { key: t.keys.reviewer, body: { customer_status: "CUSTOMER", ltv_amount: 10 } });
    await t.call("PUT", "/v1/users/f1/protocol", { key: t.keys.reviewer, body: { status: "ACTIVE" } });
    await t.call("PATCH", "/v1/users/f1/memory/context", { key: t.keys.agent, body: { updates: { name: "F" } } });
    expect((await json(await t.call("GET", "/v1/health", { key: t.keys.admin }))).redis).toMatchObject({ ok: true, breaker: "closed" });

    await bridge.stop();
    const reads = [
      ["/v1/users/f1/status", "customer_status", "CUSTOMER"],
      ["/v1/users/f1/protocol", "status", "ACTIVE"],
    ] as const;
    for (const [p, field, value] of reads) {
      const res = await t.call("GET", p, { key: t.keys.agent });
      expect(res.status, p).toBe(200);
      expect((await json(res))[field]).toBe(value);
    }
    const memory = await t.call("GET", "/v1/users/f1/memory", { key: t.keys.agent });
    expect(memory.status).toBe(200);
    expect((await json(memory)).context).toEqual({ name: "F" });
    expect(t.services.redis.breaker.state).toBe("open");

    // Writes that only need Postgres still succeed; the cache refresh is skipped.
    expect((await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "f1" }) })).status).toBe(201);
    expect((await t.call("PUT", "/v1/users/f1/status", { key: t.keys.reviewer, body: { customer_status: "CHURNED" } })).status).toBe(200);
    expect((await t.call("GET", "/v1/reviews", { key: t.keys.reviewer })).status).toBe(200);
    const dash = await json(await t.call("GET", "/v1/dashboard/metrics", { key: t.keys.reviewer }));
    expect(dash).toMatchObject({ pending_reviews: 1, wal: null });

    // The WAL needs Redis: 503 with Retry-After, the error shape, nothing else.
    for (const [p, body, key] of [
      ["/v1/messages", { user_id: "f2", text: "hi" }, t.keys.bot],
      ["/v1/messages/claim", {}, t.keys.agent],
    ] as const) {
      const res = await t.call("POST", p, { key, body });
      expect(res.status, p).toBe(503);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await json(res)).toEqual({ error: { code: "unavailable", message: "redis is unavailable" } });
    }
    const health = await t.call("GET", "/v1/health", { key: t.keys.admin });
    expect((await json(health)).redis).toMatchObject({ ok: false, breaker: "open" });
    expect((await t.call("GET", "/health")).status).toBe(503);

    // Redis returns; after the cooldown one probe closes the breaker.
    bridge = await startUpstashBridge({ redisUrl: redis.url, token: TOKEN, port: bridgePort });
    await new Promise((r) => setTimeout(r, COOLDOWN_MS + 100));
    expect((await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "f2", text: "back" } })).status).toBe(202);
    expect(t.services.redis.breaker.state).toBe("closed");
    expect((await json(await t.call("GET", "/v1/health", { key: t.keys.admin }))).redis).toMatchObject({ ok: true, breaker: "closed" });
    // The status written while Redis was unreachable: its stale cache entry was dropped on recovery.
    await expect
      .poll(async () => (await json(await t.call("GET", "/v1/users/f1/status", { key: t.keys.agent }))).customer_status)
      .toBe("CHURNED");
    const changes = logs
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === "circuit breaker state change")
      .map((l) => `${l.from}->${l.to}`);
    expect(changes).toEqual(["closed->open", "open->half_open", "half_open->closed"]);
    const metrics = await t.services.metrics.registry.getSingleMetricAsString("redis_breaker_transitions_total");
    expect(metrics).toMatch(/to="open"} 1/);
  });
});

describe("Postgres down: 503 with Retry-After, nothing half-written, recovery without a restart", () => {
  it("answers 503 while Postgres is stopped and recovers when it returns", async () => {
    const dataDir = path.join(await mkdtemp(path.join(os.tmpdir(), "hitl-pgfault-")), "pg");
    const port = await freePort();
    let pg = await startPostgres({ dataDir, port, fast: true });
    // The stack's proxy routes every loopback string to the stack's own Postgres (as Neon routes by
    // host): this second Postgres gets a proxy of its own.
    const proxy = await startNeonProxy({ postgresPort: port });
    try {
      useLocalNeonProxy(proxy.url);
      const url = pg.url("postgres");
      await migrate(url);
      const t = await createTestContext({
        DATABASE_URL: url,
        LOCAL_NEON_PROXY_URL: proxy.url,
        PG_CONNECT_ATTEMPTS: "2",
        PG_BACKOFF_BASE_MS: "50",
      });
      expect((await t.call("GET", "/v1/reviews", { key: t.keys.reviewer })).status).toBe(200);
      await pg.stop();

      const list = await t.call("GET", "/v1/reviews", { key: t.keys.reviewer });
      expect(list.status).toBe(503);
      expect(Number(list.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await json(list)).toEqual({ error: { code: "unavailable", message: "postgres is unavailable" } });
      const write = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "pgdown" }) });
      expect(write.status).toBe(503);
      // Nothing reached Redis either: the history cache of that user was never written.
      expect(await t.services.redis.client.exists(t.services.redis.key("user", "pgdown", "history"))).toBe(0);

      pg = await startPostgres({ dataDir, port, fast: true });
      expect((await t.call("GET", "/v1/reviews", { key: t.keys.reviewer })).status).toBe(200);
      expect((await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "pgdown" }) })).status).toBe(
        201,
      );
    } finally {
      useLocalNeonProxy(stack().neonProxyUrl);
      await proxy.stop();
      await pg.stop();
      await rm(pg.dataDir, { recursive: true, force: true });
      await rm(path.dirname(dataDir), { recursive: true, force: true });
    }
  });
});

describe("rate limits", () => {
  it("answer 429 with Retry-After over the configured limit, per key", async () => {
    const t = await createTestContext({ RATE_LIMIT_REQUESTS: "3", RATE_LIMIT_WINDOW_SECONDS: "60" });
    for (let i = 0; i < 3; i++) expect((await t.call("GET", "/v1/edit-taxonomy", { key: t.keys.agent })).status).toBe(200);
    const limited = await t.call("GET", "/v1/edit-taxonomy", { key: t.keys.agent });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await json(limited)).error.code).toBe("rate_limited");
    expect((await t.call("GET", "/v1/edit-taxonomy", { key: t.keys.reviewer })).status).toBe(200);
  });

  it("fail open, and say so, when Redis is unavailable", async () => {
    const logs: string[] = [];
    const t = await createTestContext(
      { RATE_LIMIT_REQUESTS: "1", UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${await freePort()}`, REDIS_RETRIES: "0" },
      logs,
    );
    for (let i = 0; i < 3; i++) expect((await t.call("GET", "/v1/edit-taxonomy", { key: t.keys.agent })).status).toBe(200);
    expect(logs.some((l) => l.includes("rate limiter failing open"))).toBe(true);
  });
});
