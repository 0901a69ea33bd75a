import { describe, expect, it } from "vitest";
import { createServices, historyKey, type Services } from "@hitl/core";
import { createApp } from "../functions/api/app.js";
import { createTestContext, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

/** A second instance of the app on the same stores (a second Lambda instance: its own memory). */
function secondInstance(t: TestContext) {
  const services: Services = createServices(t.config, {});
  const app = createApp(async () => services);
  return {
    services,
    call: (method: string, path: string, opts: { key?: string; body?: unknown } = {}) => Promise.resolve(app.request(path, {
      method, headers: { ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}), ...(opts.body !== undefined ? { "content-type": "application/json" } : {}) },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    })),
  };
}

describe("the cached history window", () => {
  it("equals Postgres's last 50 after 100 users x 10 concurrent appends through two instances (history and interactions)", async () => {
    const t = await createTestContext();
    const two = secondInstance(t);
    const users = Array.from({ length: 100 }, (_, i) => `hw${i}-${Date.now()}`);
    await Promise.all(users.flatMap((u) => Array.from({ length: 10 }, (_, j) => {
      const via = j % 2 === 0 ? t.call : two.call;
      return j % 3 === 0
        ? via("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: u, user_message: `m${j}` }) })
        : via("POST", `/v1/users/${u}/memory/history`, { key: t.keys.agent, body: { role: j % 2 ? "assistant" : "user", content: `m${j}` } });
    })));
    for (const u of users) {
      const durable = (await t.services.db.query<{ id: string }>("SELECT id FROM memory_messages WHERE user_id = $1 ORDER BY id DESC LIMIT 50", [u])).map((r) => Number(r.id)).reverse();
      expect(durable).toHaveLength(10);
      const members = await t.services.redis.client.zrange<string[]>(historyKey(t.services.redis, u), 0, -1, { withScores: true });
      const scores = members.filter((_, i) => i % 2 === 1).map(Number);
      // The window may be cached whole (marked complete) or in part; marked complete, it is exact.
      if (scores[0] === -1) {
        expect(scores.slice(1), u).toEqual(durable);
      } else {
        expect(durable, u).toEqual(expect.arrayContaining(scores));
      }
      const view = await (await two.call("GET", `/v1/users/${u}/memory?recent=50`, { key: t.keys.agent })).json() as { recent_messages: { id: number }[] };
      expect(view.recent_messages.map((m) => m.id), u).toEqual(durable);
    }
    // Every window was rebuilt by the reads above and is now complete and exact.
    for (const u of users.slice(0, 10)) {
      const members = await t.services.redis.client.zrange<string[]>(historyKey(t.services.redis, u), 0, -1, { withScores: true });
      expect(members.filter((_, i) => i % 2 === 1).map(Number)[0]).toBe(-1);
    }
  }, 120_000);
});

const nest = (depth: number, leaf: unknown = 1): unknown => { let v: unknown = leaf; for (let i = 0; i < depth; i++) v = { d: v }; return v; };

describe("free-form JSON has bounds", () => {
  it("refuses values nested too deep or too large with 400 on every field, and the worst accepted value breaks no read", async () => {
    const t = await createTestContext();
    const u = `j${Date.now()}`;
    const deep = nest(4110);
    const refused: [string, string, string, unknown][] = [
      ["POST", "/v1/interactions", t.keys.agent, interactionBody({ user_id: u, cta_data: { x: deep } })],
      ["PATCH", `/v1/users/${u}/memory/context`, t.keys.agent, { updates: { x: deep } }],
      ["POST", "/v1/recovery/operations", t.keys.bot, { operation_type: "manual", metadata: { x: nest(33) } }],
      ["POST", "/v1/interactions", t.keys.agent, interactionBody({ user_id: u, cta_data: { big: "x".repeat(17 * 1024) } })],
    ];
    for (const [method, path, key, body] of refused) {
      const r = await t.call(method, path, { key, body });
      expect(r.status, path).toBe(400);
      expect(((await r.json()) as any).error.code).toBe("invalid_request");
    }
    // The worst accepted: 31 levels under the field (32 in all), near the size limits.
    const worst = nest(31, "y".repeat(100));
    const created = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: u, cta_data: worst as Record<string, unknown> }) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as any).id;
    expect((await t.call("PATCH", `/v1/users/${u}/memory/context`, { key: t.keys.agent, body: { updates: worst } })).status).toBe(200);
    const op = await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "manual", metadata: worst } });
    expect(op.status).toBe(201);
    const opId = ((await op.json()) as any).id;
    expect((await t.call("PATCH", `/v1/recovery/operations/${opId}`, { key: t.keys.bot, body: { error_details: worst } })).status).toBe(200);
    expect((await t.call("PATCH", `/v1/recovery/operations/${opId}`, { key: t.keys.bot, body: { error_details: nest(33) } })).status).toBe(400);
    for (const [path, key] of [["/v1/reviews?limit=500", t.keys.reviewer], [`/v1/interactions/${id}`, t.keys.reviewer], [`/v1/users/${u}/memory`, t.keys.agent],
      ["/v1/recovery/operations", t.keys.bot], ["/v1/recovery/stats", t.keys.bot], ["/v1/memory/stats", t.keys.admin]] as const) {
      expect((await t.call("GET", path, { key })).status, path).toBe(200);
    }
  });
});
