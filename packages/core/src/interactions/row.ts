import { chatIdFromStore } from "../wal/schemas.js";
import type { Interaction } from "./schemas.js";

/** Every column the API returns, with money as float8 so it arrives as a JSON number. */
export const INTERACTION_COLUMNS = `id, message_id, user_id, chat_id, conversation_id, user_message, user_message_timestamp,
  llm1_raw_response, llm1_model, llm2_model, llm1_cost_usd::float8 AS llm1_cost_usd, llm2_cost_usd::float8 AS llm2_cost_usd,
  total_cost_usd::float8 AS total_cost_usd, llm2_bubbles, constitution_risk_score, constitution_flags, constitution_recommendation,
  priority_score, review_status, reviewer_id, review_started_at, review_lease_expires_at, review_completed_at, review_time_seconds,
  final_bubbles, edit_tags, quality_score, reviewer_notes, messages_sent_at, cta_data, customer_status, telegram_message_id,
  telegram_date, is_recovered_message, created_at, updated_at`;

const DATE_FIELDS = [
  "user_message_timestamp",
  "review_started_at",
  "review_lease_expires_at",
  "review_completed_at",
  "messages_sent_at",
  "telegram_date",
  "created_at",
  "updated_at",
] as const;
const BIGINT_FIELDS = ["telegram_message_id"] as const;

const toIso = (v: unknown) =>
  v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();

/** A row (from the driver, or from row_to_json) in the API's shape. */
export function interactionFromRow(row: Record<string, unknown>): Interaction {
  const out: Record<string, unknown> = { ...row };
  for (const f of DATE_FIELDS) out[f] = toIso(row[f]);
  for (const f of BIGINT_FIELDS) out[f] = row[f] === null || row[f] === undefined ? null : Number(row[f]);
  out.chat_id = chatIdFromStore(row.chat_id);
  for (const f of ["llm1_cost_usd", "llm2_cost_usd", "total_cost_usd"] as const)
    out[f] = row[f] === null || row[f] === undefined ? (f === "total_cost_usd" ? 0 : null) : Number(row[f]);
  out.llm2_bubbles = row.llm2_bubbles ?? [];
  out.constitution_flags = row.constitution_flags ?? [];
  out.edit_tags = row.edit_tags ?? [];
  return out as Interaction;
}
