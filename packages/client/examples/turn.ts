import { randomUUID } from "node:crypto";
import { createHitlClient } from "@hitl/client";

export interface TurnOptions {
  baseUrl: string;
  botKey: string;
  agentKey: string;
  reviewerKey: string;
}

/**
 * One conversation turn through the API, as a bot, an agent pipeline and a reviewer make it:
 * ingest, claim, interaction, review, outbox, sent. `npm run example -- turn` runs it against
 * `npm start`. Every run is its own conversation (a new user and Telegram message id), so a
 * second run is not a duplicate, and it acts only on its own message and reply.
 */
export async function turn(o: TurnOptions) {
  // README:begin
  const api = (apiKey: string) => createHitlClient({ baseUrl: o.baseUrl, apiKey });
  const [bot, agent, reviewer] = [api(o.botKey), api(o.agentKey), api(o.reviewerKey)];
  const user = `example-${randomUUID().slice(0, 8)}`; // a new conversation each run
  const [ingested] = (await bot.ingestMessages({ body: { user_id: user, chat_id: 42, text: "Hi!", telegram_message_id: Date.now() } }))
    .items;
  // Only our own message: no other consumer's queued message is touched.
  const [msg] = (await agent.claimMessages({ body: { message_ids: [ingested!.message_id] } })).items;
  if (!msg) throw new Error(`message ${ingested!.message_id} was not handed out (claimed by another consumer?)`);
  const { id } = await agent.createInteraction({
    body: {
      message_id: msg.message_id,
      user_id: msg.user_id,
      user_message: msg.text,
      user_message_timestamp: msg.received_at,
      llm1_raw_response: "draft",
      llm2_bubbles: ["Hello!"],
      constitution_risk_score: 0.1,
      constitution_flags: [],
      constitution_recommendation: "review",
    },
  });
  await agent.ackMessages({ body: { items: [msg] } });
  await reviewer.startReview({ params: { path: { id } } }); // this interaction's review (claimReview takes the top of the queue)
  await reviewer.approveReview({ params: { path: { id } }, body: { final_bubbles: ["Hello there!"], quality_score: 5 } });
  const [out] = (await bot.claimOutbox({ body: { interaction_ids: [id] } })).items; // only our reply
  if (out) {
    console.log(`send ${JSON.stringify(out.final_bubbles)} to chat ${out.chat_id}`); // your bot sends it to Telegram here
    await bot.markOutboxSent({ params: { path: { id } }, body: { lease_token: out.lease_token } });
  }
  // README:end
  return { user, message_id: msg.message_id, interaction_id: id, chat_id: out?.chat_id, sent: Boolean(out) };
}
