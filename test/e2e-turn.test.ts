import { beforeAll, describe, expect, it } from "vitest";
import { createHitlClient, HitlApiError, type HitlClient } from "@hitl/client";
import { createTestContext, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

// Through the typed client (packages/client), as a client developer would: the real app and
// stores behind it, reached through the client's own fetch path (no network in between).
let t: TestContext;
let as: (key: string) => HitlClient;
beforeAll(async () => {
  t = await createTestContext();
  as = (apiKey) => createHitlClient({ baseUrl: "http://api.local", apiKey, fetch: async (req) => t.app.request(req) });
});

describe("a full conversation turn through the typed client", () => {
  it("ingest -> claim -> interaction -> review claim -> approve -> outbox claim -> sent -> history shows both turns", async () => {
    const [bot, agent, reviewer] = [as(t.keys.bot), as(t.keys.agent), as(t.keys.reviewer)];
    // The userbot receives a Telegram message.
    const ingested = await bot.ingestMessages({
      body: {
        user_id: "tg-42",
        chat_id: 4242,
        text: "Hi! Do you like jazz?",
        telegram_message_id: 9001,
        telegram_date: "2026-11-25T09:00:00Z",
      },
    });
    const messageId = ingested.items[0]!.message_id;

    // The LLM pipeline claims it, drafts a reply and stores the interaction, then acks.
    const [msg] = (await agent.claimMessages({ body: { max: 1 } })).items;
    expect(msg).toMatchObject({ message_id: messageId, user_id: "tg-42", text: "Hi! Do you like jazz?", chat_id: 4242 });
    const { id } = await agent.createInteraction({
      body: interactionBody({
        message_id: msg!.message_id,
        user_id: msg!.user_id,
        chat_id: msg!.chat_id,
        user_message: msg!.text,
        user_message_timestamp: msg!.telegram_date,
        telegram_message_id: msg!.telegram_message_id,
        telegram_date: msg!.telegram_date,
        llm2_bubbles: ["I love jazz", "do you play?"],
      }) as never,
    });
    expect(await agent.ackMessages({ body: { items: [msg!] } })).toEqual({ acked: 1, stale: [] });

    // A reviewer claims it, edits and approves.
    const review = await reviewer.claimReview();
    expect(review).toMatchObject({ id, review_status: "reviewing", llm2_bubbles: ["I love jazz", "do you play?"] });
    const approved = await reviewer.approveReview({
      params: { path: { id } },
      body: { final_bubbles: ["I love jazz!", "Do you play an instrument?"], edit_tags: ["TONE_ENERGY_UP"], quality_score: 4 },
    });
    expect(approved.review_status).toBe("approved");

    // The bot picks up the approved reply, sends it, and confirms.
    const [out] = (await bot.claimOutbox()).items;
    expect(out).toMatchObject({
      interaction_id: id,
      user_id: "tg-42",
      chat_id: 4242,
      final_bubbles: ["I love jazz!", "Do you play an instrument?"],
    });
    await bot.markOutboxSent({ params: { path: { id } }, body: { lease_token: out!.lease_token } });
    expect((await bot.claimOutbox()).items).toEqual([]);

    // The memory shows both turns, and the anti-interrogation flag for the next draft.
    const memory = await agent.getMemory({ params: { path: { id: "tg-42" } } });
    expect(memory.recent_messages.map((m) => [m.role, m.content])).toEqual([
      ["user", "Hi! Do you like jazz?"],
      ["assistant", "I love jazz! Do you play an instrument?"],
    ]);
    expect(memory.last_assistant_asked_question).toBe(true);
    const final = await reviewer.getInteraction({ params: { path: { id } } });
    expect(final.messages_sent_at).not.toBeNull();
    expect(await agent.getMessageStats()).toMatchObject({ pending: 0, in_flight: 0 });
    // A refusal is a typed error carrying the API's code.
    await expect(bot.getMemory({ params: { path: { id: "tg-42" } } })).rejects.toMatchObject({
      name: "HitlApiError",
      status: 403,
      code: "forbidden",
    });
    await expect(reviewer.getInteraction({ params: { path: { id: "00000000-0000-4000-8000-000000000000" } } })).rejects.toBeInstanceOf(
      HitlApiError,
    );
  });
});
