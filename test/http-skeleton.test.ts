import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { countRoundTrips } from "./support/round-trips.js";

let t: TestContext;
const logs: string[] = [];
beforeAll(async () => {
  t = await createTestContext({}, logs);
});

const expectError = async (res: Response, status: number, code: string) => {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  return body;
};

describe("health", () => {
  it("GET /health needs no key and reveals only the status", async () => {
    const res = await t.call("GET", "/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("GET /v1/health checks Postgres, Redis and storage for real", async () => {
    const res = await t.call("GET", "/v1/health", { key: t.keys.admin });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.status).toBe("ok");
    expect(body.postgres.ok).toBe(true);
    expect(body.postgres.latency_ms).toBeGreaterThan(0);
    expect(body.redis).toMatchObject({ ok: true, breaker: "closed" });
    expect(body.storage).toEqual({ ok: true });
  });

  it("GET /v1/health makes one Postgres and one Redis round trip", async () => {
    const rt = countRoundTrips(t.services);
    try {
      await t.call("GET", "/v1/health", { key: t.keys.admin });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 1 });
    } finally {
      rt.restore();
    }
  });
});

describe("auth", () => {
  it("answers 401 without a key", async () => {
    await expectError(await t.call("GET", "/v1/health"), 401, "unauthorized");
  });
  it("answers 401 for an unknown key and for a malformed header", async () => {
    await expectError(await t.call("GET", "/v1/health", { key: "hitl_not-a-real-key" }), 401, "unauthorized");
    await expectError(await t.call("GET", "/v1/health", { headers: { authorization: `Basic ${t.keys.admin}` } }), 401, "unauthorized");
  });
  it("answers 403 when the key lacks the scope", async () => {
    await expectError(await t.call("GET", "/v1/health", { key: t.keys.reviewer }), 403, "forbidden");
    await expectError(await t.call("GET", "/metrics", { key: t.keys.bot }), 403, "forbidden");
  });
  it("names the scopes that would do in a 403", async () => {
    const body = await expectError(await t.call("GET", "/v1/health", { key: t.keys.reviewer }), 403, "forbidden");
    expect(body.error.message).toMatch(/needs admin/);
    expect((body.error as { details?: unknown }).details).toEqual({ required_scopes: ["admin"] });
  });
  it("lets admin call admin routes", async () => {
    expect((await t.call("GET", "/metrics", { key: t.keys.admin })).status).toBe(200);
  });
});

describe("error shape", () => {
  it("answers 404 not_found for an unknown route", async () => {
    await expectError(await t.call("GET", "/v1/nope", { key: t.keys.admin }), 404, "not_found");
  });
  it("answers 405 with Allow for a known path under another method", async () => {
    const res = await t.call("DELETE", "/v1/messages/claim", { key: t.keys.admin });
    await expectError(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("POST");
  });
  it("answers 'invalid request body' with field details when the JSON parses but fails the schema", async () => {
    const body = await expectError(
      await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: 42, text: "hi" } }),
      400,
      "invalid_request",
    );
    expect(body.error.message).toBe("invalid request body");
    expect((body.error as { details?: unknown }).details).toEqual([expect.objectContaining({ in: "json", path: "user_id" })]);
    const malformed = await expectError(
      await t.call("POST", "/v1/messages", { key: t.keys.bot, body: "{not json" }),
      400,
      "invalid_request",
    );
    expect(malformed.error.message).toMatch(/malformed json/i);
  });
  it("answers 415 for a body that is not JSON", async () => {
    await expectError(
      await t.call("POST", "/v1/health", {
        key: t.keys.admin,
        body: "a=1",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }),
      415,
      "unsupported_media_type",
    );
  });
  it("answers 413 for a body over 1 MB", async () => {
    const big = JSON.stringify({ text: "x".repeat(1024 * 1024 + 10) });
    await expectError(await t.call("POST", "/v1/health", { key: t.keys.admin, body: big }), 413, "payload_too_large");
  });
  it("sets and echoes a request id", async () => {
    const res = await t.call("GET", "/health", { headers: { "x-request-id": "req-123" } });
    expect(res.headers.get("x-request-id")).toBe("req-123");
    const fresh = await t.call("GET", "/health");
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
  it("logs JSON lines without the key", async () => {
    await t.call("GET", "/v1/health", { key: t.keys.admin, headers: { "x-request-id": "log-check" } });
    const line = logs.map((l) => JSON.parse(l)).find((l) => l.request_id === "log-check" && l.msg === "request");
    expect(line).toMatchObject({ level: "info", method: "GET", route: "/v1/health", status: 200, key_id: "admin-key" });
    expect(logs.join("\n")).not.toContain(t.keys.admin);
  });
});

describe("metrics and openapi", () => {
  it("serves Prometheus text with the seed's pool and Redis latency metrics", async () => {
    await t.call("GET", "/v1/health", { key: t.keys.admin });
    const text = await (await t.call("GET", "/metrics", { key: t.keys.admin })).text();
    for (const name of [
      "pool_size_active",
      "pool_size_waiting",
      "query_duration_seconds",
      "connection_errors_total",
      "connection_pool_hits",
      "connection_pool_misses",
      "operation_latency_seconds",
      "memory_usage_bytes",
      "redis_breaker_state",
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    }
    expect(text).toMatch(/^operation_latency_seconds_count\{op="ping"\} [1-9]/m);
    expect(text).toMatch(/^query_duration_seconds_count\{kind="query"\} [1-9]/m);
  });
  it("generates /openapi.json from the route schemas", async () => {
    const res = await t.call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/health", "/v1/health", "/metrics", "/openapi.json"]));
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/v1/health"].get.security).toEqual([{ bearerAuth: [] }]);
  });
});
