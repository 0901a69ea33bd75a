import { createLogger, createMetrics, generateKey, KeyRing, type Services } from "@hitl/core";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../scripts/openapi-document.js";
import { createApp } from "./app.js";
import { createOpenApiApp, securedRoute } from "./http/openapi.js";
import { jsonBody, jsonContent } from "./http/schemas.js";
import { z } from "@hono/zod-openapi";
import { ROUTE_GROUPS } from "./routes/index.js";

/** What the HTTP layer reads from the services before a handler runs: no store is involved. */
const admin = generateKey("admin-1", ["admin"]);
const services = {
  config: { maxBodyBytes: 1024 * 1024, lambdaMarginMs: 1000 },
  log: createLogger("silent"),
  metrics: createMetrics(),
  keys: new KeyRing([admin.entry]),
} as unknown as Services;
const auth = { authorization: `Bearer ${admin.key}`, "content-type": "application/json" };

describe("adding a route", () => {
  it("answers as soon as its group declares it, validated and documented, with nothing generated first", async () => {
    // A route file as a developer writes one (functions/api/routes/*.ts), and its one line in routes/index.ts.
    const Widget = z.object({ name: z.string().min(1).max(20), size: z.number().int().default(1) }).openapi("Widget");
    const create = securedRoute(["agent"], {
      method: "post",
      path: "/v1/widgets/{id}",
      operationId: "createWidget",
      tags: ["operations"],
      summary: "A route added by a test",
      request: { params: z.object({ id: z.string().max(8) }), body: jsonBody(Widget) },
      responses: { 201: jsonContent(Widget.extend({ id: z.string() })) },
    });
    const widgetRoutes = () =>
      createOpenApiApp().openapi(create, async (c) => c.json({ id: c.req.valid("param").id, ...c.req.valid("json") }, 201));
    ROUTE_GROUPS.push(widgetRoutes as never);
    try {
      const app = createApp(async () => services);
      const ok = await app.request("/v1/widgets/w1", { method: "POST", headers: auth, body: JSON.stringify({ name: "gear" }) });
      expect(ok.status).toBe(201);
      expect(await ok.json()).toEqual({ id: "w1", name: "gear", size: 1 });

      const bad = await app.request("/v1/widgets/w1", { method: "POST", headers: auth, body: JSON.stringify({ name: "", size: 1.5 }) });
      expect(bad.status).toBe(400);
      const error = (await bad.json()).error;
      expect(error.message).toBe("invalid request body");
      expect(error.details.map((d: { in: string; path: string }) => `${d.in} ${d.path}`).sort()).toEqual(["json name", "json size"]);

      const malformed = await app.request("/v1/widgets/w1", { method: "POST", headers: auth, body: "{oops" });
      expect(malformed.status).toBe(400);
      expect((await malformed.json()).error.code).toBe("invalid_request");

      const wrong = await app.request("/v1/widgets/w1", { method: "GET", headers: auth });
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get("allow")).toBe("POST");

      const doc = openApiDocument(app) as unknown as { paths: Record<string, Record<string, { operationId: string }>> };
      expect(doc.paths["/v1/widgets/{id}"]?.post?.operationId).toBe("createWidget");
    } finally {
      ROUTE_GROUPS.pop();
    }
  });

  it("routes every operation the document lists (the router and the document come from the same app)", async () => {
    const app = createApp(async () => services);
    const doc = openApiDocument(app) as unknown as { paths: Record<string, Record<string, unknown>> };
    const missing: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        const url = path.replaceAll(/\{[^}]+\}/g, "x");
        // No key: a routed operation answers 401 (or 200 when open), never 404 or 405.
        const res = await app.request(url, { method: method.toUpperCase() });
        if (res.status === 404 || res.status === 405) missing.push(`${method} ${path}`);
      }
    }
    expect(missing).toEqual([]);
    expect(Object.keys(doc.paths).length).toBeGreaterThan(30);
  });
});

describe("a handler over fake ports", () => {
  it("the WAL's claim hands the validated body (message_ids included) to core through deps(c), with the caller's scope for a retry", async () => {
    const calls: unknown[][] = [];
    const wal = {
      claim: async (...args: unknown[]) => {
        calls.push(args);
        return [];
      },
    };
    const app = createApp(async () => ({ ...services, wal }) as unknown as Services);
    const id = "3f0c2b9e-8d4a-4c1e-9f7a-0a1b2c3d4e5f";
    const res = await app.request("/v1/messages/claim", {
      method: "POST",
      headers: { ...auth, "idempotency-key": "retry-1" },
      body: JSON.stringify({ message_ids: [id] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: [] });
    expect(calls).toHaveLength(1);
    const [max, lease, , retry, ids] = calls[0]!;
    expect([max, lease, ids]).toEqual([10, 300, [id]]);
    expect(retry).toMatchObject({ principal: "admin-1", key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
  });
});
