import type { ExportSource, ExportSourceFactory } from "../source.js";
import { countTurns, streamTurns, type TurnRow } from "./context.js";
import { draftChanged, joinBubbles, promptMessages, type ChatMessage } from "./turns.js";

/** One line of chat_finetune (docs/datasets/chat_finetune.schema.json), plus `user_id` for the job (not written). */
export interface ChatFinetuneLine {
  messages: ChatMessage[];
  metadata: {
    interaction_id: string;
    created_at: string;
    quality_score: number | null;
    edit_tags: string[];
    edited: boolean;
    llm1_model: string | null;
    llm2_model: string | null;
    customer_status: string;
    sent: boolean;
    context_turns: number;
    bubbles: number;
  };
  user_id: string;
}

/** A turn as an OpenAI chat fine-tuning line: the prompt messages, then the approved reply as the assistant's. */
export function chatFinetuneLine(t: TurnRow): ChatFinetuneLine {
  return {
    messages: [...promptMessages(t.context, t.user_message), { role: "assistant", content: joinBubbles(t.final_bubbles) }],
    metadata: {
      interaction_id: t.id,
      created_at: t.created_at,
      quality_score: t.quality_score,
      edit_tags: t.edit_tags,
      edited: draftChanged(t.llm2_bubbles, t.final_bubbles),
      llm1_model: t.llm1_model,
      llm2_model: t.llm2_model,
      customer_status: t.customer_status,
      sent: t.sent,
      context_turns: t.context.length,
      bubbles: t.final_bubbles.filter((b) => b.trim() !== "").length,
    },
    user_id: t.user_id,
  };
}

/**
 * `chat_finetune`: one JSONL line per approved interaction (the filters'), its earlier turns as
 * context and the human-approved reply as the assistant turn (docs/DATASETS.md).
 */
export const chatFinetuneSource: ExportSourceFactory = (deps, filters): ExportSource => ({
  columns: null,
  formats: ["ndjson"],
  internal: ["user_id"],
  count: () => countTurns(deps, filters),
  async *rows(signal) {
    for await (const t of streamTurns(deps, filters, {}, signal)) {
      // A blank user message or reply teaches nothing (the API refuses both; older rows may hold them).
      if (t.user_message.trim() === "" || joinBubbles(t.final_bubbles) === "") continue;
      yield chatFinetuneLine(t) as unknown as Record<string, unknown>;
    }
  },
});
