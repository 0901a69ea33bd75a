import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { createTestContext } from "./support/stack.js";
import { countRoundTrips } from "./support/round-trips.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

describe("chat ids as Telegram has them", () => {
  it("the chat id a message came with reaches the outbox when the interaction names only its message_id; numeric or @username", async () => {
    const t = await createTestContext();
    const json = async (r: Response) => (await r.json()) as any;
    for (const [user, chat] of [
      ["ci1", 9999],
      ["ci2", "@somechannel"],
    ] as const) {
      await t.call("PUT", `/v1/users/${user}/protocol`, { key: t.keys.reviewer, body: { status: "INACTIVE" } });
      expect(
        (await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: user, text: "hello", chat_id: chat } })).status,
      ).toBe(202);
      const claimed = (await json(await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 1 } }))).items[0];
      expect(claimed.chat_id).toEqual(chat);
      const { chat_id: _c, ...body } = interactionBody({ user_id: user, message_id: claimed.message_id });
      const rt = countRoundTrips(t.services);
      const created = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body });
      // Without chat_id the server reads it from the WAL message: one more Redis round trip (the
      // audit row rides in the insert's transaction: no Postgres round trip of its own).
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 2, postgres: 1 });
      rt.restore();
      const id = (await json(created)).id;
      expect((await json(await t.call("GET", `/v1/interactions/${id}`, { key: t.keys.reviewer }))).chat_id).toEqual(chat);
      await t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items: [claimed] } });
      await t.call("POST", `/v1/reviews/${id}/approve`, { key: t.keys.reviewer, body: approveBody() });
      const items = (await json(await t.call("POST", "/v1/outbox/claim", { key: t.keys.bot, body: { max: 50 } }))).items;
      expect(items.find((i: any) => i.interaction_id === id).chat_id).toEqual(chat);
    }
    // An explicit chat_id on the interaction wins, and costs no extra round trip.
    const rt = countRoundTrips(t.services);
    const explicit = await t.call("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: "ci3", chat_id: "@otherchannel" }),
    });
    expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 1 });
    rt.restore();
    const got = await json(await t.call("GET", `/v1/interactions/${(await json(explicit)).id}`, { key: t.keys.reviewer }));
    expect(got.chat_id).toBe("@otherchannel");
    expect(
      (await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "ci1", text: "x", chat_id: "not a chat" } })).status,
    ).toBe(400);
  });

  it("a POST with no body, no Content-Length and no Content-Type on an optional-body route is {}", async () => {
    const { serve } = await import("@hono/node-server");
    const t = await createTestContext();
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as { port: number }).port;
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          { host: "127.0.0.1", port, method: "POST", path: "/v1/messages/claim", headers: { authorization: `Bearer ${t.keys.agent}` } },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.on("error", reject);
        req.end();
      });
      expect(status).toBe(200);
      const typed = await fetch(`http://127.0.0.1:${port}/v1/messages/claim`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.keys.agent}`, "content-type": "text/plain" },
        body: "max=1",
      });
      expect(typed.status).toBe(415);
    } finally {
      server.close();
    }
  });
});
