import { z } from "zod";
import type { Db } from "../db/db.js";
import { CursorPart, decodeCursor, encodeCursor } from "../db/keyset.js";

export const ActiveProtocolQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export const SilencedUser = z
  .object({
    user_id: z.string(),
    nickname: z.string().nullable(),
    since: z.string().nullable().describe("When the protocol was activated"),
    by: z.string().nullable().describe("Who activated it (API key id)"),
    reason: z.string().nullable(),
    messages_quarantined: z.number().describe("Messages quarantined since the row was created (the protocol's counter)"),
    quarantined_pending: z.number().describe("Quarantined messages not yet processed"),
    cost_saved_usd: z.number(),
    last_message_at: z.string().nullable(),
  })
  .meta({ id: "SilencedUser", description: "A user under an ACTIVE silence protocol" });

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

/**
 * GET /v1/protocol/active: the silenced users, most recently silenced first (keyset paged on
 * activated_at, user_id), each with since, by, reason and quarantined counts. One statement, the
 * partial index on ACTIVE rows selecting them.
 */
export async function listActiveProtocols(db: Db, q: z.infer<typeof ActiveProtocolQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.text]);
  const rows = await db.query(
    `
    SELECT p.user_id, u.nickname, p.activated_at, p.activated_by, p.reason, p.messages_quarantined::float8 AS messages_quarantined,
      p.cost_saved_usd::float8 AS cost_saved_usd, p.last_message_at, coalesce(p.activated_at, p.created_at)::text AS k,
      (SELECT count(*)::int FROM quarantine_messages qm WHERE qm.user_id = p.user_id AND NOT qm.processed) AS quarantined_pending
    FROM user_protocol_status p LEFT JOIN user_current_status u ON u.user_id = p.user_id
    WHERE p.status = 'ACTIVE' AND ($1::timestamptz IS NULL OR (coalesce(p.activated_at, p.created_at), p.user_id) < ($1::timestamptz, $2::text))
    ORDER BY coalesce(p.activated_at, p.created_at) DESC, p.user_id DESC LIMIT $3`,
    [after?.[0] ?? null, after?.[1] ?? null, q.limit + 1],
  );
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      user_id: String(r.user_id),
      nickname: (r.nickname as string | null) ?? null,
      since: iso(r.activated_at),
      by: (r.activated_by as string | null) ?? null,
      reason: (r.reason as string | null) ?? null,
      messages_quarantined: Number(r.messages_quarantined),
      quarantined_pending: Number(r.quarantined_pending),
      cost_saved_usd: Number(r.cost_saved_usd),
      last_message_at: iso(r.last_message_at),
    })),
    next_cursor: rows.length > q.limit && last ? encodeCursor([String(last.k), String(last.user_id)]) : null,
  };
}
