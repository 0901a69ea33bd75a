import type { BlobStore, StreamingBlobStore } from "../storage/blob.js";
import type { Db } from "../db/db.js";
import type { UserHasher } from "../gdpr/hash.js";
import { USER_TABLES } from "../gdpr/tables.js";

/** Erasure records live in the bucket too, so a restore into a fresh database still finds them. */
export const ERASURE_PREFIX = "erasures/";

export async function recordErasure(store: BlobStore, userHash: string, at: Date, actor: string): Promise<void> {
  await store.put(
    `${ERASURE_PREFIX}${at.toISOString().replace(/[:.]/g, "-")}-${userHash}.json`,
    JSON.stringify({ user_hash: userHash, erased_at: at.toISOString(), requested_by: actor }),
    "application/json",
  );
}

/** Every erased user's hash: the bucket's records plus the target database's own log. */
export async function erasedHashes(store: StreamingBlobStore, db?: Db): Promise<Set<string>> {
  const hashes = new Set<string>();
  for (const o of await store.list(ERASURE_PREFIX)) {
    const m = /-([0-9a-f]{64})\.json$/.exec(o.key);
    if (m) hashes.add(m[1]!);
  }
  if (db) for (const r of await db.query<{ user_hash: string }>("SELECT DISTINCT user_hash FROM erasures")) hashes.add(r.user_hash);
  return hashes;
}

/**
 * Re-applies erasures to restored data: rows of users whose id hashes to an erased hash go. Postgres
 * computes the same keyed hash (the padded keys go as parameters).
 */
export async function reapplyErasures(db: Db, hasher: UserHasher, hashes: Set<string>): Promise<number> {
  if (hashes.size === 0) return 0;
  const { expr, params } = hasher.sql("user_id", 2);
  const match = `${expr} = ANY($1)`;
  const all = [[...hashes], ...params];
  // A set taken before a table existed restores without it (and without 0020's functions).
  const present = new Set(
    (await db.query<{ t: string }>("SELECT t FROM unnest($1::text[]) AS u(t) WHERE to_regclass(t) IS NOT NULL", [[...USER_TABLES]])).map(
      (r) => r.t,
    ),
  );
  const [{ fields }] = (await db.query<{ fields: boolean }>("SELECT to_regproc('hitl_user_field_values') IS NOT NULL AS fields")) as [
    { fields: boolean },
  ];
  const results = await db.transaction([
    ...USER_TABLES.filter((t) => present.has(t)).map((t) => ({
      text: `WITH d AS (DELETE FROM ${t} WHERE ${match} RETURNING 1) SELECT count(*)::int AS n FROM d`,
      params: all,
    })),
    {
      text: `WITH d AS (UPDATE protocol_audit_log SET user_id = 'erased:restore', reason = NULL WHERE ${match} RETURNING 1) SELECT count(*)::int AS n FROM d`,
      params: all,
    },
    // Recovery operations name users only in their user-id fields (USER_ID_FIELDS): the values
    // there whose hash is erased are erased again.
    ...(!fields
      ? []
      : [
          {
            text: `WITH found AS (
        SELECT r.id, array_agg(DISTINCT u.user_id) AS ids FROM recovery_operations r
        CROSS JOIN LATERAL (SELECT hitl_user_field_values(r.metadata) UNION SELECT hitl_user_field_values(r.error_details)) AS u(user_id)
        WHERE ${hasher.sql("u.user_id", 2).expr} = ANY($1) GROUP BY r.id),
      d AS (UPDATE recovery_operations r SET metadata = hitl_erase_user_fields(r.metadata, f.ids), error_details = hitl_erase_user_fields(r.error_details, f.ids)
        FROM found f WHERE r.id = f.id RETURNING 1)
      SELECT count(*)::int AS n FROM d`,
            params: all,
          },
        ]),
  ]);
  return results.reduce((s, r) => s + Number(r[0]!.n), 0);
}
