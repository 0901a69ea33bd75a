import { createRoute, z } from "@hono/zod-openapi";
import { requestFingerprint, scopedKey } from "@hitl/core/runtime";
import { describe, expect, it } from "vitest";
import { idempotencyScope } from "./idempotency.js";
import { createOpenApiApp } from "./openapi.js";

// idempotencyScope on a bare app (no stack): its key is scopedKey's, its fingerprint the validated path and body, merged.
const route = createRoute({
  method: "post",
  path: "/things/{id}",
  request: {
    params: z.object({ id: z.string() }),
    body: { content: { "application/json": { schema: z.object({ n: z.number(), note: z.string().default("x") }) } } },
  },
  responses: { 200: { description: "the scope" } },
});
const app = createOpenApiApp();
app.use("*", async (c, next) => {
  c.set("principal", { id: "caller-1", scopes: ["agent"] } as never);
  await next();
});
app.openapi(route, (c) => c.json({ scope: idempotencyScope(c, "makeThing") ?? null }, 200) as never);
const post = (id: string, body: unknown, key?: string) =>
  Promise.resolve(
    app.request(`/things/${id}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify(body),
    }),
  ).then(async (r) => ((await r.json()) as { scope: { key: string; fingerprint: string } | null }).scope);

describe("idempotencyScope(c, operation)", () => {
  it("no header, no scope; with one, scopedKey of (principal, operation, header) and the fingerprint of the path and the validated body", async () => {
    expect(await post("a", { n: 1 })).toBeNull();
    const scope = await post("a", { n: 1 }, "k-1");
    expect(scope).toEqual({
      key: scopedKey("caller-1", "makeThing", "k-1"),
      fingerprint: requestFingerprint("makeThing", { id: "a", n: 1, note: "x" }),
    });
    // Another path id, or another body, is another request under the same key (a 422 where it is stored).
    expect((await post("b", { n: 1 }, "k-1"))!.fingerprint).not.toBe(scope!.fingerprint);
    expect((await post("a", { n: 2 }, "k-1"))!.fingerprint).not.toBe(scope!.fingerprint);
    expect((await post("a", { n: 1, note: "x" }, "k-1"))!.fingerprint).toBe(scope!.fingerprint);
  });
});
