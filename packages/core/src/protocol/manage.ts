import { z } from "zod";
import { readThrough, writeCache } from "../cache/cached.js";
import type { RedisGateway } from "../cache/redis.js";
import type { Db, Statement } from "../db/db.js";
import type { Logger } from "../log.js";
import { PROTOCOL_CACHE_TTL_SECONDS, PROTOCOL_COLUMNS, inactiveProtocol, protocolFromRow, protocolKey, cacheProtocols, type ProtocolStatus } from "./status.js";

export const PutProtocolBody = z.object({ status: z.enum(["ACTIVE", "INACTIVE"]), reason: z.string().max(500).optional() }).strict();

export interface ProtocolDeps { db: Db; redis: RedisGateway; log?: Logger }

export function getProtocol(deps: ProtocolDeps, userId: string): Promise<ProtocolStatus> {
  return readThrough(deps.redis, protocolKey(deps.redis, userId), PROTOCOL_CACHE_TTL_SECONDS, async () => {
    const [row] = await deps.db.query(`SELECT ${PROTOCOL_COLUMNS} FROM user_protocol_status WHERE user_id = $1`, [userId]);
    return row ? protocolFromRow(row) : inactiveProtocol(userId);
  }, deps.log);
}

/**
 * One statement: locks the row, sets the status, and audits with the true previous status (the
 * earlier system always wrote 'ACTIVE'). Parameters: $1 user, $2 status, $3 actor, $4 reason,
 * $5 audit action override (ONE_TIME_PASS keeps the status and only audits).
 */
export function setProtocolStatement(userId: string, status: "ACTIVE" | "INACTIVE", actor: string, reason: string | null): Statement {
  return {
    text: `WITH prev AS (SELECT status FROM user_protocol_status WHERE user_id = $1 FOR UPDATE),
      up AS (
        INSERT INTO user_protocol_status (user_id, status, activated_by, activated_at, reason)
        VALUES ($1, $2, CASE WHEN $2 = 'ACTIVE' THEN $3 END, CASE WHEN $2 = 'ACTIVE' THEN now() END, $4)
        ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status,
          activated_by = CASE WHEN EXCLUDED.status = 'ACTIVE' THEN $3 ELSE user_protocol_status.activated_by END,
          activated_at = CASE WHEN EXCLUDED.status = 'ACTIVE' THEN now() ELSE user_protocol_status.activated_at END,
          reason = coalesce($4, user_protocol_status.reason)
        RETURNING ${PROTOCOL_COLUMNS}),
      audit AS (
        INSERT INTO protocol_audit_log (user_id, action, performed_by, reason, previous_status, new_status)
        VALUES ($1, CASE WHEN $2 = 'ACTIVE' THEN 'ACTIVATED' ELSE 'DEACTIVATED' END, $3, $4, coalesce((SELECT status FROM prev), 'INACTIVE'), $2))
      SELECT * FROM up`,
    params: [userId, status, actor, reason],
  };
}

/** PUT /v1/users/:id/protocol: Postgres, then the cache is refreshed at once (no 5-minute staleness). */
export async function setProtocol(deps: ProtocolDeps, userId: string, status: "ACTIVE" | "INACTIVE", actor: string, reason?: string): Promise<ProtocolStatus> {
  const st = setProtocolStatement(userId, status, actor, reason ?? null);
  const [row] = await deps.db.query(st.text, st.params);
  const protocol = protocolFromRow(row!);
  await writeCache(deps.redis, protocolKey(deps.redis, userId), protocol, PROTOCOL_CACHE_TTL_SECONDS, deps.log);
  return protocol;
}

export async function refreshProtocolCaches(deps: ProtocolDeps, statuses: ProtocolStatus[]): Promise<void> {
  try {
    await cacheProtocols(deps.redis, statuses);
  } catch (e) {
    deps.log?.warn("protocol cache refresh failed", { err: e as Error });
  }
}
