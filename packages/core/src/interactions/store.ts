import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import { ConflictError, NotFoundError, UnavailableError } from "../errors.js";
import { claimCte, repeatOf, type IdempotencyScope } from "../idempotency/keys.js";
import { walMessageRef } from "../wal/queue.js";
import type { Logger } from "../log.js";
import { appendToHistoryCacheSafely } from "../memory/history.js";
import { INTERACTION_COLUMNS, interactionFromRow } from "./row.js";
import type { CreateInteractionBody, Interaction } from "./schemas.js";

export interface InteractionDeps {
  db: Db;
  redis: RedisStore;
  log?: Logger;
}

/**
 * Inserts the interaction and its user turn of the durable history in one statement, idempotent
 * on message_id (the key table holds the global uniqueness a partitioned table cannot), or without
 * one on the request's Idempotency-Key (claimed in idempotency_keys with the new id, `claimCte`).
 * Priority, when not given, follows the reference: min(1, 0.5 + 0.3·risk + 0.1 if the context has
 * a name). Returns the id when this statement stored it; otherwise the caller looks the repeat up.
 */
const INSERT = `
WITH ${claimCte(21, 22, "$2::text", "gen_random_uuid()::text")}, k AS (
  INSERT INTO interaction_keys (message_id, interaction_id, user_id)
  SELECT $20, gen_random_uuid(), $2 WHERE $20::text IS NOT NULL
  ON CONFLICT (message_id) DO NOTHING RETURNING interaction_id
), newid AS (
  SELECT CASE WHEN $20::text IS NOT NULL THEN (SELECT interaction_id FROM k)
    WHEN $21::text IS NOT NULL THEN (SELECT resource::uuid FROM claim) ELSE gen_random_uuid() END AS id
), ins AS (
  INSERT INTO interactions (id, message_id, user_id, chat_id, conversation_id, user_message, user_message_timestamp,
    llm1_raw_response, llm1_model, llm2_model, llm1_cost_usd, llm2_cost_usd, llm2_bubbles, constitution_risk_score,
    constitution_flags, constitution_recommendation, priority_score, telegram_message_id, telegram_date,
    is_recovered_message, cta_data, customer_status)
  SELECT newid.id, $1::text, $2::text, $3::text, $2::text || '_' || to_char($5::timestamptz AT TIME ZONE 'UTC', 'YYYYMMDD'), $4::text, $5::timestamptz,
    $6::text, $7::text, $8::text, $9::numeric, $10::numeric, $11::text[], $12::float8, $13::text[], $14::text,
    coalesce($15::float8, least(1, 0.5 + 0.3 * $12::float8 + CASE WHEN EXISTS (SELECT 1 FROM user_memory m WHERE m.user_id = $2::text AND m.context ? 'name') THEN 0.1 ELSE 0 END)),
    $16::bigint, $17::timestamptz, coalesce($18::boolean, false), $19::jsonb,
    coalesce((SELECT customer_status FROM user_current_status u WHERE u.user_id = $2::text), 'PROSPECT')
  FROM newid WHERE newid.id IS NOT NULL
  RETURNING id
), mem AS (
  INSERT INTO memory_messages (user_id, role, content, sent_at) SELECT $2, 'user', $4, $5 FROM ins RETURNING id, sent_at
)
SELECT (SELECT id FROM ins) AS id, (SELECT id FROM mem) AS memory_id, (SELECT sent_at FROM mem) AS sent_at`;

export interface CreateResult {
  id: string;
  created: boolean;
}

/**
 * POST /v1/interactions: Postgres first (1 round trip), then the user turn into the history cache (1).
 * Idempotent on message_id, or, without one, on the request's Idempotency-Key (`scope`: per
 * caller, bound to the body). References are checked, so no request answers with another user's
 * interaction: a message_id must be the user's (409 when the queued message, read for its chat,
 * or the interaction already stored under it is another user's); the same Idempotency-Key with
 * another body (another user included) answers 422.
 */
export async function createInteraction(deps: InteractionDeps, b: CreateInteractionBody, scope?: IdempotencyScope): Promise<CreateResult> {
  const keyed = b.message_id === undefined ? scope : undefined;
  // The chat the message came from travels with it: omitted here, it is read from the WAL message
  // (one more Redis round trip, only then; an agent that sends the chat_id from its claim saves it).
  let chatId: string | number | null | undefined = b.chat_id;
  if (chatId === undefined && b.message_id) {
    const queued = await walMessage(deps.redis, b.message_id);
    if (queued && queued.user_id !== b.user_id) throw new ConflictError("message_id belongs to another user's message");
    chatId = queued?.chat_id;
  }
  const params = [
    b.message_id ?? null,
    b.user_id,
    chatId === undefined || chatId === null ? null : String(chatId),
    b.user_message,
    b.user_message_timestamp,
    b.llm1_raw_response,
    b.llm1_model ?? null,
    b.llm2_model ?? null,
    b.llm1_cost_usd ?? null,
    b.llm2_cost_usd ?? null,
    b.llm2_bubbles,
    b.constitution_risk_score,
    b.constitution_flags,
    b.constitution_recommendation,
    b.priority_score ?? null,
    b.telegram_message_id ?? null,
    b.telegram_date ?? null,
    b.is_recovered_message ?? null,
    b.cta_data === undefined ? null : JSON.stringify(b.cta_data),
    b.message_id ?? null,
    keyed?.key ?? null,
    keyed?.fingerprint ?? null,
  ];
  const [row] = await deps.db.query(INSERT, params);
  if (!row?.id) return { id: await repeatedInteraction(deps.db, b, keyed), created: false };
  const memoryId = row.memory_id;
  if (memoryId !== null && memoryId !== undefined) {
    const ts = row.sent_at instanceof Date ? row.sent_at.toISOString() : String(row.sent_at);
    await appendToHistoryCacheSafely(deps.redis, deps.log, b.user_id, [
      { id: Number(memoryId), role: "user", content: b.user_message, timestamp: ts },
    ]);
  }
  return { id: String(row.id), created: true };
}

/**
 * The interaction a repeat stands for (read after the insert's statement, so a concurrent twin's
 * commit is seen): the one stored under the message_id, if it is this user's, or the one the
 * Idempotency-Key's first request created.
 */
async function repeatedInteraction(db: Db, b: CreateInteractionBody, keyed: IdempotencyScope | undefined): Promise<string> {
  if (b.message_id !== undefined) {
    const [k] = await db.query<{ id: string; user_id: string }>(
      "SELECT interaction_id AS id, user_id FROM interaction_keys WHERE message_id = $1",
      [b.message_id],
    );
    if (!k) throw new ConflictError("message_id was stored and then erased; send a new one");
    if (k.user_id !== b.user_id) throw new ConflictError("message_id belongs to another user's interaction");
    return String(k.id);
  }
  const { resource } = await repeatOf(db, keyed!);
  if (!resource) throw new ConflictError("the interaction of this Idempotency-Key was erased; send a new key");
  return resource;
}

/** The user and chat of a WAL message (while it is queued or in flight), if any. */
async function walMessage(redis: RedisStore, messageId: string): Promise<{ user_id: string; chat_id: string | undefined } | undefined> {
  try {
    return await walMessageRef(redis, messageId);
  } catch (e) {
    if (e instanceof UnavailableError) return undefined; // the interaction is still stored; its chat unknown
    throw e;
  }
}

export async function getInteraction(db: Db, id: string): Promise<Interaction> {
  const [row] = await db.query(`SELECT ${INTERACTION_COLUMNS} FROM interactions WHERE id = $1`, [id]);
  if (!row) throw new NotFoundError("interaction not found");
  return interactionFromRow(row);
}

export async function setReviewerNotes(db: Db, id: string, notes: string): Promise<Interaction> {
  const [row] = await db.query(`UPDATE interactions SET reviewer_notes = $2 WHERE id = $1 RETURNING ${INTERACTION_COLUMNS}`, [id, notes]);
  if (!row) throw new NotFoundError("interaction not found");
  return interactionFromRow(row);
}
