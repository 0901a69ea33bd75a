import { randomBytes } from "node:crypto";
import type { Scope } from "../config/schema.js";
import type { Db, Statement } from "../db/db.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { hashKey, newKey } from "./keys.js";
import type { ApiKey, CreateKeyBody, IssuedKey } from "./schemas.js";

/**
 * API keys stored in Postgres (issue 29): only the SHA-256 of each key, its name (the principal),
 * scopes, optional expiry and rate limit, who created it and when, and a coarse last use. Every
 * change writes its key event to the audit log in the same transaction.
 *
 * Retries: revoke is idempotent (a repeat answers the key as revoked, with no second event);
 * create and rotate cannot be replayed (the key is never stored), so a repeat after a lost answer
 * is a 409 (the name is taken / the key was already rotated) and the operator rotates the key.
 */

/** A stored key as an instance's key check needs it. */
export interface LiveKey {
  id: string;
  name: string;
  /** Hex SHA-256 of the key. */
  sha256: string;
  scopes: Scope[];
  /** Epoch ms; absent: never expires. */
  expiresAt?: number;
  rateLimit?: { requests: number; windowSeconds: number };
}

const newKeyId = () => `key_${randomBytes(12).toString("hex")}`;
const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

const COLUMNS = `id, name, scopes, rate_limit_requests, rate_limit_window_seconds, expires_at, created_by, created_at, last_used_at,
  revoked_at, revoked_by, rotated_from, replaced_by`;

function toApiKey(r: Record<string, unknown>, now = Date.now()): ApiKey {
  const expires = r.expires_at === null ? null : Date.parse(String(iso(r.expires_at)));
  return {
    id: String(r.id),
    name: String(r.name),
    scopes: r.scopes as Scope[],
    rate_limit:
      r.rate_limit_requests === null
        ? null
        : { requests: Number(r.rate_limit_requests), window_seconds: Number(r.rate_limit_window_seconds) },
    expires_at: iso(r.expires_at),
    created_by: String(r.created_by),
    created_at: iso(r.created_at)!,
    last_used_at: iso(r.last_used_at),
    revoked_at: iso(r.revoked_at),
    revoked_by: (r.revoked_by as string | null) ?? null,
    rotated_from: (r.rotated_from as string | null) ?? null,
    replaced_by: (r.replaced_by as string | null) ?? null,
    state:
      r.revoked_at !== null ? "revoked" : expires !== null && expires <= now ? "expired" : r.replaced_by !== null ? "rotating" : "active",
  };
}

const keyEvent = (event: "create" | "rotate" | "revoke", by: string, keyIdParam: string, guard = "TRUE"): string =>
  `INSERT INTO audit_log (kind, event, principal, key_id, resource_id)
   SELECT 'key', '${event}', ${by}, k.id, k.id FROM api_keys k WHERE k.id = ${keyIdParam} AND ${guard}`;

export interface KeyStoreDeps {
  db: Db;
  /** The bootstrap keys' names (the ApiKeys secret): a stored key may not take one. */
  reservedNames?: readonly string[];
  /** The key refresh bound (config.apiKeyMaxAgeMs): when every instance accepts a new key. */
  maxAgeMs: number;
}

const isUniqueViolation = (e: unknown) => (e as { code?: string })?.code === "23505";

/** Creates a key: the answer carries the key itself, the only time it is ever shown. */
export async function createKey(deps: KeyStoreDeps, body: CreateKeyBody, by: string): Promise<IssuedKey> {
  if (deps.reservedNames?.includes(body.name))
    throw new ConflictError(`the name ${body.name} belongs to a bootstrap key (the ApiKeys secret)`);
  const key = newKey();
  const id = newKeyId();
  const insert: Statement = {
    text: `INSERT INTO api_keys (id, name, key_sha256, scopes, rate_limit_requests, rate_limit_window_seconds, expires_at, created_by)
           VALUES ($1, $2, decode($3, 'hex'), $4::text[], $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    params: [
      id,
      body.name,
      hashKey(key),
      body.scopes,
      body.rate_limit?.requests ?? null,
      body.rate_limit?.window_seconds ?? null,
      body.expires_at ?? null,
      by,
    ],
  };
  try {
    const [rows] = await deps.db.transaction([insert, { text: keyEvent("create", "$2", "$1"), params: [id, by] }]);
    return issued(key, rows![0]!, deps.maxAgeMs);
  } catch (e) {
    if (isUniqueViolation(e)) throw new ConflictError(`a live key named ${body.name} exists: rotate it, or revoke it first`);
    throw e;
  }
}

const issued = (key: string, row: Record<string, unknown>, maxAgeMs: number): IssuedKey => {
  const api = toApiKey(row);
  return { key, api_key: api, active_everywhere_by: new Date(Date.parse(api.created_at) + maxAgeMs).toISOString() };
};

export async function listKeys(db: Db, opts: { includeRevoked?: boolean } = {}): Promise<ApiKey[]> {
  const rows = await db.query(
    `SELECT ${COLUMNS} FROM api_keys ${opts.includeRevoked ? "" : "WHERE revoked_at IS NULL"} ORDER BY name, created_at DESC LIMIT 10000`,
  );
  const now = Date.now();
  return rows.map((r) => toApiKey(r, now));
}

export async function getKey(db: Db, id: string): Promise<ApiKey> {
  const [row] = await db.query(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
  if (!row) throw new NotFoundError("no such key");
  return toApiKey(row);
}

/** Revokes a key (idempotent: a revoked key stays revoked, its first revocation recorded once). */
export async function revokeKey(db: Db, id: string, by: string): Promise<ApiKey> {
  const [rows] = await db.transaction([
    {
      text: `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $2) WHERE id = $1 RETURNING ${COLUMNS}`,
      params: [id, by],
    },
    // now() is the transaction's time: equal only for the revocation this transaction made.
    { text: keyEvent("revoke", "$2", "$1", "k.revoked_at = now()"), params: [id, by] },
  ]);
  if (!rows![0]) throw new NotFoundError("no such key");
  return toApiKey(rows![0]);
}

/**
 * A new key for the same name, scopes, limit and expiry; the old one stays valid for
 * `graceSeconds` (then expires), and is marked replaced. A key already rotated, revoked or expired
 * is a 409 (a repeated rotation never issues a second key).
 */
export async function rotateKey(
  deps: KeyStoreDeps,
  id: string,
  graceSeconds: number,
  by: string,
): Promise<IssuedKey & { previous: ApiKey }> {
  const key = newKey();
  const next = newKeyId();
  const [inserted, , old] = await deps.db.transaction([
    {
      text: `WITH old AS (
               SELECT * FROM api_keys WHERE id = $1 AND revoked_at IS NULL AND replaced_by IS NULL AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE
             ), upd AS (
               UPDATE api_keys k SET replaced_by = $2, expires_at = LEAST(coalesce(old.expires_at, 'infinity'), now() + make_interval(secs => $3))
               FROM old WHERE k.id = old.id RETURNING k.id
             )
             INSERT INTO api_keys (id, name, key_sha256, scopes, rate_limit_requests, rate_limit_window_seconds, expires_at, created_by, rotated_from)
             SELECT $2, old.name, decode($4, 'hex'), old.scopes, old.rate_limit_requests, old.rate_limit_window_seconds, old.expires_at, $5, old.id
             FROM old JOIN upd ON upd.id = old.id RETURNING ${COLUMNS}`,
      params: [id, next, graceSeconds, hashKey(key), by],
    },
    { text: keyEvent("rotate", "$2", "$1"), params: [next, by] },
    { text: `SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, params: [id] },
  ]);
  const prev = old![0];
  if (!prev) throw new NotFoundError("no such key");
  if (!inserted![0]) {
    const p = toApiKey(prev);
    throw new ConflictError(
      p.state === "revoked"
        ? "the key is revoked"
        : p.replaced_by
          ? `the key was already rotated (replaced by ${p.replaced_by})`
          : "the key has expired: create a new one",
    );
  }
  return { ...issued(key, inserted![0], deps.maxAgeMs), previous: toApiKey(prev) };
}

/** The keys an instance accepts: not revoked, not expired (expiry is checked again at each use). */
export const LIVE_KEYS = `SELECT id, name, encode(key_sha256, 'hex') AS sha256, scopes, rate_limit_requests, rate_limit_window_seconds,
  (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms
  FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;

export function toLiveKey(r: Record<string, unknown>): LiveKey {
  return {
    id: String(r.id),
    name: String(r.name),
    sha256: String(r.sha256),
    scopes: r.scopes as Scope[],
    ...(r.expires_ms !== null ? { expiresAt: Number(r.expires_ms) } : {}),
    ...(r.rate_limit_requests !== null
      ? { rateLimit: { requests: Number(r.rate_limit_requests), windowSeconds: Number(r.rate_limit_window_seconds) } }
      : {}),
  };
}

/** What the API's key routes need: the key table, this instance's key directory, the refresh bound. */
export interface KeyRouteDeps {
  db: Db;
  keys: {
    bootstrapNames(): readonly string[];
    learn(issued: IssuedKey): void;
    expire(keyId: string, expiresAt: string | null): void;
    forget(keyId: string): void;
  };
  config: { apiKeyMaxAgeMs: number };
}

const storeOf = (d: KeyRouteDeps): KeyStoreDeps => ({
  db: d.db,
  reservedNames: d.keys.bootstrapNames(),
  maxAgeMs: d.config.apiKeyMaxAgeMs,
});

/** `POST /v1/keys`: createKey, and this instance accepts the key at once (the others within the bound). */
export async function createApiKey(d: KeyRouteDeps, body: CreateKeyBody, by: string): Promise<IssuedKey> {
  const issued = await createKey(storeOf(d), body, by);
  d.keys.learn(issued);
  return issued;
}

/** `POST /v1/keys/{id}/rotate`: rotateKey, and this instance knows the new key and the old one's grace at once. */
export async function rotateApiKey(d: KeyRouteDeps, id: string, graceSeconds: number, by: string) {
  const issued = await rotateKey(storeOf(d), id, graceSeconds, by);
  d.keys.learn(issued);
  d.keys.expire(issued.previous.id, issued.previous.expires_at);
  return issued;
}

/** `POST /v1/keys/{id}/revoke`: revokeKey, and this instance refuses the key at once. */
export async function revokeApiKey(d: KeyRouteDeps, id: string, by: string): Promise<ApiKey> {
  const key = await revokeKey(d.db, id, by);
  d.keys.forget(key.id);
  return key;
}
