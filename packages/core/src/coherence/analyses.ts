import { z } from "zod";
import type { Db } from "../db/db.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, encodeCursor, keysetPage, rowBytes } from "../db/keyset.js";
import { NotFoundError } from "../errors.js";
import { boundedJson } from "../validation/json-bounds.js";
import { StorableText } from "../wal/schemas.js";

/** The reference's analysis outcomes: OK, an identity conflict, an availability conflict. */
export const ANALYSIS_STATUSES = ["OK", "CONFLICTO_DE_IDENTIDAD", "CONFLICTO_DE_DISPONIBILIDAD"] as const;
const LLM_JSON = { maxBytes: 64 * 1024 };
const Label = StorableText.min(1).max(100);

export const CreateAnalysisBody = z
  .object({
    analysis_status: z.enum(ANALYSIS_STATUSES),
    conflict_details: boundedJson(z.unknown(), LLM_JSON).optional(),
    correction_applied: z.boolean().default(false),
    processing_time_ms: z.number().int().min(0).max(3_600_000).optional(),
    json_parse_success: z.boolean().default(true),
    llm_model_used: Label.default("gpt-4o-mini"),
    llm2_input: boundedJson(z.unknown(), LLM_JSON).optional(),
    llm2_output: boundedJson(z.unknown(), LLM_JSON).optional(),
  })
  .strict()
  .meta({ id: "CreateCoherenceAnalysisBody" });
export const CoherenceAnalysis = z
  .object({
    id: z.string(),
    interaction_id: z.string(),
    user_id: z.string(),
    analysis_status: z.enum(ANALYSIS_STATUSES),
    conflict_details: z.unknown().nullable(),
    correction_applied: z.boolean(),
    processing_time_ms: z.number().nullable(),
    json_parse_success: z.boolean(),
    llm_model_used: z.string(),
    llm2_input: z.unknown().nullable(),
    llm2_output: z.unknown().nullable(),
    created_at: z.string(),
  })
  .meta({
    id: "CoherenceAnalysis",
    description: "The coherence check of one drafted reply: OK or the conflict it found, and whether it was corrected",
  });

export const CreateRotationBody = z
  .object({
    previous_prompt_id: Label.optional(),
    new_prompt_id: Label,
    rotation_reason: Label.default("CONFLICTO_DE_IDENTIDAD"),
    triggered_by_interaction: z.uuid().optional(),
  })
  .strict()
  .meta({ id: "CreatePromptRotationBody" });
export const PromptRotation = z
  .object({
    id: z.string(),
    user_id: z.string(),
    previous_prompt_id: z.string().nullable(),
    new_prompt_id: z.string(),
    rotation_reason: z.string(),
    triggered_by_interaction: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: "PromptRotation", description: "A switch of the persona prompt used for a user" });
export const RotationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

const ANALYSIS_COLUMNS = `id, interaction_id, user_id, analysis_status, conflict_details, correction_applied, processing_time_ms, json_parse_success,
  llm_model_used, llm2_input, llm2_output, created_at`;
const ROTATION_COLUMNS = `id, user_id, previous_prompt_id, new_prompt_id, rotation_reason, triggered_by_interaction, created_at`;
const iso = (v: unknown) => new Date(v as string).toISOString();
const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

/**
 * Records the analysis of an interaction (1 round trip); the user is the interaction's (404 when
 * there is none). Idempotent on the request's Idempotency-Key.
 */
export async function recordAnalysis(db: Db, interactionId: string, b: z.infer<typeof CreateAnalysisBody>, requestKey?: string) {
  const [row] = await db.query(
    `
    WITH i AS (SELECT user_id FROM interactions WHERE id = $1 LIMIT 1),
    ins AS (
      INSERT INTO coherence_analyses (interaction_id, user_id, analysis_status, conflict_details, correction_applied, processing_time_ms,
        json_parse_success, llm_model_used, llm2_input, llm2_output, request_key)
      SELECT $1, i.user_id, $2, $3::jsonb, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10 FROM i
      ON CONFLICT (interaction_id, request_key) WHERE request_key IS NOT NULL DO NOTHING RETURNING ${ANALYSIS_COLUMNS})
    SELECT EXISTS (SELECT 1 FROM i) AS found, (SELECT row_to_json(ins) FROM ins) AS created,
      (SELECT row_to_json(a) FROM (SELECT ${ANALYSIS_COLUMNS} FROM coherence_analyses WHERE $10::text IS NOT NULL AND interaction_id = $1 AND request_key = $10) a) AS existing`,
    [
      interactionId,
      b.analysis_status,
      json(b.conflict_details),
      b.correction_applied,
      b.processing_time_ms ?? null,
      b.json_parse_success,
      b.llm_model_used,
      json(b.llm2_input),
      json(b.llm2_output),
      requestKey ?? null,
    ],
  );
  if (!row?.found) throw new NotFoundError("interaction not found");
  const hit = (row.created ?? row.existing) as Record<string, unknown> | null;
  if (!hit) return recordAnalysis(db, interactionId, b, requestKey);
  return { analysis: analysisFromRow(hit), created: Boolean(row.created) };
}

const analysisFromRow = (r: Record<string, unknown>): z.infer<typeof CoherenceAnalysis> => ({
  id: String(r.id),
  interaction_id: String(r.interaction_id),
  user_id: String(r.user_id),
  analysis_status: r.analysis_status as (typeof ANALYSIS_STATUSES)[number],
  conflict_details: r.conflict_details ?? null,
  correction_applied: Boolean(r.correction_applied),
  processing_time_ms: r.processing_time_ms === null || r.processing_time_ms === undefined ? null : Number(r.processing_time_ms),
  json_parse_success: Boolean(r.json_parse_success),
  llm_model_used: String(r.llm_model_used),
  llm2_input: r.llm2_input ?? null,
  llm2_output: r.llm2_output ?? null,
  created_at: iso(r.created_at),
});

export const AnalysesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

/** The analyses of one interaction, oldest first; a page stays under PAGE_BYTE_BUDGET (their JSON can be large). */
export async function listAnalyses(db: Db, interactionId: string, q: z.infer<typeof AnalysesQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.uuid]);
  const rows = await db.query(
    budgetedPage(
      `
    SELECT ${ANALYSIS_COLUMNS}, created_at::text AS k, ${rowBytes(["conflict_details::text", "llm2_input::text", "llm2_output::text"])} AS row_bytes
    FROM coherence_analyses WHERE interaction_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::uuid))
    ORDER BY created_at, id LIMIT $4`,
      "l.created_at, l.id",
      "$5",
    ),
    [interactionId, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1, PAGE_BYTE_BUDGET],
  );
  return keysetPage(rows, q.limit, analysisFromRow, (r) => [String(r.k), String(r.id)]);
}

/** Records a prompt rotation for a user (1 round trip), idempotent on the Idempotency-Key. */
export async function recordRotation(db: Db, userId: string, b: z.infer<typeof CreateRotationBody>, requestKey?: string) {
  const [row] = await db.query(
    `
    WITH ins AS (
      INSERT INTO prompt_rotations (user_id, previous_prompt_id, new_prompt_id, rotation_reason, triggered_by_interaction, request_key)
      VALUES ($1, $2, $3, $4, $5::uuid, $6)
      ON CONFLICT (user_id, request_key) WHERE request_key IS NOT NULL DO NOTHING RETURNING ${ROTATION_COLUMNS})
    SELECT (SELECT row_to_json(ins) FROM ins) AS created,
      (SELECT row_to_json(r) FROM (SELECT ${ROTATION_COLUMNS} FROM prompt_rotations WHERE $6::text IS NOT NULL AND user_id = $1 AND request_key = $6) r) AS existing`,
    [userId, b.previous_prompt_id ?? null, b.new_prompt_id, b.rotation_reason, b.triggered_by_interaction ?? null, requestKey ?? null],
  );
  const hit = (row?.created ?? row?.existing) as Record<string, unknown> | null;
  if (!hit) return recordRotation(db, userId, b, requestKey);
  return { rotation: rotationFromRow(hit), created: Boolean(row!.created) };
}

const rotationFromRow = (r: Record<string, unknown>): z.infer<typeof PromptRotation> => ({
  id: String(r.id),
  user_id: String(r.user_id),
  previous_prompt_id: (r.previous_prompt_id as string | null) ?? null,
  new_prompt_id: String(r.new_prompt_id),
  rotation_reason: String(r.rotation_reason),
  triggered_by_interaction: (r.triggered_by_interaction as string | null) ?? null,
  created_at: iso(r.created_at),
});

/** A user's rotations, newest first (keyset paged). */
export async function listRotations(db: Db, userId: string, q: z.infer<typeof RotationQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.uuid]);
  const rows = await db.query(
    `SELECT ${ROTATION_COLUMNS}, created_at::text AS k FROM prompt_rotations
    WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
    ORDER BY created_at DESC, id DESC LIMIT $4`,
    [userId, after?.[0] ?? null, after?.[1] ?? null, q.limit + 1],
  );
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(rotationFromRow),
    next_cursor: rows.length > q.limit && last ? encodeCursor([String(last.k), String(last.id)]) : null,
  };
}
