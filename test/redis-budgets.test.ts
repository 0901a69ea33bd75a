import { beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { createTestContext, type TestContext } from "./support/stack.js";
import { countRoundTrips } from "./support/round-trips.js";

// Issue 30 point 2: round trips the key layout saves.
let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});

describe("round trips", () => {
  it("a new user's first message marks the history window complete: the first GET memory is warm (1 Redis, no Postgres)", async () => {
    const u = `new-${randomUUID().slice(0, 8)}`;
    expect((await t.call("PATCH", `/v1/users/${u}/memory/context`, { key: t.keys.agent, body: { updates: { name: "N" } } })).status).toBe(
      200,
    );
    expect(
      (await t.call("POST", `/v1/users/${u}/memory/history`, { key: t.keys.agent, body: { role: "user", content: "first" } })).status,
    ).toBe(201);
    const rt = countRoundTrips(t.services);
    try {
      const view = (await (await t.call("GET", `/v1/users/${u}/memory`, { key: t.keys.agent })).json()) as {
        context: unknown;
        total_messages: number;
      };
      expect(view).toMatchObject({ context: { name: "N" }, total_messages: 1 });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
    } finally {
      rt.restore();
    }
    // A second message keeps it exact.
    await t.call("POST", `/v1/users/${u}/memory/history`, { key: t.keys.agent, body: { role: "assistant", content: "second" } });
    expect(
      ((await (await t.call("GET", `/v1/users/${u}/memory`, { key: t.keys.agent })).json()) as { total_messages: number }).total_messages,
    ).toBe(2);
  });

  it("two concurrent first messages of a new user: the window holds both", async () => {
    const u = `new2-${randomUUID().slice(0, 8)}`;
    await Promise.all(
      ["a", "b"].map((content) => t.call("POST", `/v1/users/${u}/memory/history`, { key: t.keys.agent, body: { role: "user", content } })),
    );
    const view = (await (await t.call("GET", `/v1/users/${u}/memory`, { key: t.keys.agent })).json()) as {
      recent_messages: { content: string }[];
    };
    expect(view.recent_messages.map((m) => m.content).sort()).toEqual(["a", "b"]);
  });

  it("a cold ingest (a user the protocol cache does not know) costs 2 Redis round trips and 1 Postgres", async () => {
    const rt = countRoundTrips(t.services);
    try {
      const res = await t.call("POST", "/v1/messages", {
        key: t.keys.bot,
        body: { user_id: `cold-${randomUUID().slice(0, 8)}`, text: "hi" },
      });
      expect(res.status).toBe(202);
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 2, postgres: 1 });
    } finally {
      rt.restore();
    }
  });
});
