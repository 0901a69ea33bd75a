import { listBackupSets } from "../backup/catalog.js";
import { UnavailableError } from "../errors.js";
import { checkHealth, type HealthReport } from "../health/check.js";
import type { Services } from "../services.js";
import type { WalStats } from "../wal/schemas.js";

export interface StatusSnapshot {
  generated_at: string;
  health: HealthReport;
  wal: WalStats | null;
  /** Null when Postgres could not answer. */
  reviews: { pending: number; reviewing: number; approved_unsent: number } | null;
  /** Stores that failed while gathering the page ("postgres", "redis", "storage"). */
  failing: string[];
  backups: null | { id: string; kind: string; started_at: string; finished_at: string | null; complete: boolean; verified: boolean; bytes: number; objects: number }[];
  timeline: { minute: number; requests: number; errors: number; avg_ms: number; max_ms: number }[];
}

/** A part of the page whose store is unavailable is shown as such, never failing the whole page. */
const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch((e) => { if (e instanceof UnavailableError) return null; throw e; });

/**
 * Everything the status page shows, gathered in parallel (the same sources as the JSON endpoints).
 * It renders on bad days too: each part whose store is down is null, and `failing` names the stores.
 */
export async function statusSnapshot(s: Services): Promise<StatusSnapshot> {
  const [health, wal, reviews, backups] = await Promise.all([
    checkHealth(s),
    orNull(s.wal.stats()),
    orNull(s.db.query<{ pending: number; reviewing: number; approved_unsent: number }>(`SELECT
      (SELECT count(*)::int FROM interactions WHERE review_status = 'pending' OR (review_status = 'reviewing' AND review_lease_expires_at < now())) AS pending,
      (SELECT count(*)::int FROM interactions WHERE review_status = 'reviewing' AND review_lease_expires_at >= now()) AS reviewing,
      (SELECT count(*)::int FROM interactions WHERE review_status = 'approved' AND messages_sent_at IS NULL) AS approved_unsent`)),
    orNull(listBackupSets(s.db, 8)),
  ]);
  const failing = (["postgres", "redis", "storage"] as const).filter((k) => !health[k].ok);
  return {
    generated_at: new Date().toISOString(), health, wal, reviews: reviews?.[0] ?? null, failing,
    backups: backups?.items ?? null,
    timeline: s.metrics.timeline.lastHour(),
  };
}
