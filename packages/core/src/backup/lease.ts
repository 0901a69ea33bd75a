import type { Db } from "../db/db.js";

/** A lease lives this long unless renewed: a run that died (a Lambda timeout, a crash) frees its job after at most this. */
export const LEASE_TTL_SECONDS = 300;
/** A running job renews its lease this often. */
export const LEASE_RENEW_MS = 60_000;
/**
 * Kept by a run that hands over to a continuation (an asynchronous invocation that may wait in
 * Lambda's queue): the continuation renews it under the same holder; a run of another holder
 * (a duplicate scheduler delivery) still finds it held.
 */
export const LEASE_HANDOVER_SECONDS = 1800;

/**
 * Takes (or renews) `job`'s lease for `holder`: true when it is now held by `holder`. Succeeds when
 * it is free, expired, or already `holder`'s; a retried call with the same holder after a lost
 * response succeeds too.
 */
export async function acquireLease(db: Db, job: string, holder: string, ttlSeconds = LEASE_TTL_SECONDS): Promise<boolean> {
  const rows = await db.query<{ holder: string }>(
    `INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
    ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
      acquired_at = CASE WHEN job_leases.holder = EXCLUDED.holder THEN job_leases.acquired_at ELSE now() END
    WHERE job_leases.holder = EXCLUDED.holder OR job_leases.expires_at < now()
    RETURNING holder`,
    [job, holder, ttlSeconds],
  );
  return rows.length === 1;
}

/** Extends `holder`'s lease; false when it was lost (expired and taken by another run). */
export async function renewLease(db: Db, job: string, holder: string, ttlSeconds = LEASE_TTL_SECONDS): Promise<boolean> {
  const rows = await db.query(
    "UPDATE job_leases SET expires_at = now() + make_interval(secs => $3) WHERE job = $1 AND holder = $2 RETURNING 1",
    [job, holder, ttlSeconds],
  );
  return rows.length === 1;
}

/** Frees `holder`'s lease (a no-op if it is not `holder`'s any more). */
export async function releaseLease(db: Db, job: string, holder: string): Promise<void> {
  await db.query("DELETE FROM job_leases WHERE job = $1 AND holder = $2", [job, holder]);
}
