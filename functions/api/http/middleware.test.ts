import { createLogger, createMetrics, generateKey, KeyRing } from "@hitl/core";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { authenticateBodies, requireScopes } from "./auth.js";
import { bodyGuards } from "./body-guards.js";
import type { AppEnv } from "./env.js";
import { toErrorResponse } from "./errors.js";
import { notFound } from "./not-found.js";
import { requestContext } from "./request-context.js";
import { withServices } from "./services.js";

/** Each middleware on a bare Hono app, configured by its options: no services, no stores. */
function bare() {
  const app = new Hono<AppEnv>();
  app.onError((err, c) => toErrorResponse(err, c));
  return app;
}
const json = (body: string, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body,
});
const bot = generateKey("bot-1", ["bot"]);
const admin = generateKey("admin-1", ["admin"]);
const keys = new KeyRing([bot.entry, admin.entry]);

describe("bodyGuards({ maxBytes })", () => {
  const app = bare();
  app.use("*", bodyGuards({ maxBytes: 1024 }));
  app.post("/echo", async (c) => c.json({ body: await c.req.json() }));
  app.get("/get", (c) => c.text("ok"));

  it("passes a JSON body through, parsed once", async () => {
    const res = await app.request("/echo", json('{"a":1}'));
    expect(await res.json()).toEqual({ body: { a: 1 } });
  });
  it("answers 413 over the limit, 415 for a body that is not JSON, 400 for a lone surrogate", async () => {
    expect((await app.request("/echo", json(JSON.stringify({ t: "x".repeat(2000) })))).status).toBe(413);
    const form = await app.request("/echo", { method: "POST", headers: { "content-type": "text/plain" }, body: "a=1" });
    expect(form.status).toBe(415);
    expect((await form.json()).error.code).toBe("unsupported_media_type");
    expect((await app.request("/echo", json('{"t":"\\ud800"}'))).status).toBe(400);
  });
  it("reads an empty body as {} and holds a GET to its declared length", async () => {
    expect(await (await app.request("/echo", { method: "POST" })).json()).toEqual({ body: {} });
    expect((await app.request("/get", { headers: { "content-length": "5000" } })).status).toBe(413);
  });
  it("reads the limit per request when given a function", async () => {
    const small = bare();
    let max = 2048;
    small.use("*", bodyGuards({ maxBytes: () => max }));
    small.post("/", (c) => c.text("ok"));
    expect((await small.request("/", json(JSON.stringify({ t: "x".repeat(1500) })))).status).toBe(200);
    max = 1024;
    expect((await small.request("/", json(JSON.stringify({ t: "x".repeat(1500) })))).status).toBe(413);
  });
});

describe("authenticateBodies and requireScopes({ keys, rateLimit })", () => {
  const checked: string[] = [];
  const options = { keys: () => keys, rateLimit: () => ({ check: async (id: string) => void checked.push(id) }) };
  const app = bare();
  app.use("*", authenticateBodies(options));
  app.use("*", bodyGuards({ maxBytes: 10 }));
  app.get("/bot", requireScopes(["bot"], options), (c) => c.json({ id: c.get("principal")?.id }));
  app.post("/bot", requireScopes(["bot"], options), (c) => c.json({ id: c.get("principal")?.id }));

  it("answers 401 without a key or with an unknown one, before a body is read (not 413)", async () => {
    expect((await app.request("/bot")).status).toBe(401);
    expect((await app.request("/bot", json("x".repeat(100), { authorization: "Bearer hitl_nope" }))).status).toBe(401);
  });
  it("lets the scope and admin through, after the rate limit", async () => {
    expect(await (await app.request("/bot", { headers: { authorization: `Bearer ${bot.key}` } })).json()).toEqual({ id: "bot-1" });
    expect(await (await app.request("/bot", { headers: { authorization: `Bearer ${admin.key}` } })).json()).toEqual({ id: "admin-1" });
    expect(checked).toEqual(["bot-1", "admin-1"]);
  });
  it("answers 403 naming the scopes that would do", async () => {
    const agent = generateKey("agent-1", ["agent"]);
    const only = bare();
    only.get("/", requireScopes(["bot", "reviewer"], { keys: () => new KeyRing([agent.entry]) }), (c) => c.text("no"));
    const res = await only.request("/", { headers: { authorization: `Bearer ${agent.key}` } });
    expect(res.status).toBe(403);
    const body = await res.json();
    expect(body.error.message).toMatch(/needs bot or reviewer or admin/);
    expect(body.error.details).toEqual({ required_scopes: ["bot", "reviewer", "admin"] });
  });
});

describe("requestContext({ log, metrics })", () => {
  it("echoes a valid request id, makes one for a bad one, logs one line and counts the request", async () => {
    const lines: string[] = [];
    const metrics = createMetrics();
    const app = bare();
    app.use("*", requestContext({ log: () => createLogger("info", {}, (l) => lines.push(l)), metrics: () => metrics }));
    app.get("/x/:id", (c) => c.text(c.get("requestId")));
    const res = await app.request("/x/1", { headers: { "x-request-id": "req-1" } });
    expect(res.headers.get("x-request-id")).toBe("req-1");
    expect(await res.text()).toBe("req-1");
    expect((await app.request("/x/2", { headers: { "x-request-id": "bad id!" } })).headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request");
    expect(logged[0]).toMatchObject({ request_id: "req-1", route: "/x/:id", status: 200, method: "GET" });
    expect(await metrics.registry.getSingleMetricAsString("http_requests_total")).toMatch(/route="\/x\/:id",status="200"} 2/);
  });
});

describe("withServices({ provide })", () => {
  it("puts the services on the context and turns a set-up failure into a bare 500", async () => {
    const services = { config: { lambdaMarginMs: 0 } } as never;
    const ok = bare();
    ok.use("*", withServices({ provide: async () => services }));
    ok.get("/", (c) => c.json({ same: c.get("services") === services }));
    expect(await (await ok.request("/")).json()).toEqual({ same: true });
    const failing = bare();
    failing.use(
      "*",
      withServices({
        provide: async () => {
          throw new Error("DATABASE_URL is required");
        },
      }),
    );
    failing.get("/", (c) => c.text("unreachable"));
    const res = await failing.request("/");
    expect(res.status).toBe(500);
    expect(await res.text()).not.toMatch(/DATABASE_URL/);
  });
});

describe("notFound(app)", () => {
  it("answers 405 with Allow for a path that exists under other methods, 404 otherwise", async () => {
    const app = bare();
    app.get("/v1/things/:id", (c) => c.text("ok"));
    app.put("/v1/things/:id", (c) => c.text("ok"));
    app.notFound(notFound(app));
    const res = await app.request("/v1/things/7", { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD, PUT");
    expect((await res.json()).error.code).toBe("method_not_allowed");
    expect((await app.request("/v1/others/7")).status).toBe(404);
  });
});
