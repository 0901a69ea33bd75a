import type { Config } from "../config/schema.js";
import { createServices, type Services } from "../services.js";
import { S3BlobStore } from "../storage/s3-blob.js";
import { PoolDb } from "../db/pool-db.js";
import { archiveOldPartitions } from "./archive.js";
import { completePendingErasures } from "../gdpr/erase.js";
import { backupPostgres } from "./pg-backup.js";
import { backupRedis } from "./redis-backup.js";
import { pruneBackups } from "./retention.js";

export const JOBS = ["backup-postgres", "backup-redis", "archive"] as const;
export type JobName = (typeof JOBS)[number];

/** Leave this much of the Lambda's time for the checkpoint write and the response. */
export const SAFETY_MARGIN_MS = 60_000;

export interface JobContext {
  services: Services;
  /** Bulk page reads over the WebSocket pool (see PoolDb). */
  reader: PoolDb;
  store: S3BlobStore;
  /** Epoch ms by which the job must have stopped (Lambda: now + remaining time). */
  deadline?: number;
  /** Time kept back before the deadline (default SAFETY_MARGIN_MS). */
  marginMs?: number;
  /** Object and page sizes of the Postgres backup (tests use small ones). */
  backup?: { objectRows?: number; pageBytes?: number };
  progress?: (line: string) => void;
}

export function jobContext(config: Config, opts: Pick<JobContext, "deadline" | "marginMs" | "backup" | "progress"> = {}): JobContext {
  const services = createServices(config);
  return { services, reader: new PoolDb(config.databaseUrl, { connectTimeoutMs: config.postgres.connectTimeoutMs, statementTimeoutMs: config.postgres.bulkStatementTimeoutMs }), store: new S3BlobStore(config.s3), ...opts };
}

const KIND: Record<JobName, string> = { "backup-postgres": "postgres", "backup-redis": "redis", archive: "archive" };

/** Runs one scheduled job (idempotent: a retried or overlapping invocation is safe) and records its outcome. */
export async function runJob(name: JobName, ctx: JobContext): Promise<Record<string, unknown>> {
  const m = ctx.services.metrics;
  try {
    const r = await runJobOnce(name, ctx);
    const ok = r.status !== "incomplete" && r.verified !== false;
    m.backupRuns.inc({ kind: KIND[name], outcome: r.status === "incomplete" ? "incomplete" : ok ? "success" : "unverified" });
    if (ok) { m.backupLastSuccess.set({ kind: KIND[name] }, Date.now() / 1000); m.backupAge.set({ kind: KIND[name] }, 0); }
    return r;
  } catch (e) {
    m.backupRuns.inc({ kind: KIND[name], outcome: "failure" });
    throw e;
  }
}

async function runJobOnce(name: JobName, ctx: JobContext): Promise<Record<string, unknown>> {
  const { services: s, store, progress } = ctx;
  const deps = { db: s.db, reader: ctx.reader, hasher: s.hasher, store, log: s.log, progress };
  switch (name) {
    case "backup-postgres": {
      const margin = ctx.marginMs ?? SAFETY_MARGIN_MS;
      const out = await backupPostgres(deps, { ...ctx.backup, shouldStop: () => ctx.deadline !== undefined && Date.now() > ctx.deadline - margin });
      const pruned = out.status === "complete" ? await pruneBackups({ store, db: s.db, log: s.log }, "postgres") : undefined;
      return out.status === "complete"
        ? { status: out.status, id: out.manifest.id, verified: out.verified, rows: out.manifest.totals.rows, bytes: out.manifest.totals.bytes, pruned: pruned?.remove.length }
        : out;
    }
    case "backup-redis": {
      const out = await backupRedis({ redis: s.redis.client, prefix: s.config.redis.prefix, store, db: s.db, progress });
      const pruned = await pruneBackups({ store, db: s.db, log: s.log }, "redis");
      return { status: "complete", id: out.manifest.id, verified: out.verified, keys: out.manifest.totals.rows, pruned: pruned.remove.length };
    }
    case "archive": {
      // The daily job also finishes any erasure whose Redis part was interrupted.
      const erasures = await completePendingErasures({ db: s.db, redis: s.redis });
      return { ...(await archiveOldPartitions(deps)), pending_erasures_completed: erasures };
    }
  }
}
