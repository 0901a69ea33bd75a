import { createHash, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Db } from "../db/db.js";
import { AppError, ConflictError, ValidationError } from "../errors.js";
import { IsoDateTime } from "../wal/schemas.js";
import { searchClause, MIN_SEARCH_CHARS } from "./browse.js";
import { recomputeDayStatements } from "./rollup.js";

/** A preview's token is good this long. */
export const CLEANUP_TOKEN_TTL_SECONDS = 15 * 60;
/** One cleanup deletes at most this many interactions (one transaction): narrow the criteria beyond. */
export const MAX_CLEANUP_ROWS = 50_000;

export const CleanupCriteria = z
  .object({
    from: IsoDateTime.optional(),
    to: IsoDateTime.optional(),
    user_ids: z.array(z.string().min(1).max(128)).min(1).max(100).optional(),
    pattern: z
      .string()
      .trim()
      .min(MIN_SEARCH_CHARS)
      .max(200)
      .optional()
      .describe("matched like the browse search (q): case- and accent-insensitive, literal"),
  })
  .strict()
  .refine((c) => c.from || c.to || c.user_ids || c.pattern, "give at least one criterion")
  .meta({ id: "CleanupCriteria", description: "Which interactions a cleanup deletes: every criterion given must match" });
export type CleanupCriteria = z.infer<typeof CleanupCriteria>;
export const CleanupBody = z
  .object({ token: z.string().min(1).max(4000) })
  .strict()
  .meta({ id: "CleanupRequest" });

interface Claims {
  criteria: CleanupCriteria;
  n: number;
  fp: string;
  days: string[];
  exp: number;
}

/** The token key: derived from ERASURE_HASH_KEY for this one purpose (HKDF), no new secret. */
const tokenKey = (secret: string) => Buffer.from(hkdfSync("sha256", secret, "hitl-analytics-cleanup", "cleanup token v1", 32));
const sign = (secret: string, body: string) => createHmac("sha256", tokenKey(secret)).update(body).digest("base64url");

/** The rows a cleanup means, as a WHERE clause over `params` (values never spliced into SQL). */
function where(c: CleanupCriteria, params: unknown[]): string {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const w: string[] = [];
  if (c.from) w.push(`created_at >= ${p(c.from)}::timestamptz`);
  if (c.to) w.push(`created_at < ${p(c.to)}::timestamptz`);
  if (c.user_ids) w.push(`user_id = ANY(${p(c.user_ids)}::text[])`);
  if (c.pattern) w.push(searchClause(p(c.pattern)));
  return w.join(" AND ");
}

/** The matched rows' count, a fingerprint of them (ids and versions) and their UTC days. */
const FINGERPRINT = (
  target: string,
) => `SELECT count(*)::int AS n, md5(coalesce(string_agg(id::text || '@' || updated_at::text, ',' ORDER BY id), '')) AS fp,
  coalesce(array_agg(DISTINCT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')) FILTER (WHERE id IS NOT NULL), '{}') AS days FROM ${target}`;

export interface CleanupPreview {
  interactions: number;
  days: number;
  token: string;
  expires_at: string;
}

/** Counts what a cleanup would delete and returns a token for exactly that (one query). */
export async function previewCleanup(db: Db, secret: string, criteria: CleanupCriteria, now = Date.now()): Promise<CleanupPreview> {
  const params: unknown[] = [];
  const [r] = await db.query<{ n: number; fp: string; days: string[] }>(
    FINGERPRINT(`(SELECT id, created_at, updated_at FROM interactions WHERE ${where(criteria, params)}) t`),
    params,
  );
  if (r!.n > MAX_CLEANUP_ROWS) {
    throw new ValidationError(`matches ${r!.n} interactions; one cleanup deletes at most ${MAX_CLEANUP_ROWS}`, [
      { in: "json", path: "", message: "narrow the criteria", code: "too_big" },
    ]);
  }
  const exp = Math.floor(now / 1000) + CLEANUP_TOKEN_TTL_SECONDS;
  const body = Buffer.from(JSON.stringify({ criteria, n: r!.n, fp: r!.fp, days: r!.days, exp } satisfies Claims)).toString("base64url");
  return {
    interactions: r!.n,
    days: r!.days.length,
    token: `${body}.${sign(secret, body)}`,
    expires_at: new Date(exp * 1000).toISOString(),
  };
}

export class CleanupTokenError extends AppError {
  constructor(message: string) {
    super("invalid_request", 400, message, [{ in: "json", path: "token", message, code: "invalid_value" }]);
  }
}

function verify(secret: string, token: string, now: number): Claims {
  const [body, sig] = token.split(".");
  const want = body ? Buffer.from(sign(secret, body)) : Buffer.alloc(0);
  if (!body || !sig || Buffer.from(sig).length !== want.length || !timingSafeEqual(Buffer.from(sig), want))
    throw new CleanupTokenError("not a token a preview returned");
  const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Claims;
  if (claims.exp < Math.floor(now / 1000)) throw new CleanupTokenError("the preview expired: preview again");
  return claims;
}

export interface CleanupResult {
  deleted: { interactions: number; interaction_keys: number };
  audit_id: number;
  repeated: boolean;
}

/**
 * Deletes what the preview counted, in one transaction: the matched rows are locked and
 * fingerprinted again; if they are not exactly the previewed ones (added, removed or changed
 * since), nothing is deleted (409). The rollups of the affected days are recounted in the same
 * transaction, and an audit row records who, what and how many. A repeat of the same token
 * (a retry whose answer was lost) answers the recorded result.
 */
export async function executeCleanup(db: Db, secret: string, actor: string, token: string, now = Date.now()): Promise<CleanupResult> {
  const claims = verify(secret, token, now);
  const tokenHash = createHash("sha256").update(token).digest("hex");
  const params: unknown[] = [];
  const w = where(claims.criteria, params);
  const n = params.length;
  params.push(claims.n, claims.fp, tokenHash, actor, JSON.stringify(claims.criteria));
  const [res, ...rest] = await db.transaction([
    {
      text: `
WITH prior AS (SELECT id, deleted FROM analytics_cleanup_audit WHERE token_hash = $${n + 3}),
target AS (SELECT id, created_at, updated_at FROM interactions WHERE ${w} FOR UPDATE),
fp AS (${FINGERPRINT("target")}),
ok AS (SELECT NOT EXISTS (SELECT 1 FROM prior) AND fp.n = $${n + 1} AND fp.fp = $${n + 2} AS ok FROM fp),
del AS (DELETE FROM interactions i USING target t WHERE (SELECT ok FROM ok) AND i.id = t.id AND i.created_at = t.created_at RETURNING i.id),
keys AS (DELETE FROM interaction_keys k USING del WHERE k.interaction_id = del.id RETURNING 1),
audit AS (INSERT INTO analytics_cleanup_audit (token_hash, performed_by, criteria, deleted)
  SELECT $${n + 3}, $${n + 4}, $${n + 5}::jsonb, json_build_object('interactions', (SELECT count(*) FROM del), 'interaction_keys', (SELECT count(*) FROM keys))
  WHERE (SELECT ok FROM ok) RETURNING id, deleted)
SELECT (SELECT ok FROM ok) AS ok, coalesce((SELECT deleted FROM audit), (SELECT deleted FROM prior)) AS deleted,
  coalesce((SELECT id FROM audit), (SELECT id FROM prior)) AS audit_id, EXISTS (SELECT 1 FROM prior) AS repeated`,
      params,
    },
    // Recounting a day is idempotent: harmless when nothing was deleted.
    ...claims.days.flatMap((d) => recomputeDayStatements(d)),
  ]);
  void rest;
  const r = res![0] as { ok: boolean; deleted: CleanupResult["deleted"] | null; audit_id: string | null; repeated: boolean };
  if (!r.ok && !r.repeated) throw new ConflictError("the data changed since the preview: nothing was deleted; preview again");
  return { deleted: r.deleted!, audit_id: Number(r.audit_id), repeated: r.repeated };
}
