import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import { UnavailableError } from "../errors.js";
import { protocolKey } from "../protocol/status.js";
import { hourlyFactsSql, MEASURES } from "./facts.js";
import { DIRTY_MARGIN_SECONDS } from "./rollup.js";

/** Approved replies unsent after this many hours are reported (default). */
export const UNSENT_AFTER_HOURS = 2;
/** Month partitions that must exist ahead of the current one. */
export const PARTITIONS_AHEAD = 2;
/** How many recent rows / cache entries a sampled check looks at. */
export const INTEGRITY_SAMPLE = 200;

export interface Check {
  name: string;
  ok: boolean;
  count: number | null;
  detail: string;
  sample?: string[];
}
export interface IntegrityReport {
  ok: boolean;
  generated_at: string;
  checks: Check[];
}

const measureDiff = MEASURES.map((m) => `a.${m} IS DISTINCT FROM r.${m}`).join(" OR ");

/** Every Postgres-only check in one statement. */
const PG_CHECKS = `
WITH day AS (SELECT date_trunc('day', now(), 'UTC') - interval '1 day' AS d0, date_trunc('day', now(), 'UTC') AS d1),
recount AS (${hourlyFactsSql("(SELECT d0 FROM day)", "(SELECT d1 FROM day)")}),
stored AS (SELECT * FROM analytics_hourly WHERE hour >= (SELECT d0 FROM day) AND hour < (SELECT d1 FROM day))
SELECT
  (SELECT count(*)::int FROM interactions WHERE review_status = 'reviewing' AND review_lease_expires_at < now()) AS past_lease,
  (SELECT coalesce(array_agg(id::text), '{}') FROM (SELECT id FROM interactions WHERE review_status = 'reviewing' AND review_lease_expires_at < now()
     ORDER BY review_lease_expires_at LIMIT 10) x) AS past_lease_sample,
  (SELECT count(*)::int FROM interactions WHERE review_status = 'approved' AND messages_sent_at IS NULL
     AND review_completed_at < now() - make_interval(hours => $1)) AS unsent,
  (SELECT coalesce(array_agg(id::text), '{}') FROM (SELECT id FROM interactions WHERE review_status = 'approved' AND messages_sent_at IS NULL
     AND review_completed_at < now() - make_interval(hours => $1) ORDER BY review_completed_at LIMIT 10) x) AS unsent_sample,
  (SELECT coalesce(array_agg(to_char(m, 'YYYY_MM') ORDER BY m), '{}') FROM generate_series(date_trunc('month', now(), 'UTC'),
     date_trunc('month', now(), 'UTC') + make_interval(months => $2), interval '1 month') m
     WHERE to_regclass(format('interactions_%s', to_char(m, 'YYYY_MM'))) IS NULL) AS missing_partitions,
  (SELECT count(*)::int FROM pending_erasures) AS pending_erasures,
  (SELECT count(*)::int FROM (SELECT * FROM stored a FULL JOIN recount r USING (hour, kind, key)
     WHERE a.hour IS NULL OR r.hour IS NULL OR ${measureDiff}) x) AS rollup_diff,
  (SELECT to_char(d0 AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM day) AS sample_day,
  -- Rows of the sample day changed after the last rollup run: a difference is then a refresh to come, not a fault.
  EXISTS (SELECT 1 FROM interactions WHERE created_at >= (SELECT d0 FROM day) AND created_at < (SELECT d1 FROM day)
     AND updated_at >= (SELECT watermark FROM analytics_rollup_state) - make_interval(secs => $3)) AS sample_day_dirty,
  (SELECT coalesce(json_agg(json_build_array(message_id, user_id)), '[]') FROM (SELECT message_id, user_id FROM interactions
     WHERE message_id IS NOT NULL AND created_at >= now() - interval '20 hours' ORDER BY created_at DESC LIMIT $4) x) AS recent_messages,
  (SELECT coalesce(json_agg(json_build_array(user_id, version)), '[]') FROM (SELECT user_id, version FROM user_protocol_status
     ORDER BY updated_at DESC LIMIT $4) x) AS recent_protocols`;

interface PgFacts {
  past_lease: number;
  past_lease_sample: string[];
  unsent: number;
  unsent_sample: string[];
  missing_partitions: string[];
  pending_erasures: number;
  rollup_diff: number;
  sample_day: string;
  sample_day_dirty: boolean;
  recent_messages: [string, string][];
  recent_protocols: [string, number][];
}

/**
 * GET /v1/admin/integrity and `npm run check`: one Postgres statement, then Redis (one pipeline,
 * and a bounded scan). With Redis down, the Redis checks say so and the others still answer.
 */
export async function integrityReport(
  deps: { db: Db; redis: RedisStore },
  opts: { unsentAfterHours?: number } = {},
): Promise<IntegrityReport> {
  const hours = opts.unsentAfterHours ?? UNSENT_AFTER_HOURS;
  const [f] = await deps.db.query<PgFacts>(PG_CHECKS, [hours, PARTITIONS_AHEAD, DIRTY_MARGIN_SECONDS, INTEGRITY_SAMPLE]);
  const checks: Check[] = [
    {
      name: "reviews_past_lease",
      ok: f!.past_lease === 0,
      count: f!.past_lease,
      detail: "reviews still 'reviewing' after their lease expired (claimable again)",
      sample: f!.past_lease_sample,
    },
    {
      name: "approved_unsent",
      ok: f!.unsent === 0,
      count: f!.unsent,
      detail: `approved replies not sent ${hours} h after approval`,
      sample: f!.unsent_sample,
    },
    {
      name: "partitions_ahead",
      ok: f!.missing_partitions.length === 0,
      count: f!.missing_partitions.length,
      detail: `month partitions missing among this month and the next ${PARTITIONS_AHEAD}`,
      sample: f!.missing_partitions,
    },
    {
      name: "erasures_pending",
      ok: f!.pending_erasures === 0,
      count: f!.pending_erasures,
      detail: "erasures whose Redis part has not finished",
    },
    {
      name: "rollups_recount",
      ok: f!.rollup_diff === 0 || f!.sample_day_dirty,
      count: f!.rollup_diff,
      detail: `rollup rows of ${f!.sample_day} (UTC) that differ from a recount of its rows${f!.rollup_diff && f!.sample_day_dirty ? " (rows changed since the last rollup run: the next run recounts the day)" : ""}`,
    },
  ];
  try {
    checks.push(...(await redisChecks(deps, f!)));
  } catch (e) {
    if (!(e instanceof UnavailableError)) throw e;
    for (const name of ["wal_missing_for_interactions", "interactions_missing_for_acked_wal", "protocol_cache_versions"]) {
      checks.push({ name, ok: false, count: null, detail: "not checked: Redis is unavailable" });
    }
  }
  return { ok: checks.every((c) => c.ok), generated_at: new Date().toISOString(), checks };
}

/** Upper bound of SCAN calls looking for acked WAL messages (each COUNT 1000). */
const MAX_SCANS = 10;

async function redisChecks(deps: { db: Db; redis: RedisStore }, f: PgFacts): Promise<Check[]> {
  const k = deps.redis.keys.wal;
  // Interactions of the last 20 hours (inside the 24 h an acked marker lives) whose WAL message is
  // neither queued, in flight, nor acked.
  const msgs = f.recent_messages;
  const protocols = f.recent_protocols;
  const replies = await deps.redis.run("integrity.sample", (r) => {
    const p = r.pipeline();
    for (const [id] of msgs) {
      p.hexists(k.messagesOf(id), id);
      p.exists(k.acked(id));
    }
    for (const [user] of protocols) p.get<string>(protocolKey(deps.redis, user));
    return msgs.length + protocols.length ? p.exec() : Promise.resolve([] as unknown[]);
  });
  const missing = msgs.filter((_, i) => Number(replies[2 * i]) === 0 && Number(replies[2 * i + 1]) === 0).map(([id]) => id);
  const stale = protocols
    .filter((row, i) => {
      const cached = replies[2 * msgs.length + i];
      if (cached === null || cached === undefined) return false; // not cached: nothing to disagree
      // `<version>#<payload>` (SET_IF_NEWER), or `{"v":N,...}` written before that format.
      const text = typeof cached === "string" ? cached : JSON.stringify(cached);
      const v = Number(text.startsWith("{") ? (/^\{"v":(\d+)/.exec(text)?.[1] ?? NaN) : text.slice(0, text.indexOf("#")));
      return !(v >= Number(row[1]));
    })
    .map(([u]) => u);
  // Acked WAL messages (last 24 h) whose interaction Postgres does not hold: a bounded scan.
  const acked: string[] = [];
  let cursor = "0";
  for (let i = 0; i < MAX_SCANS; i++) {
    const [next, keys] = await deps.redis.run("integrity.scan", (r) => r.scan(cursor, { match: k.ackedPattern, count: 1000 }));
    acked.push(...keys.map(k.ackedId));
    cursor = String(next);
    if (cursor === "0") break;
  }
  const held = acked.length
    ? await deps.db.query<{ message_id: string }>("SELECT message_id FROM interaction_keys WHERE message_id = ANY($1)", [acked])
    : [];
  const heldIds = new Set(held.map((h) => h.message_id));
  const orphaned = acked.filter((id) => !heldIds.has(id));
  return [
    {
      name: "wal_missing_for_interactions",
      ok: missing.length === 0,
      count: missing.length,
      detail: `of the last ${msgs.length} interactions with a message id (20 h), those the WAL has no record of (neither queued nor acked)`,
      sample: missing.slice(0, 10),
    },
    {
      name: "interactions_missing_for_acked_wal",
      ok: orphaned.length === 0,
      count: orphaned.length,
      detail: `of ${acked.length} WAL messages acked in the last 24 h${cursor === "0" ? "" : " (scan bounded: a sample)"}, those without an interaction`,
      sample: orphaned.slice(0, 10),
    },
    {
      name: "protocol_cache_versions",
      ok: stale.length === 0,
      count: stale.length,
      detail: `of the ${protocols.length} most recently changed protocol rows, cached entries older than Postgres`,
      sample: stale.slice(0, 10),
    },
  ];
}
