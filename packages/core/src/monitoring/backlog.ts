import type { RedisStore } from "../cache/redis.js";
import { defineScript, runScript } from "../cache/scripts.js";
import type { Db } from "../db/db.js";
import type { Metrics } from "../metrics/registry.js";
import type { WalQueue } from "../wal/queue.js";

/** The queues watched for growth. */
export const BACKLOG_QUEUES = ["wal", "review_queue", "outbox_unsent"] as const;
export type BacklogQueue = (typeof BACKLOG_QUEUES)[number];

/**
 * Default thresholds, from the reference: REVIEW_QUEUE_WARNING_THRESHOLD 150 (review queue), and
 * health_check's WAL > 100 and > 50 (here the unsent outbox, the other queue a person waits on).
 * Each is configurable (BACKLOG_*_THRESHOLD) for the status page and, at deploy time, the alarms.
 */
export const BACKLOG_DEFAULT_THRESHOLDS: Record<BacklogQueue, number> = { wal: 100, review_queue: 150, outbox_unsent: 50 };
/** A backlog is an alert once it has stayed over its threshold this long (the reference's 5 minutes). */
export const BACKLOG_SUSTAIN_SECONDS = 300;
/** The metric each alarm watches (a gauge, emitted by the monitor function every minute and on /metrics). */
export const BACKLOG_METRICS: Record<BacklogQueue, string> = {
  wal: "backlog_wal_pending",
  review_queue: "backlog_review_queue",
  outbox_unsent: "backlog_outbox_unsent",
};

export type BacklogLevels = Record<BacklogQueue, number | null>;

export interface BacklogWarning {
  queue: BacklogQueue;
  depth: number;
  threshold: number;
  /** When it went over (as first observed), epoch ms. */
  over_since: number;
  /** Over the threshold for BACKLOG_SUSTAIN_SECONDS or more: an alert, not just a rise. */
  sustained: boolean;
}

/**
 * The three depths: the WAL's pending messages (Redis), the review queue (pending items and
 * lapsed claims) and approved replies not yet sent (one Postgres query). A store that is down
 * leaves its depths null.
 */
export async function measureBacklog(deps: { db: Db; wal: WalQueue }): Promise<BacklogLevels> {
  const [wal, pg] = await Promise.all([
    deps.wal
      .stats()
      .then((s) => s.pending)
      .catch(() => null),
    deps.db
      .query<{ review_queue: number; outbox_unsent: number }>(`SELECT
      (SELECT count(*)::int FROM interactions WHERE review_status = 'pending' OR (review_status = 'reviewing' AND review_lease_expires_at < now())) AS review_queue,
      (SELECT count(*)::int FROM interactions WHERE review_status = 'approved' AND messages_sent_at IS NULL) AS outbox_unsent`)
      .then((r) => r[0]!)
      .catch(() => null),
  ]);
  return { wal, review_queue: pg?.review_queue ?? null, outbox_unsent: pg?.outbox_unsent ?? null };
}

/** Sets the backlog gauges (what the alarms and Prometheus rules watch). */
export function recordBacklogGauges(m: Metrics, levels: BacklogLevels): void {
  if (levels.wal !== null) m.backlogWal.set(levels.wal);
  if (levels.review_queue !== null) m.backlogReview.set(levels.review_queue);
  if (levels.outbox_unsent !== null) m.backlogOutbox.set(levels.outbox_unsent);
}

/**
 * KEYS[1] the hash queue -> epoch ms it went over. ARGV: now, then queue/over pairs ('1' over,
 * '0' under, '' unknown: left as it is). One script so concurrent observers (the monitor, status
 * pages on several instances) agree on one start time per episode. Returns the hash.
 */
const OBSERVE = defineScript(`
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '1' then redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1])
  elseif ARGV[i + 1] == '0' then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
redis.call('EXPIRE', KEYS[1], 86400)
return redis.call('HGETALL', KEYS[1])
`);

/**
 * Records which queues are over their thresholds (Redis keeps when each went over, so "for 5
 * minutes" holds across instances and invocations) and returns the warnings: every queue over
 * its threshold now, `sustained` once it has been for BACKLOG_SUSTAIN_SECONDS. Without Redis the
 * warnings still show, each as just observed.
 */
export async function backlogWarnings(
  redis: RedisStore,
  levels: BacklogLevels,
  thresholds: Record<BacklogQueue, number>,
  now = Date.now(),
): Promise<BacklogWarning[]> {
  const args = [String(now), ...BACKLOG_QUEUES.flatMap((q) => [q, levels[q] === null ? "" : levels[q]! > thresholds[q] ? "1" : "0"])];
  let since: Record<string, number> = {};
  try {
    const flat = await redis.run("backlog.observe", (r) => runScript<(string | number)[]>(r, OBSERVE, [redis.keys.backlogSince], args));
    for (let i = 0; i + 1 < flat.length; i += 2) since[String(flat[i])] = Number(flat[i + 1]);
  } catch {
    since = {};
  }
  return BACKLOG_QUEUES.filter((q) => levels[q] !== null && levels[q]! > thresholds[q]).map((q) => {
    const over = since[q] ?? now;
    return {
      queue: q,
      depth: levels[q]!,
      threshold: thresholds[q],
      over_since: over,
      sustained: now - over >= BACKLOG_SUSTAIN_SECONDS * 1000,
    };
  });
}
