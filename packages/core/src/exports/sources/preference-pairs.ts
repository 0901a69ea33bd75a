import type { ExportSource, ExportSourceFactory } from "../source.js";
import { countTurns, streamTurns, type TurnRow } from "./context.js";
import { draftChanged, joinBubbles, promptMessages, type ChatMessage } from "./turns.js";

/** One line of preference_pairs (docs/datasets/preference_pairs.schema.json), plus `user_id` for the job (not written). */
export interface PreferencePairLine {
  prompt: ChatMessage[];
  chosen: [ChatMessage];
  rejected: [ChatMessage];
  metadata: {
    interaction_id: string;
    created_at: string;
    quality_score: number | null;
    edit_tags: string[];
    llm1_model: string | null;
    llm2_model: string | null;
    context_turns: number;
  };
  user_id: string;
}

/** A turn as a preference pair, or null when the reviewer did not change the draft (draftChanged) or there was none. */
export function preferencePairLine(t: TurnRow): PreferencePairLine | null {
  const chosen = joinBubbles(t.final_bubbles);
  const rejected = joinBubbles(t.llm2_bubbles);
  if (t.user_message.trim() === "" || chosen === "" || rejected === "" || !draftChanged(t.llm2_bubbles, t.final_bubbles)) return null;
  return {
    prompt: promptMessages(t.context, t.user_message),
    chosen: [{ role: "assistant", content: chosen }],
    rejected: [{ role: "assistant", content: rejected }],
    metadata: {
      interaction_id: t.id,
      created_at: t.created_at,
      quality_score: t.quality_score,
      edit_tags: t.edit_tags,
      llm1_model: t.llm1_model,
      llm2_model: t.llm2_model,
      context_turns: t.context.length,
    },
    user_id: t.user_id,
  };
}

/**
 * `preference_pairs`: one JSONL line per approved interaction (the filters') whose reviewer changed
 * the LLM draft: the prompt (context + user turn), the approved reply as `chosen`, the draft as
 * `rejected` (docs/DATASETS.md).
 */
export const preferencePairsSource: ExportSourceFactory = (deps, filters): ExportSource => ({
  columns: null,
  formats: ["ndjson"],
  internal: ["user_id"],
  count: () => countTurns(deps, filters, { draftDiffers: true }),
  async *rows(signal) {
    for await (const t of streamTurns(deps, filters, { draftDiffers: true }, signal)) {
      const line = preferencePairLine(t);
      if (line) yield line as unknown as Record<string, unknown>;
    }
  },
});
