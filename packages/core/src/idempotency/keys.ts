import { createHash } from "node:crypto";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";

/**
 * A request's Idempotency-Key, scoped and bound (IETF draft "The Idempotency-Key HTTP Header
 * Field"): `key` names (principal, operation, client key), so two callers, or one caller on two
 * operations, never share a key; `fingerprint` is a digest of the request itself (ids and body),
 * so the same key on a different request is refused instead of answered as the first one was.
 */
export interface IdempotencyScope {
  key: string;
  fingerprint: string;
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest("base64url");

/**
 * The one builder of every idempotency key (Postgres tables and Redis claim keys alike): a
 * digest of the JSON array [principal, operation, key], so no two distinct triples map to one
 * key whatever characters they hold, and the result is 43 characters of [A-Za-z0-9_-].
 */
export function scopedKey(principal: string, operation: string, key: string): string {
  return digest(JSON.stringify([principal, operation, key]));
}

/** JSON with object keys sorted at every level: equal values, equal text. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(",")}}`;
}

/**
 * The fingerprint of a request: its operation and its validated input (path ids and body), so two
 * spellings of one path or one body (key order, escapes) are one request.
 */
export function requestFingerprint(operation: string, input: unknown): string {
  return digest(canonical([operation, input ?? null]));
}

/** 422: the Idempotency-Key was first used with a different request (draft, section 2.7). */
export class IdempotencyKeyReusedError extends AppError {
  constructor() {
    super(
      "idempotency_key_reused",
      422,
      "this Idempotency-Key was already used with a different request (method, path or body); send a new key for a new request",
    );
  }
}

/**
 * SQL of the claim, as a CTE named `claim` for the statement that does the write: the first
 * request with a scope inserts it (with the user it concerns, erased with the user, and the id of
 * what it creates, if any); a concurrent twin waits on the key's unique index until the first
 * commits, then inserts nothing. Gate the write on `$k IS NULL OR EXISTS (SELECT 1 FROM claim)`:
 * exactly one request applies it. Parameters: key, fingerprint, user id, resource (text or NULL).
 */
export const claimCte = (k: number, f: number, user: string, resource: string) => `claim AS (
  INSERT INTO idempotency_keys (key, fingerprint, user_id, resource) SELECT $${k}::text, $${f}::text, ${user}, ${resource}
  WHERE $${k}::text IS NOT NULL ON CONFLICT (key) DO NOTHING RETURNING resource)`;

/**
 * After a statement whose claim inserted nothing: the first request's record. Throws 422 when it
 * was a different request; otherwise returns what the first one created (null if nothing).
 */
export async function repeatOf(db: Db, scope: IdempotencyScope): Promise<{ resource: string | null }> {
  const [row] = await db.query<{ fingerprint: string; resource: string | null }>(
    "SELECT fingerprint, resource FROM idempotency_keys WHERE key = $1",
    [scope.key],
  );
  // Gone between the two statements: only an erasure of the user or the expiry deletes it.
  if (!row) return { resource: null };
  if (row.fingerprint !== scope.fingerprint) throw new IdempotencyKeyReusedError();
  return { resource: row.resource };
}

/** How long a key is remembered: retries come within minutes; the draft leaves the window to the server. */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;

/** Forgets keys older than the window (called by the daily archive job). Returns how many. */
export async function purgeIdempotencyKeys(db: Db): Promise<number> {
  const rows = await db.query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) RETURNING 1`, [
    IDEMPOTENCY_KEY_TTL_HOURS,
  ]);
  return rows.length;
}
