import { UnavailableError } from "../errors.js";
import { z } from "zod";
import { readThroughVersioned } from "../cache/versioned.js";
import type { RedisGateway } from "../cache/redis.js";
import type { Db, Statement } from "../db/db.js";
import type { Logger } from "../log.js";
import { PROTOCOL_CACHE_TTL_SECONDS, PROTOCOL_COLUMNS, cacheProtocols, loadProtocols, protocolCache, protocolKey, versionedFromRow, type ProtocolStatus, type VersionedProtocol } from "./status.js";

export const PutProtocolBody = z.object({ status: z.enum(["ACTIVE", "INACTIVE"]), reason: z.string().max(500).optional() }).strict();

export interface ProtocolDeps { db: Db; redis: RedisGateway; log?: Logger }

/** GET protocol: the cache, Postgres on a miss; Postgres alone while Redis is unavailable. */
export function getProtocol(deps: ProtocolDeps, userId: string): Promise<ProtocolStatus> {
  return readThroughVersioned(deps.redis, protocolCache(deps.redis, userId), PROTOCOL_CACHE_TTL_SECONDS,
    async () => (await loadProtocols(deps.db, [userId]))[0]!, deps.log);
}

/**
 * One statement: the upsert locks the row, records the status it replaces, and the audit row is
 * written from that, so it carries the true previous status (the earlier system always wrote
 * 'ACTIVE'). Parameters: $1 user, $2 status, $3 actor, $4 reason.
 */
export function setProtocolStatement(userId: string, status: "ACTIVE" | "INACTIVE", actor: string, reason: string | null, requestKey: string | null = null): Statement {
  // A repeat carrying the row's last Idempotency-Key ($5) writes no second audit row.
  return {
    text: `WITH prior AS (SELECT last_request_key FROM user_protocol_status WHERE user_id = $1::text),
      up AS (
        INSERT INTO user_protocol_status (user_id, status, activated_by, activated_at, reason, last_request_key)
        VALUES ($1::text, $2::text, CASE WHEN $2::text = 'ACTIVE' THEN $3::text END, CASE WHEN $2::text = 'ACTIVE' THEN now() END, $4::text, $5::text)
        ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, previous_status = user_protocol_status.status,
          activated_by = CASE WHEN EXCLUDED.status = 'ACTIVE' THEN $3::text ELSE user_protocol_status.activated_by END,
          activated_at = CASE WHEN EXCLUDED.status = 'ACTIVE' THEN now() ELSE user_protocol_status.activated_at END,
          reason = coalesce($4::text, user_protocol_status.reason), last_request_key = $5::text
        RETURNING ${PROTOCOL_COLUMNS}, previous_status),
      audit AS (
        INSERT INTO protocol_audit_log (user_id, action, performed_by, reason, previous_status, new_status)
        SELECT user_id, CASE WHEN status = 'ACTIVE' THEN 'ACTIVATED' ELSE 'DEACTIVATED' END, $3::text, $4::text,
          coalesce(previous_status, 'INACTIVE'), status FROM up
        WHERE $5::text IS NULL OR NOT EXISTS (SELECT 1 FROM prior WHERE prior.last_request_key = $5::text))
      SELECT * FROM up`,
    params: [userId, status, actor, reason, requestKey],
  };
}

/** PUT /v1/users/:id/protocol: Postgres, then the cache is refreshed at once (no 5-minute staleness). */
export async function setProtocol(deps: ProtocolDeps, userId: string, status: "ACTIVE" | "INACTIVE", actor: string, reason?: string, requestKey?: string): Promise<ProtocolStatus> {
  const st = setProtocolStatement(userId, status, actor, reason ?? null, requestKey ?? null);
  const [row] = await deps.db.query(st.text, st.params);
  const versioned = versionedFromRow(row!);
  await refreshProtocolCaches(deps, [versioned]);
  return versioned.value;
}

/**
 * After a protocol change Postgres accepted, the cache must hold it before the change is
 * acknowledged: ingest trusts the cache, so an old INACTIVE left there would let a silenced user's
 * messages through on any instance. If Redis cannot take it, the change answers 503 (Postgres keeps
 * it; the PUT is idempotent and the client retries until the cache holds the new state).
 */
export async function refreshProtocolCaches(deps: ProtocolDeps, statuses: VersionedProtocol[]): Promise<void> {
  try {
    await cacheProtocols(deps.redis, statuses);
  } catch (e) {
    for (const p of statuses) deps.redis.markStale(protocolKey(deps.redis, p.value.user_id));
    deps.log?.warn("protocol cache refresh failed: answering 503 so the change is retried", { err: e as Error });
    if (e instanceof UnavailableError) throw e;
    throw new UnavailableError("redis", 1, { cause: e });
  }
}
