import { randomUUID } from "node:crypto";

/** A valid POST /v1/interactions body; override what the test is about. */
export function interactionBody(over: Record<string, unknown> = {}) {
  return {
    message_id: randomUUID(),
    user_id: "user-1",
    chat_id: 555,
    user_message: "hi there, how are you?",
    user_message_timestamp: new Date().toISOString(),
    llm1_raw_response: "raw draft",
    llm2_bubbles: ["hey!", "doing great"],
    llm1_model: "gemini-2.0-flash",
    llm2_model: "gpt-4o-mini",
    llm1_cost_usd: 0.0001,
    llm2_cost_usd: 0.0002,
    constitution_risk_score: 0.2,
    constitution_flags: [],
    constitution_recommendation: "approve",
    ...over,
  };
}

export const approveBody = (over: Record<string, unknown> = {}) => ({
  final_bubbles: ["hey!", "all good here"],
  edit_tags: ["TONE_CASUAL"],
  quality_score: 4,
  ...over,
});
