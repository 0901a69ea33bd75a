import { listBackupSets } from "../backup/catalog.js";
import type { HourSummary } from "../metrics/timeline.js";
import { checkHealth, type HealthReport } from "../health/check.js";
import type { Services } from "../services.js";
import type { WalStats } from "../wal/schemas.js";
import { backlogWarnings, type BacklogQueue, type BacklogWarning } from "../monitoring/backlog.js";

export interface StatusSnapshot {
  generated_at: string;
  health: HealthReport;
  wal: WalStats | null;
  /** Null when Postgres could not answer. */
  reviews: { pending: number; reviewing: number; approved_unsent: number } | null;
  /** Stores that failed while gathering the page ("postgres", "redis", "storage"). */
  failing: string[];
  backups:
    | null
    | {
        id: string;
        kind: string;
        started_at: string;
        finished_at: string | null;
        complete: boolean;
        verified: boolean;
        bytes: number;
        objects: number;
      }[];
  timeline: { minute: number; requests: number; errors: number; avg_ms: number; max_ms: number }[];
  /** Requests, error rate and latency percentiles of this instance over the last hour (the page's own requests excluded). */
  hour: HourSummary;
  /** The newest verified set of each kind against its alarm window; null when Postgres could not answer. */
  last_backups: LastBackup[] | null;
  /** Quarantined messages not yet processed; null when Postgres could not answer. */
  quarantined: number | null;
  /** Queues over their backlog thresholds (sustained: for 5 minutes or more), and the thresholds. */
  backlog: { warnings: BacklogWarning[]; thresholds: Record<BacklogQueue, number> };
}

/**
 * A part of the page whose store fails is shown as unavailable, never failing the whole page:
 * whatever the error (unavailable, refused, a misconfigured database), the page still renders.
 */
const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

/**
 * Hours after which a kind's newest verified set is overdue: the alarms' windows (infra/alarms.ts,
 * PostgresBackupMissed and RedisSnapshotMissed: Postgres's fits a whole continuation chain, 24 h
 * + 6 h + retries + margin; archives run daily).
 */
export const BACKUP_ALERT_AFTER_HOURS = { postgres: 33, redis: 7, archive: 26 } as const;

export interface LastBackup {
  kind: keyof typeof BACKUP_ALERT_AFTER_HOURS;
  id: string | null;
  finished_at: string | null;
  age_hours: number | null;
  limit_hours: number;
  overdue: boolean;
}

/**
 * Everything the status page shows, gathered in parallel (the same sources as the JSON endpoints).
 * It renders on bad days too: each part whose store is down is null, and `failing` names the stores.
 */
export async function statusSnapshot(s: Services): Promise<StatusSnapshot> {
  const [health, wal, counts, backups, last] = await Promise.all([
    checkHealth(s),
    orNull(s.wal.stats()),
    // One round trip for every count the page shows.
    orNull(
      s.db.query<{ pending: number; reviewing: number; approved_unsent: number; quarantined: number }>(`SELECT
      (SELECT count(*)::int FROM interactions WHERE review_status = 'pending' OR (review_status = 'reviewing' AND review_lease_expires_at < now())) AS pending,
      (SELECT count(*)::int FROM interactions WHERE review_status = 'reviewing' AND review_lease_expires_at >= now()) AS reviewing,
      (SELECT count(*)::int FROM interactions WHERE review_status = 'approved' AND messages_sent_at IS NULL) AS approved_unsent,
      (SELECT count(*)::int FROM quarantine_messages WHERE NOT processed) AS quarantined`),
    ),
    orNull(listBackupSets(s.db, 8)),
    // With the newest verified set of each kind, when the schema was installed (same round trip):
    // a kind with no set yet is overdue only once the install is older than its alarm window.
    orNull(
      s.db.query<{ kind: string; id: string; finished_at: string }>(
        `(SELECT DISTINCT ON (kind) kind, id, finished_at FROM backup_sets WHERE verified AND complete ORDER BY kind, finished_at DESC)
       UNION ALL (SELECT 'installed', '', min(applied_at) FROM schema_migrations)`,
      ),
    ),
  ]);
  const row = counts?.[0];
  const now = Date.now();
  const last_backups =
    last &&
    (Object.keys(BACKUP_ALERT_AFTER_HOURS) as (keyof typeof BACKUP_ALERT_AFTER_HOURS)[]).map((kind) => {
      const row = last.find((r) => r.kind === kind);
      const finished = row ? new Date(row.finished_at) : null;
      const age = finished ? (now - finished.getTime()) / 3600_000 : null;
      const limit = BACKUP_ALERT_AFTER_HOURS[kind];
      const installed = last.find((r) => r.kind === "installed")?.finished_at;
      const installedHours = installed ? (now - new Date(installed).getTime()) / 3600_000 : Infinity;
      // Not due yet on a fresh install: nothing is late before its first window has passed.
      return {
        kind,
        id: row?.id ?? null,
        finished_at: finished?.toISOString() ?? null,
        age_hours: age,
        limit_hours: limit,
        overdue: age === null ? installedHours > limit : age > limit,
      };
    });
  const failing = (["postgres", "redis", "storage"] as const).filter((k) => !health[k].ok);
  const levels = { wal: wal?.pending ?? null, review_queue: row?.pending ?? null, outbox_unsent: row?.approved_unsent ?? null };
  const warnings = await backlogWarnings(s.redis, levels, s.config.backlog, now);
  return {
    generated_at: new Date().toISOString(),
    health,
    wal,
    reviews: row ? { pending: row.pending, reviewing: row.reviewing, approved_unsent: row.approved_unsent } : null,
    failing,
    backups: backups?.items ?? null,
    timeline: s.metrics.timeline.lastHour(),
    hour: s.metrics.timeline.summary(),
    last_backups,
    quarantined: row?.quarantined ?? null,
    backlog: { warnings, thresholds: s.config.backlog },
  };
}
