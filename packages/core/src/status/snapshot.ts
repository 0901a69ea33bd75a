import { listBackupSets } from "../backup/catalog.js";
import { UnavailableError } from "../errors.js";
import { checkHealth, type HealthReport } from "../health/check.js";
import type { Services } from "../services.js";
import type { WalStats } from "../wal/schemas.js";

export interface StatusSnapshot {
  generated_at: string;
  health: HealthReport;
  wal: WalStats | null;
  reviews: { pending: number; reviewing: number; approved_unsent: number };
  backups: { id: string; kind: string; started_at: string; finished_at: string | null; complete: boolean; verified: boolean; bytes: number; objects: number }[];
  timeline: { minute: number; requests: number; errors: number; avg_ms: number; max_ms: number }[];
}

/** Everything the status page shows, gathered in parallel (the same sources as the JSON endpoints). */
export async function statusSnapshot(s: Services): Promise<StatusSnapshot> {
  const [health, wal, reviews, backups] = await Promise.all([
    checkHealth(s),
    s.wal.stats().catch((e) => { if (e instanceof UnavailableError) return null; throw e; }),
    s.db.query<{ pending: number; reviewing: number; approved_unsent: number }>(`SELECT
      (SELECT count(*)::int FROM interactions WHERE review_status = 'pending' OR (review_status = 'reviewing' AND review_lease_expires_at < now())) AS pending,
      (SELECT count(*)::int FROM interactions WHERE review_status = 'reviewing' AND review_lease_expires_at >= now()) AS reviewing,
      (SELECT count(*)::int FROM interactions WHERE review_status = 'approved' AND messages_sent_at IS NULL) AS approved_unsent`),
    listBackupSets(s.db, 8),
  ]);
  return {
    generated_at: new Date().toISOString(), health, wal, reviews: reviews[0]!,
    backups: backups.items,
    timeline: s.metrics.timeline.lastHour(),
  };
}
