import { KeyDirectory } from "./auth/directory.js";
import { AuditWriter } from "./auth/audit.js";
import { RedisGateway, type RedisStore } from "./cache/redis.js";
import type { Config } from "./config/schema.js";
import { NeonDb, type Db } from "./db/db.js";
import { rideAlongScope } from "./db/ride-along.js";
import { UserHasher } from "./gdpr/hash.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics, type Metrics } from "./metrics/registry.js";
import { FetchBlobStore } from "./storage/fetch-blob.js";
import type { ApiBlobStore } from "./storage/blob.js";
import type { StoreProbes } from "./health/check.js";
import { ReviewLifecycle } from "./reviews/lifecycle.js";
import { WalQueue } from "./wal/queue.js";
import { MemoryManager } from "./memory/manager.js";
import { RateLimiter } from "./cache/ratelimit.js";
import { lambdaExportStarter, type ExportStarter } from "./exports/api.js";

/**
 * Everything a handler needs, built once per instance (cold start) from the configuration. The
 * stores are typed by their ports (`Db`, `RedisStore`, `BlobStore`: db/db.ts, cache/redis.ts,
 * storage/blob.ts), each with its adapter beside it (NeonDb, RedisGateway, FetchBlobStore), so a
 * core function or a middleware names only the port it uses and a unit test hands in a fake.
 */
export interface Services {
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The key check: bootstrap keys (the ApiKeys secret) and the keys stored in Postgres. */
  keys: KeyDirectory;
  /** The audit of mutating requests (one INSERT per request, shared by concurrent ones). */
  audit: AuditWriter;
  db: Db;
  redis: RedisStore;
  storage: ApiBlobStore;
  /** The stores' breaker states and the bucket's HEAD, for the health report. */
  probes: StoreProbes;
  wal: WalQueue;
  reviews: ReviewLifecycle;
  memory: MemoryManager;
  /** Keyed hashes of user ids (erasure log, archive index). */
  hasher: UserHasher;
  /** Per-key limits: the deployment's (RATE_LIMIT_REQUESTS), or a stored key's own. */
  rateLimit?: RateLimiter;
  /** Starts export jobs: the export function in Lambda (EXPORT_FUNCTION_NAME); set by `npm start` to run them in-process. */
  exportStarter?: ExportStarter;
}

/**
 * The adapters behind the ports, as the composition root built them: what only it, the jobs and
 * the tests that count round trips or inject faults may reach (the raw client, the breakers).
 */
export interface ServiceAdapters extends Services {
  db: NeonDb;
  redis: RedisGateway;
  storage: FetchBlobStore;
}

export interface ServiceOverrides {
  log?: Logger;
  metrics?: Metrics;
  /** The current request's absolute deadline (Lambda: now + remaining time - margin). */
  deadline?: () => number | undefined;
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): ServiceAdapters {
  const log = overrides.log ?? createLogger(config.logLevel);
  const metrics = overrides.metrics ?? createMetrics();
  const requestDeadline = overrides.deadline;
  const db = new NeonDb({
    url: config.databaseUrl,
    localProxyUrl: config.mode === "local" ? config.localNeonProxyUrl : undefined,
    metrics,
    log,
    timeoutMs: config.postgres.timeoutMs,
    requestDeadline,
    breaker: config.postgres.breaker,
    retry: { attempts: config.postgres.connectAttempts, baseMs: config.postgres.backoffBaseMs },
  });
  const redis = new RedisGateway({ ...config.redis, requestDeadline, breaker: config.breaker, metrics, log });
  // Redis is back: erasures interrupted while it was away are finished (their Postgres part is done).
  // Loaded then: erasure reaches the archives and the protocol schemas, which no cold start needs.
  // Outside the request that noticed the recovery: no audit row rides with the erasures' writes.
  redis.recoveryHooks.push(() =>
    rideAlongScope.exit(
      () =>
        void import("./gdpr/erase.js")
          .then(({ completePendingErasures }) => completePendingErasures({ db, redis }))
          .then((n) => {
            if (n) log.info("pending erasures completed", { count: n });
          })
          .catch((e) => log.warn("pending erasures not completed yet", { err: e as Error })),
    ),
  );
  const storage = new FetchBlobStore({ ...config.s3, requestDeadline });
  return {
    config,
    log,
    metrics,
    db,
    redis,
    keys: new KeyDirectory({ db, bootstrap: config.apiKeys, maxAgeMs: config.apiKeyMaxAgeMs, log }),
    audit: new AuditWriter(db),
    storage,
    probes: { postgresBreaker: () => db.breaker.state, redisBreaker: () => redis.breaker.state, bucket: () => storage.headBucket() },
    wal: new WalQueue(redis, metrics),
    reviews: new ReviewLifecycle(db, metrics),
    memory: new MemoryManager({ db, redis, metrics, log }),
    hasher: new UserHasher(config.erasureHashKey),
    rateLimit: new RateLimiter(redis, config.rateLimit, log),
    exportStarter:
      config.exportFunctionName && config.s3.credentials
        ? lambdaExportStarter({ functionName: config.exportFunctionName, region: config.s3.region, credentials: config.s3.credentials })
        : undefined,
  };
}
