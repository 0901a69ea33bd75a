import { UnavailableError } from "../errors.js";
import { z } from "zod";
import { readThroughVersioned } from "../cache/versioned.js";
import type { RedisStore } from "../cache/redis.js";
import type { Db, Statement } from "../db/db.js";
import type { Logger } from "../log.js";
import { claimCte, repeatOf, type IdempotencyScope } from "../idempotency/keys.js";
import {
  PROTOCOL_CACHE_TTL_SECONDS,
  PROTOCOL_COLUMNS,
  cacheProtocols,
  loadProtocols,
  protocolCache,
  protocolKey,
  versionedFromRow,
  type ProtocolStatus,
  type VersionedProtocol,
} from "./status.js";

export const PutProtocolBody = z.object({ status: z.enum(["ACTIVE", "INACTIVE"]), reason: z.string().max(500).optional() }).strict();

export interface ProtocolDeps {
  db: Db;
  redis: RedisStore;
  log?: Logger;
}

/** GET protocol: the cache, Postgres on a miss; Postgres alone while Redis is unavailable. */
export function getProtocol(deps: ProtocolDeps, userId: string): Promise<ProtocolStatus> {
  return readThroughVersioned(
    deps.redis,
    protocolCache(deps.redis, userId),
    PROTOCOL_CACHE_TTL_SECONDS,
    async () => (await loadProtocols(deps.db, [userId]))[0]!,
    deps.log,
  );
}

/**
 * One statement: the upsert locks the row, records the status it replaces, and the audit row is
 * written from that, so it carries the true previous status (the earlier system always wrote
 * 'ACTIVE'). Parameters: $1 user, $2 status, $3 actor, $4 reason, $5/$6 the Idempotency-Key's
 * scope and fingerprint: with a key, the write and its audit row happen only in the request that
 * claims it (`claimCte`); concurrent retries wait for it and write nothing.
 */
export function setProtocolStatement(
  userId: string,
  status: "ACTIVE" | "INACTIVE",
  actor: string,
  reason: string | null,
  scope: IdempotencyScope | null = null,
): Statement {
  return {
    text: `WITH ${claimCte(5, 6, "$1::text", "NULL")},
      up AS (
        INSERT INTO user_protocol_status (user_id, status, activated_by, activated_at, reason)
        SELECT $1::text, $2::text, CASE WHEN $2::text = 'ACTIVE' THEN $3::text END, CASE WHEN $2::text = 'ACTIVE' THEN now() END, $4::text
        WHERE $5::text IS NULL OR EXISTS (SELECT 1 FROM claim)
        ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, previous_status = user_protocol_status.status,
          activated_by = CASE WHEN EXCLUDED.status = 'ACTIVE' THEN $3::text ELSE user_protocol_status.activated_by END,
          activated_at = CASE WHEN EXCLUDED.status = 'ACTIVE' THEN now() ELSE user_protocol_status.activated_at END,
          reason = coalesce($4::text, user_protocol_status.reason)
        RETURNING ${PROTOCOL_COLUMNS}, previous_status),
      audit AS (
        INSERT INTO protocol_audit_log (user_id, action, performed_by, reason, previous_status, new_status)
        SELECT user_id, CASE WHEN status = 'ACTIVE' THEN 'ACTIVATED' ELSE 'DEACTIVATED' END, $3::text, $4::text,
          coalesce(previous_status, 'INACTIVE'), status FROM up)
      SELECT * FROM up`,
    params: [userId, status, actor, reason, scope?.key ?? null, scope?.fingerprint ?? null],
  };
}

/**
 * PUT /v1/users/:id/protocol: Postgres, then the cache is refreshed at once (no 5-minute staleness).
 * A repeat of a request already applied (its Idempotency-Key) answers the current status and
 * refreshes the cache again (the first may have answered 503 because Redis could not take it).
 */
export async function setProtocol(
  deps: ProtocolDeps,
  userId: string,
  status: "ACTIVE" | "INACTIVE",
  actor: string,
  reason?: string,
  scope?: IdempotencyScope,
): Promise<ProtocolStatus> {
  const st = setProtocolStatement(userId, status, actor, reason ?? null, scope ?? null);
  const [row] = await deps.db.query(st.text, st.params);
  let versioned: VersionedProtocol;
  if (row) versioned = versionedFromRow(row);
  else {
    await repeatOf(deps.db, scope!);
    versioned = (await loadProtocols(deps.db, [userId]))[0]!;
  }
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
