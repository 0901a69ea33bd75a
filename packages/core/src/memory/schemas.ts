import { boundedJson, JSON_LIMITS } from "../validation/json-bounds.js";
import { z } from "zod";
import { IsoDateTime } from "../wal/schemas.js";
import { OWN_USER_DATA_NOTE } from "../gdpr/tables.js";

export const MemoryQuery = z.object({ recent: z.coerce.number().int().min(1).max(50).default(10) });
export const PatchContextBody = z
  .object({
    updates: boundedJson(z.record(z.string(), z.unknown()), JSON_LIMITS.context_updates).meta({ description: OWN_USER_DATA_NOTE }),
  })
  .strict();
export const AppendHistoryBody = z
  .object({
    role: z.enum(["user", "assistant"]),
    content: z.string().min(1).max(8000),
    timestamp: IsoDateTime.optional(),
    bubbles: z.array(z.string().max(500)).max(10).optional(),
  })
  .strict();
export type AppendHistoryBody = z.infer<typeof AppendHistoryBody>;

const Entry = z.object({
  id: z.number(),
  role: z.enum(["user", "assistant"]),
  content: z.string(),
  timestamp: z.string(),
  bubbles: z.array(z.string()).optional(),
});
export const MemoryView = z
  .object({
    user_id: z.string(),
    context: z.record(z.string(), z.unknown()),
    recent_messages: z.array(Entry),
    temporal_summary: z.string(),
    total_messages: z.number(),
    last_assistant_asked_question: z.boolean(),
  })
  .meta({ id: "Memory", description: "A user's conversation memory: context, recent messages and a summary of older ones" });
export const MemoryStats = z.object({
  user_id: z.string(),
  context_size_kb: z.number(),
  history_size_kb: z.number(),
  total_size_kb: z.number(),
  history_length: z.number(),
  max_history_length: z.number(),
  max_context_size_kb: z.number(),
  context_limit_exceeded: z.boolean(),
  history_limit_exceeded: z.boolean(),
  compression_applied: z.boolean(),
});
