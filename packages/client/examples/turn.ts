import { createHitlClient } from "@hitl/client";

export async function turn(BOT_KEY: string, AGENT_KEY: string, REVIEWER_KEY: string) {
  // README:begin
  const api = (apiKey: string) => createHitlClient({ baseUrl: "http://127.0.0.1:8787", apiKey });
  const [bot, agent, reviewer] = [api(BOT_KEY), api(AGENT_KEY), api(REVIEWER_KEY)];
  await bot.ingestMessages({ body: { user_id: "42", chat_id: 42, text: "Hi!", telegram_message_id: 1 } });
  const [msg] = (await agent.claimMessages({ body: { max: 1 } })).items;
  if (!msg) return;
  const { id } = await agent.createInteraction({ body: { message_id: msg.message_id, user_id: msg.user_id, user_message: msg.text,
    user_message_timestamp: msg.received_at, llm1_raw_response: "draft", llm2_bubbles: ["Hello!"],
    constitution_risk_score: 0.1, constitution_flags: [], constitution_recommendation: "review" } });
  await agent.ackMessages({ body: { items: [msg] } });
  await reviewer.claimReview(); // the highest-priority pending review, or null
  await reviewer.approveReview({ params: { path: { id } }, body: { final_bubbles: ["Hello there!"], quality_score: 5 } });
  const [out] = (await bot.claimOutbox()).items; // out.chat_id is 42
  if (out) await bot.markOutboxSent({ params: { path: { id } }, body: { lease_token: out.lease_token } });
  // README:end
}
