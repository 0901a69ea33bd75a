import { describe, expect, it } from "vitest";
import { z } from "./zod.js";
import { createOpenApiApp, lazyReady, type ApiApp } from "./openapi.js";
import { jsonBody, jsonContent } from "./schemas.js";

/** A group of two routes, one validating its body and one with a path parameter (pure Hono: no store is involved). */
function group() {
  return createOpenApiApp()
    .openapi({ method: "post", path: "/v1/things", request: { body: jsonBody(z.object({ name: z.string() })) },
      responses: { 201: jsonContent(z.object({ created: z.string() })) } },
      async (c) => c.json({ created: c.req.valid("json").name }, 201))
    .openapi({ method: "get", path: "/v1/things/{id}", request: { params: z.object({ id: z.string().max(5) }) },
      responses: { 200: jsonContent(z.object({ id: z.string() })) } },
      async (c) => c.json({ id: c.req.valid("param").id }, 200));
}

const ROUTES = [["post", "/v1/things"], ["get", "/v1/things/{id}"]] as const;

function lazyApp(load: () => Promise<ApiApp>) {
  const app = createOpenApiApp();
  app.use("*", async (c, next) => { await next(); c.header("x-outer", "yes"); });
  app.includeLazily(ROUTES, load);
  app.onError((err, c) => c.json({ error: err.name }, err.name === "ValidationError" ? 400 : 500));
  return app;
}

describe("ApiApp.includeLazily", () => {
  it("loads the group on the first request, once for concurrent first requests, and answers as the group would", async () => {
    let loads = 0;
    const app = lazyApp(async () => { loads++; await new Promise((r) => setTimeout(r, 10)); return group(); });
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([app.request("/v1/things/abc"), app.request("/v1/things/xyz")]);
    expect(loads).toBe(1);
    expect(await a.json()).toEqual({ id: "abc" });
    expect(await b.json()).toEqual({ id: "xyz" });
    expect(a.headers.get("x-outer")).toBe("yes");
    const created = await app.request("/v1/things", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "n" }) });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ created: "n" });
    expect(loads).toBe(1);
  });

  it("runs the group's validation: a bad parameter or body reaches the app's error handler", async () => {
    const app = lazyApp(async () => group());
    expect((await app.request("/v1/things/toolong")).status).toBe(400);
    const bad = await app.request("/v1/things", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: 1 }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: "ValidationError" });
  });

  it("tries a failed load again on the next request", async () => {
    let loads = 0;
    const app = lazyApp(async () => { if (++loads === 1) throw new Error("chunk not readable"); return group(); });
    expect((await app.request("/v1/things/a")).status).toBe(500);
    const res = await app.request("/v1/things/a");
    expect(res.status).toBe(200);
    expect(loads).toBe(2);
  });

  it("only routes what the manifest lists: other paths and methods are not found", async () => {
    const app = lazyApp(async () => group());
    expect((await app.request("/v1/things/a", { method: "DELETE" })).status).toBe(404);
    expect((await app.request("/v1/other")).status).toBe(404);
  });

  it("fails clearly when the manifest lists a route its group does not declare (a stale manifest)", async () => {
    const app = createOpenApiApp();
    app.includeLazily([["get", "/v1/gone"]], async () => group());
    let error: Error | undefined;
    app.onError((err, c) => { error = err; return c.text("", 500); });
    expect((await app.request("/v1/gone")).status).toBe(500);
    expect(error?.message).toMatch(/manifest.*npm run openapi/);
  });

  it("refuses a group with middleware outside its routes' declarations (a lazy include would not run it)", async () => {
    const app = lazyApp(async () => { const g = group(); g.use("/v1/things/*", async (_c, next) => next()); return g; });
    const res = await app.request("/v1/things/a");
    expect(res.status).toBe(500);
    const stray = group();
    stray.use("*", async (_c, next) => next());
    expect(() => lazyReady(stray)).toThrow(/make it the route's middleware/);
    expect(lazyReady(group())).toBeDefined();
  });

  it("lists every declaration in order, the lazy group's in its place", async () => {
    const app = createOpenApiApp()
      .openapi({ method: "get", path: "/first", responses: { 200: jsonContent(z.object({})) } }, (c) => c.json({}, 200))
      .includeLazily(ROUTES, async () => group())
      .openapi({ method: "get", path: "/last", responses: { 200: jsonContent(z.object({})) } }, (c) => c.json({}, 200));
    expect((await app.declarations()).map((r) => `${r.method} ${r.path}`)).toEqual(["get /first", "post /v1/things", "get /v1/things/{id}", "get /last"]);
  });
});
