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
