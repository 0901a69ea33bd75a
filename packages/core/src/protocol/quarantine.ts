import type { Db } from "../db/db.js";
import { COST_SAVED_PER_MESSAGE_USD, PROTOCOL_COLUMNS, versionedFromRow, type VersionedProtocol } from "./status.js";

export interface QuarantineInput {
  message_id: string;
  user_id: string;
  text: string;
  chat_id?: number | string;
  telegram_message_id?: number;
  telegram_date?: string;
  received_at: string;
}

export interface QuarantineOutcome {
  results: { message_id: string; status: "quarantined" | "duplicate" }[];
  /** Protocol rows whose counters changed (to refresh the cache). */
  protocols: VersionedProtocol[];
}

/**
 * Quarantines messages of users under an ACTIVE silence protocol: one statement inserts them
 * (a message already quarantined, by id or by Telegram id, answers duplicate) and adds the
 * counters of the protocol rows, so nothing is half-applied.
 */
export async function quarantineMessages(db: Db, messages: QuarantineInput[]): Promise<QuarantineOutcome> {
  if (messages.length === 0) return { results: [], protocols: [] };
  const [rows, protocolRows] = await db.transaction([
    {
      text: `WITH input AS (
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, message_id text, user_id text, text text, chat_id text,
          telegram_message_id bigint, telegram_date timestamptz, received_at timestamptz)),
      ins AS (
        INSERT INTO quarantine_messages (message_id, user_id, message_text, chat_id, telegram_message_id, telegram_date, received_at, expires_at)
        SELECT message_id, user_id, text, chat_id, telegram_message_id, telegram_date, received_at, now() + interval '7 days' FROM input ORDER BY ord
        ON CONFLICT DO NOTHING RETURNING message_id, user_id),
      counts AS (SELECT user_id, count(*) AS n FROM ins GROUP BY user_id),
      upd AS (
        UPDATE user_protocol_status p SET messages_quarantined = p.messages_quarantined + c.n,
          cost_saved_usd = p.cost_saved_usd + c.n * $2::numeric, last_message_at = now()
        FROM counts c WHERE p.user_id = c.user_id RETURNING p.user_id)
      SELECT i.ord, i.message_id AS requested, ins.message_id AS inserted,
        coalesce(
          (SELECT i2.message_id FROM ins JOIN input i2 ON i2.message_id = ins.message_id
            WHERE i2.user_id = i.user_id AND i2.telegram_message_id = i.telegram_message_id LIMIT 1),
          (SELECT q.message_id FROM quarantine_messages q WHERE q.user_id = i.user_id AND q.telegram_message_id = i.telegram_message_id)) AS existing
      FROM input i LEFT JOIN ins ON ins.message_id = i.message_id ORDER BY i.ord`,
      params: [JSON.stringify(messages.map((m, ord) => ({ ord, ...m }))), COST_SAVED_PER_MESSAGE_USD],
    },
    {
      text: `SELECT ${PROTOCOL_COLUMNS} FROM user_protocol_status WHERE user_id = ANY($1)`,
      params: [[...new Set(messages.map((m) => m.user_id))]],
    },
  ]);
  const results = rows!.map((r) =>
    r.inserted
      ? { message_id: String(r.inserted), status: "quarantined" as const }
      : { message_id: String(r.existing ?? r.requested), status: "duplicate" as const },
  );
  return { results, protocols: protocolRows!.map(versionedFromRow) };
}
