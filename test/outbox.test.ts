import { beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { createTestContext, type TestContext } from "./support/stack.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const json = async (res: Response) => (await res.json()) as any;

async function approved(user: string, bubbles: string[]) {
  const { id } = await json(await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: user }) }));
  const res = await t.call("POST", `/v1/reviews/${id}/approve`, { key: t.keys.reviewer, body: approveBody({ final_bubbles: bubbles }) });
  expect(res.status).toBe(200);
  return id as string;
}
const claim = async (body: unknown = {}) =>
  (await json(await t.call("POST", "/v1/outbox/claim", { key: t.keys.bot, body }))).items as any[];

describe("outbox", () => {
  it("hands out approved, unsent replies oldest approval first, each to one claimer while leased", async () => {
    const a = await approved("ob1", ["one"]);
    const b = await approved("ob2", ["two", "three"]);
    const [first, second] = await Promise.all([claim({ max: 1 }), claim({ max: 1 })]);
    expect([...first!, ...second!].map((i) => i.interaction_id).sort()).toEqual([a, b].sort());
    expect(await claim()).toEqual([]);
    const all = [...first!, ...second!];
    const itemB = all.find((i) => i.interaction_id === b);
    expect(itemB).toMatchObject({ user_id: "ob2", chat_id: 555, final_bubbles: ["two", "three"], lease_token: expect.any(String) });
    for (const i of all)
      expect(
        (await t.call("POST", `/v1/outbox/${i.interaction_id}/sent`, { key: t.keys.bot, body: { lease_token: i.lease_token } })).status,
      ).toBe(200);
  });

  it("re-offers a reply whose lease expired; the old token then gets 409", async () => {
    const id = await approved("ob3", ["hi"]);
    const [item] = await claim({ max: 5, lease_seconds: 5 });
    const c = new pg.Client({ connectionString: t.databaseUrl });
    await c.connect();
    await c.query("UPDATE interactions SET outbox_lease_expires_at = now() - interval '1 second' WHERE id = $1", [id]);
    await c.end();
    const [again] = await claim();
    expect(again.interaction_id).toBe(id);
    expect(again.lease_token).not.toBe(item.lease_token);
    const stale = await t.call("POST", `/v1/outbox/${id}/sent`, { key: t.keys.bot, body: { lease_token: item.lease_token } });
    expect(stale.status).toBe(409);
    expect((await t.call("POST", `/v1/outbox/${id}/sent`, { key: t.keys.bot, body: { lease_token: again.lease_token } })).status).toBe(200);
  });

  it("marks sent once, sets messages_sent_at, and answers a repeat with 200", async () => {
    const id = await approved("ob4", ["bubble a", "bubble b"]);
    const [item] = await claim();
    const sentAt = "2026-11-25T12:00:00.000Z";
    const res = await t.call("POST", `/v1/outbox/${id}/sent`, {
      key: t.keys.bot,
      body: { lease_token: item.lease_token, sent_at: sentAt },
    });
    expect(await json(res)).toEqual({ interaction_id: id, messages_sent_at: sentAt, already_sent: false });
    const repeat = await t.call("POST", `/v1/outbox/${id}/sent`, { key: t.keys.bot, body: { lease_token: item.lease_token } });
    expect(repeat.status).toBe(200);
    expect(await json(repeat)).toEqual({ interaction_id: id, messages_sent_at: sentAt, already_sent: true });
    const got = await json(await t.call("GET", `/v1/interactions/${id}`, { key: t.keys.agent }));
    expect(got.messages_sent_at).toBe(sentAt);
    const c = new pg.Client({ connectionString: t.databaseUrl });
    await c.connect();
    const turns = (await c.query("SELECT role, content, bubbles FROM memory_messages WHERE user_id = 'ob4' ORDER BY id")).rows;
    await c.end();
    expect(turns).toEqual([
      { role: "user", content: "hi there, how are you?", bubbles: null },
      { role: "assistant", content: "bubble a bubble b", bubbles: ["bubble a", "bubble b"] },
    ]);
  });

  it("answers 404 for an unknown id and 409 for a reply not in the outbox", async () => {
    expect(
      (await t.call("POST", "/v1/outbox/00000000-0000-4000-8000-000000000009/sent", { key: t.keys.bot, body: { lease_token: "x" } }))
        .status,
    ).toBe(404);
    const { id } = await json(await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody() }));
    const res = await t.call("POST", `/v1/outbox/${id}/sent`, {
      key: t.keys.bot,
      body: { lease_token: "00000000-0000-4000-8000-000000000000" },
    });
    expect(res.status).toBe(409);
  });
});
