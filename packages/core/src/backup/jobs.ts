import type { Config } from "../config/schema.js";
import { createServices, type ServiceAdapters } from "../services.js";
import { S3BlobStore } from "../storage/s3-blob.js";
import { bulkReader, type PoolDb } from "../db/pool-db.js";
import { archiveOldPartitions } from "./archive.js";
import { completePendingErasures } from "../gdpr/erase.js";
import { expireOverdueCommitments } from "../coherence/commitments.js";
import { sweepOversizedContexts } from "../memory/admin.js";
import { backupPostgres } from "./pg-backup.js";
import { backupRedis } from "./redis-backup.js";
import { pruneBackups } from "./retention.js";
import { acquireLease, LEASE_HANDOVER_SECONDS, LEASE_RENEW_MS, releaseLease, renewLease } from "./lease.js";
import { scopedStore } from "../storage/scoped.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import type { Db } from "../db/db.js";
import { Gauge, type Registry } from "prom-client";
import { randomUUID } from "node:crypto";
import { requeueDecided } from "../protocol/admin.js";
import { purgeIdempotencyKeys } from "../idempotency/keys.js";
import { pruneAudit } from "../auth/audit.js";

export const JOBS = ["backup-postgres", "backup-redis", "archive"] as const;
export type JobName = (typeof JOBS)[number];

/** Leave this much of the Lambda's time for the checkpoint write and the response. */
export const SAFETY_MARGIN_MS = 60_000;

export interface JobContext {
  /** The adapters themselves: the Redis backup reads the keyspace through the raw client. */
  services: ServiceAdapters;
  /** Bulk page reads over the WebSocket pool (see PoolDb). */
  reader: PoolDb;
  store: StreamingBlobStore;
  /** Epoch ms by which the job must have stopped (Lambda: now + remaining time). */
  deadline?: number;
  /** Time kept back before the deadline (default SAFETY_MARGIN_MS). */
  marginMs?: number;
  /** Object and page sizes of the Postgres backup (tests use small ones). */
  backup?: { objectRows?: number; pageBytes?: number };
  progress?: (line: string) => void;
  /**
   * Who runs the job: the holder of its lease (a continuation passes on its run's). A run whose
   * job's lease is held by another holder does nothing. @default a new random holder
   */
  holder?: string;
  /** True when the run will be continued by another invocation (the lease is then kept for it). */
  continuing?: () => boolean;
}

export function jobContext(
  config: Config,
  opts: Pick<JobContext, "deadline" | "marginMs" | "backup" | "progress" | "holder"> = {},
): JobContext {
  const services = createServices(config);
  return {
    services,
    reader: bulkReader(config),
    store: new S3BlobStore(config.s3),
    ...opts,
  };
}

const KIND: Record<JobName, string> = { "backup-postgres": "postgres", "backup-redis": "redis", archive: "archive" };

/** The only prefix each job writes and deletes under (its IAM grant is the same, infra/permissions.ts). */
export const JOB_PREFIX: Record<JobName, string> = {
  "backup-postgres": "backups/postgres/",
  "backup-redis": "backups/redis/",
  archive: "archives/",
};

/** What a run does when another run holds its job's lease (a duplicate delivery): nothing. */
export interface SkippedRun {
  status: "skipped";
  reason: string;
}

/**
 * Runs one scheduled job and records its outcome. Single-flight: the run first takes its job's
 * lease (job_leases, lease.ts) under `ctx.holder`, renews it while it works, and frees it when it
 * ends, unless it hands over to a continuation (`ctx.continuing`), which renews it under the same
 * holder. A run that finds the lease held by another holder (the scheduler's duplicate delivery,
 * an overlapping manual run) returns `skipped` and touches nothing. Each run writes and deletes
 * only under its own prefix (JOB_PREFIX). Every run, skipped or not, publishes the backup ages.
 */
export async function runJob(name: JobName, ctx: JobContext): Promise<Record<string, unknown>> {
  const m = ctx.services.metrics;
  const holder = ctx.holder ?? randomUUID();
  const db = ctx.services.db;
  try {
    if (!(await acquireLease(db, name, holder))) {
      ctx.services.log.warn("job skipped: another run holds its lease", { job: name });
      m.backupRuns.inc({ kind: KIND[name], outcome: "skipped" });
      return { status: "skipped", reason: "another run holds the job's lease" } satisfies SkippedRun;
    }
    let lost = false;
    const heartbeat = setInterval(() => {
      renewLease(db, name, holder).then(
        (held) => {
          if (!held) lost = true;
        },
        () => {},
      );
    }, LEASE_RENEW_MS);
    heartbeat.unref?.();
    let handedOver = false;
    try {
      const r = await runJobOnce(name, { ...ctx, store: scopedStore(ctx.store, JOB_PREFIX[name]) }, () => lost);
      const ok = r.status !== "incomplete" && r.verified !== false;
      m.backupRuns.inc({ kind: KIND[name], outcome: r.status === "incomplete" ? "incomplete" : ok ? "success" : "unverified" });
      if (ok) {
        m.backupLastSuccess.set({ kind: KIND[name] }, Date.now() / 1000);
        m.backupAge.set({ kind: KIND[name] }, 0);
      }
      handedOver = r.status === "incomplete" && (ctx.continuing?.() ?? false);
      return r;
    } catch (e) {
      m.backupRuns.inc({ kind: KIND[name], outcome: "failure" });
      throw e;
    } finally {
      clearInterval(heartbeat);
      if (handedOver) await renewLease(db, name, holder, LEASE_HANDOVER_SECONDS).catch(() => {});
      else await releaseLease(db, name, holder).catch(() => {});
    }
  } finally {
    await backupAges(db).then(
      (ages) => publishBackupAges(m.registry, ages),
      (e) => ctx.services.log.warn("backup ages unavailable", { err: e instanceof Error ? e : new Error(String(e)) }),
    );
  }
}

/**
 * Seconds since the newest verified set of each kind finished, or, before there is one, since the
 * first migration ran (a fresh install is not overdue). Published by every job run and by every
 * deploy's Migrate: the PostgresBackupMissed and RedisSnapshotMissed alarms watch them.
 */
export async function backupAges(db: Db): Promise<{ postgres: number; redis: number }> {
  const rows = await db.query<{ kind: "postgres" | "redis"; age: number }>(`SELECT k.kind, extract(epoch FROM now() - coalesce(
      (SELECT max(finished_at) FROM backup_sets b WHERE b.kind = k.kind AND b.complete AND b.verified),
      (SELECT min(applied_at) FROM schema_migrations)))::float8 AS age
    FROM unnest(ARRAY['postgres', 'redis']) AS k(kind)`);
  const age = (kind: string) => Math.max(0, Math.round(Number(rows.find((r) => r.kind === kind)?.age ?? 0)));
  return { postgres: age("postgres"), redis: age("redis") };
}

/** The ages as two gauges of `registry` (unlabelled: the EMF publisher sends a gauge's value without dimensions). */
export function publishBackupAges(registry: Registry, ages: { postgres: number; redis: number }): void {
  const gauge = (name: string, help: string) =>
    (registry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, registers: [registry] });
  gauge("postgres_backup_age_seconds", "Seconds since the newest verified Postgres set finished").set(ages.postgres);
  gauge("redis_backup_age_seconds", "Seconds since the newest verified Redis snapshot finished").set(ages.redis);
}

async function runJobOnce(name: JobName, ctx: JobContext, leaseLost: () => boolean): Promise<Record<string, unknown>> {
  const { services: s, store, progress } = ctx;
  const deps = { db: s.db, reader: ctx.reader, hasher: s.hasher, store, log: s.log, progress };
  switch (name) {
    case "backup-postgres": {
      const margin = ctx.marginMs ?? SAFETY_MARGIN_MS;
      // A run whose lease was lost (it froze past the lease; another run took over) stops at its next object.
      const out = await backupPostgres(deps, {
        ...ctx.backup,
        shouldStop: () => leaseLost() || (ctx.deadline !== undefined && Date.now() > ctx.deadline - margin),
      });
      const pruned = out.status === "complete" ? await pruneBackups({ store, db: s.db, log: s.log }, "postgres") : undefined;
      return out.status === "complete"
        ? {
            status: out.status,
            id: out.manifest.id,
            verified: out.verified,
            rows: out.manifest.totals.rows,
            bytes: out.manifest.totals.bytes,
            pruned: pruned?.remove.length,
          }
        : out;
    }
    case "backup-redis": {
      const out = await backupRedis({ redis: s.redis.client, prefix: s.config.redis.prefix, store, db: s.db, progress });
      const pruned = await pruneBackups({ store, db: s.db, log: s.log }, "redis");
      return {
        status: "complete",
        id: out.manifest.id,
        verified: out.verified,
        keys: out.manifest.totals.rows,
        pruned: pruned.remove.length,
      };
    }
    case "archive": {
      // The daily job also finishes any erasure whose Redis part was interrupted, and prunes the
      // audit log to its 90 days.
      const erasures = await completePendingErasures({ db: s.db, redis: s.redis });
      const archived = await archiveOldPartitions(deps);
      // Quarantined messages let through whose queueing failed, expired Idempotency-Keys, the audit
      // log beyond its 90 days, overdue commitments, and oversized contexts (compacted or flagged).
      const requeued = await requeueDecided({ db: s.db, redis: s.redis, wal: s.wal });
      const keys = await purgeIdempotencyKeys(s.db);
      const commitments = await expireOverdueCommitments(s.db);
      const memory = await sweepOversizedContexts({ db: s.db, memory: s.memory, log: s.log });
      return {
        ...archived,
        pending_erasures_completed: erasures,
        quarantine_requeued: requeued,
        idempotency_keys_purged: keys,
        audit_rows_pruned: await pruneAudit(s.db),
        commitments_expired: commitments,
        memory_sweep: memory,
      };
    }
  }
}
