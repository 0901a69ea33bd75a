import { describe, expect, it } from "vitest";
import { chatFinetuneLine } from "./chat-finetune.js";
import type { TurnRow } from "./context.js";
import { preferencePairLine } from "./preference-pairs.js";

const turn = (over: Partial<TurnRow> = {}): TurnRow => ({
  id: "0f8a4c52-8a8e-4a8e-9a57-4f0f2d6c1b3e",
  user_id: "u1",
  created_at: "2026-11-20T18:04:11.512Z",
  user_message: "qué haces hoy?",
  final_bubbles: ["pues trabajando", "y tú?"],
  llm2_bubbles: ["Hoy tengo un día tranquilo."],
  edit_tags: ["TONE_CASUAL"],
  quality_score: 5,
  llm1_model: "m1",
  llm2_model: "m2",
  customer_status: "PROSPECT",
  sent: true,
  context: [{ user_message: "hola", reply: ["holaa"] }],
  ...over,
});

describe("chatFinetuneLine", () => {
  it("ends with the approved reply as the assistant's, keeps the user for the job", () => {
    const line = chatFinetuneLine(turn());
    expect(line.messages).toEqual([
      { role: "user", content: "hola" },
      { role: "assistant", content: "holaa" },
      { role: "user", content: "qué haces hoy?" },
      { role: "assistant", content: "pues trabajando y tú?" },
    ]);
    expect(line.metadata).toMatchObject({ edited: true, context_turns: 1, bubbles: 2, sent: true });
    expect(line.user_id).toBe("u1");
  });
});

describe("preferencePairLine", () => {
  it("pairs the approved reply (chosen) with the draft (rejected)", () => {
    const line = preferencePairLine(turn())!;
    expect(line.chosen).toEqual([{ role: "assistant", content: "pues trabajando y tú?" }]);
    expect(line.rejected).toEqual([{ role: "assistant", content: "Hoy tengo un día tranquilo." }]);
    expect(line.prompt.at(-1)).toEqual({ role: "user", content: "qué haces hoy?" });
  });
  it("gives no pair for an unchanged text, a missing draft or a blank user message", () => {
    expect(preferencePairLine(turn({ llm2_bubbles: ["pues  trabajando y", "tú?"] }))).toBeNull();
    expect(preferencePairLine(turn({ llm2_bubbles: [] }))).toBeNull();
    expect(preferencePairLine(turn({ llm2_bubbles: [" "] }))).toBeNull();
    expect(preferencePairLine(turn({ user_message: "  " }))).toBeNull();
  });
});
