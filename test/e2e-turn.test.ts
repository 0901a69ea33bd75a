import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => { t = await createTestContext(); });

const call = async (method: string, path: string, key: string, body?: unknown, status = 200) => {
  const res = await t.call(method, path, { key, body });
  expect(res.status, `${method} ${path}`).toBe(status);
  return res.status === 204 ? null : ((await res.json()) as any);
};

describe("a full conversation turn over HTTP", () => {
  it("ingest -> claim -> interaction -> review claim -> approve -> outbox claim -> sent -> history shows both turns", async () => {
    // The userbot receives a Telegram message.
    const ingested = await call("POST", "/v1/messages", t.keys.bot,
      { user_id: "tg-42", chat_id: 4242, text: "Hi! Do you like jazz?", telegram_message_id: 9001, telegram_date: "2026-11-25T09:00:00Z" }, 202);
    const messageId = ingested.items[0].message_id;

    // The LLM pipeline claims it, drafts a reply and stores the interaction, then acks.
    const [msg] = (await call("POST", "/v1/messages/claim", t.keys.agent, { max: 1 })).items;
    expect(msg).toMatchObject({ message_id: messageId, user_id: "tg-42", text: "Hi! Do you like jazz?", chat_id: 4242 });
    const { id } = await call("POST", "/v1/interactions", t.keys.agent, interactionBody({
      message_id: msg.message_id, user_id: msg.user_id, chat_id: msg.chat_id, user_message: msg.text, user_message_timestamp: msg.telegram_date,
      telegram_message_id: msg.telegram_message_id, telegram_date: msg.telegram_date, llm2_bubbles: ["I love jazz", "do you play?"],
    }), 201);
    expect(await call("POST", "/v1/messages/ack", t.keys.agent, { items: [msg] })).toEqual({ acked: 1, stale: [] });

    // A reviewer claims it, edits and approves.
    const review = await call("POST", "/v1/reviews/claim", t.keys.reviewer, {});
    expect(review).toMatchObject({ id, review_status: "reviewing", llm2_bubbles: ["I love jazz", "do you play?"] });
    const approved = await call("POST", `/v1/reviews/${id}/approve`, t.keys.reviewer,
      { final_bubbles: ["I love jazz!", "Do you play an instrument?"], edit_tags: ["TONE_ENERGY_UP"], quality_score: 4 });
    expect(approved.review_status).toBe("approved");

    // The bot picks up the approved reply, sends it, and confirms.
    const [out] = (await call("POST", "/v1/outbox/claim", t.keys.bot, {})).items;
    expect(out).toMatchObject({ interaction_id: id, user_id: "tg-42", chat_id: 4242, final_bubbles: ["I love jazz!", "Do you play an instrument?"] });
    await call("POST", `/v1/outbox/${id}/sent`, t.keys.bot, { lease_token: out.lease_token });
    expect((await call("POST", "/v1/outbox/claim", t.keys.bot, {})).items).toEqual([]);

    // The memory shows both turns, and the anti-interrogation flag for the next draft.
    const memory = await call("GET", "/v1/users/tg-42/memory", t.keys.agent);
    expect(memory.recent_messages.map((m: any) => [m.role, m.content])).toEqual([
      ["user", "Hi! Do you like jazz?"],
      ["assistant", "I love jazz! Do you play an instrument?"],
    ]);
    expect(memory.recent_messages[1].bubbles).toEqual(["I love jazz!", "Do you play an instrument?"]);
    expect(memory.last_assistant_asked_question).toBe(true);
    const final = await call("GET", `/v1/interactions/${id}`, t.keys.reviewer);
    expect(final.messages_sent_at).not.toBeNull();
    expect((await call("GET", "/v1/messages/stats", t.keys.agent))).toMatchObject({ pending: 0, in_flight: 0 });
  });
});
