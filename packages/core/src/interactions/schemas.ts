import { boundedJson, JSON_LIMITS } from "../validation/json-bounds.js";
import { z } from "zod";
import { ChatId, IsoDateTime, TelegramId, UserId } from "../wal/schemas.js";
import { OWN_USER_DATA_NOTE } from "../gdpr/tables.js";

export const InteractionId = z.uuid();
const Money = z.number().min(0).max(1000);
const Bubble = z.string().min(1).max(500);

export const CreateInteractionBody = z
  .object({
    message_id: z
      .string()
      .min(1)
      .max(64)
      .refine((s) => !s.startsWith("idempotency:"), "must not start with idempotency: (reserved)")
      .optional(),
    user_id: UserId,
    chat_id: ChatId.optional(),
    user_message: z.string().min(1).max(4000),
    user_message_timestamp: IsoDateTime,
    llm1_raw_response: z.string().max(20_000),
    llm2_bubbles: z.array(z.string().max(4000)).max(20),
    llm1_model: z.string().max(100).optional(),
    llm2_model: z.string().max(100).optional(),
    llm1_cost_usd: Money.optional(),
    llm2_cost_usd: Money.optional(),
    constitution_risk_score: z.number().min(0).max(1),
    constitution_flags: z.array(z.string().min(1).max(100)).max(50),
    constitution_recommendation: z.enum(["approve", "review", "flag"]),
    priority_score: z.number().min(0).max(1).optional(),
    telegram_message_id: TelegramId.nonnegative().optional(),
    telegram_date: IsoDateTime.optional(),
    is_recovered_message: z.boolean().optional(),
    cta_data: boundedJson(z.record(z.string(), z.unknown()), JSON_LIMITS.cta_data).optional().meta({ description: OWN_USER_DATA_NOTE }),
  })
  .strict();
export type CreateInteractionBody = z.infer<typeof CreateInteractionBody>;

export const NotesBody = z.object({ reviewer_notes: z.string().max(1000) }).strict();

export const ReviewStatus = z.enum(["pending", "reviewing", "approved", "rejected"]);

export const Interaction = z
  .object({
    id: z.string(),
    message_id: z.string().nullable(),
    user_id: z.string(),
    chat_id: z.union([z.number(), z.string()]).nullable(),
    conversation_id: z.string(),
    user_message: z.string(),
    user_message_timestamp: z.string(),
    llm1_raw_response: z.string().nullable(),
    llm1_model: z.string().nullable(),
    llm2_model: z.string().nullable(),
    llm1_cost_usd: z.number().nullable(),
    llm2_cost_usd: z.number().nullable(),
    total_cost_usd: z.number(),
    llm2_bubbles: z.array(z.string()),
    constitution_risk_score: z.number().nullable(),
    constitution_flags: z.array(z.string()),
    constitution_recommendation: z.string().nullable(),
    priority_score: z.number(),
    review_status: ReviewStatus,
    reviewer_id: z.string().nullable(),
    review_started_at: z.string().nullable(),
    review_lease_expires_at: z.string().nullable(),
    review_completed_at: z.string().nullable(),
    review_time_seconds: z.number().nullable(),
    final_bubbles: z.array(z.string()).nullable(),
    edit_tags: z.array(z.string()),
    quality_score: z.number().nullable(),
    reviewer_notes: z.string().nullable(),
    messages_sent_at: z.string().nullable(),
    cta_data: z.record(z.string(), z.unknown()).nullable(),
    customer_status: z.string(),
    telegram_message_id: z.number().nullable(),
    telegram_date: z.string().nullable(),
    is_recovered_message: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: "Interaction", description: "A message with its drafted reply, models, costs and review state" });
export type Interaction = z.infer<typeof Interaction>;

export const ApproveBody = z
  .object({
    final_bubbles: z.array(Bubble).min(1).max(10),
    edit_tags: z.array(z.string().min(1).max(50)).max(20).default([]),
    quality_score: z.number().int().min(1).max(5),
    reviewer_notes: z.string().max(1000).optional(),
    cta_data: boundedJson(z.record(z.string(), z.unknown()), JSON_LIMITS.cta_data).optional().meta({ description: OWN_USER_DATA_NOTE }),
  })
  .strict();
export type ApproveBody = z.infer<typeof ApproveBody>;

export const RejectBody = z.object({ reviewer_notes: z.string().max(1000).optional() }).strict();
export const ClaimReviewBody = z.object({ lease_seconds: z.number().int().min(30).max(3600).default(900) }).strict();

export const ListReviewsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  min_priority: z.coerce.number().min(0).max(1).optional(),
  cursor: z.string().max(200).optional(),
});
