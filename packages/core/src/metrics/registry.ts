import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { Timeline } from "./timeline.js";

/** Latency buckets (seconds) from sub-millisecond Redis to multi-second cold Postgres. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * One registry for the process. Names follow the seed addendum exactly (pool_size_active, ...);
 * later features add their metrics here so /metrics (and EMF in Lambda) export everything.
 */
export function createMetrics() {
  const registry = new Registry();
  const reg = [registry];
  return {
    registry,
    timeline: new Timeline(),
    httpRequests: new Counter({
      name: "http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      registers: reg,
    }),
    httpDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration",
      labelNames: ["method", "route"],
      buckets: LATENCY_BUCKETS,
      registers: reg,
    }),
    // Postgres (seed: database_metrics)
    poolActive: new Gauge({ name: "pool_size_active", help: "Postgres connections/requests in use by this instance", registers: reg }),
    poolWaiting: new Gauge({
      name: "pool_size_waiting",
      help: "Postgres requests waiting for a connection in this instance",
      registers: reg,
    }),
    queryDuration: new Histogram({
      name: "query_duration_seconds",
      help: "Postgres round-trip duration",
      labelNames: ["kind"],
      buckets: LATENCY_BUCKETS,
      registers: reg,
    }),
    connectionErrors: new Counter({
      name: "connection_errors_total",
      help: "Failed connections or requests to a store",
      labelNames: ["store"],
      registers: reg,
    }),
    // Redis (seed: redis_metrics)
    poolHits: new Counter({
      name: "connection_pool_hits",
      help: "Requests served by a warm instance whose store clients were already initialised",
      registers: reg,
    }),
    poolMisses: new Counter({
      name: "connection_pool_misses",
      help: "Requests that had to initialise store clients (cold start)",
      registers: reg,
    }),
    operationLatency: new Histogram({
      name: "operation_latency_seconds",
      help: "Redis operation latency (one REST round trip)",
      labelNames: ["op"],
      buckets: LATENCY_BUCKETS,
      registers: reg,
    }),
    memoryUsage: new Gauge({ name: "memory_usage_bytes", help: "Redis used memory as last reported by INFO", registers: reg }),
    breakerState: new Gauge({ name: "redis_breaker_state", help: "Redis circuit breaker: 0 closed, 1 half-open, 2 open", registers: reg }),
    breakerTransitions: new Counter({
      name: "redis_breaker_transitions_total",
      help: "Redis circuit breaker state changes",
      labelNames: ["to"],
      registers: reg,
    }),
    pgBreakerState: new Gauge({
      name: "postgres_breaker_state",
      help: "Postgres circuit breaker: 0 closed, 1 half-open, 2 open",
      registers: reg,
    }),
    pgBreakerTransitions: new Counter({
      name: "postgres_breaker_transitions_total",
      help: "Postgres circuit breaker state changes",
      labelNames: ["to"],
      registers: reg,
    }),
    storeTimeouts: new Counter({
      name: "store_timeouts_total",
      help: "Store calls cut off by their deadline",
      labelNames: ["store"],
      registers: reg,
    }),
    // WAL, reviews (project metrics)
    walDepth: new Gauge({ name: "wal_depth", help: "WAL queue depth as last observed", labelNames: ["queue"], registers: reg }),
    walIngested: new Counter({
      name: "wal_ingested_total",
      help: "Messages received by POST /v1/messages",
      labelNames: ["status"],
      registers: reg,
    }),
    walClaims: new Counter({ name: "wal_claims_total", help: "Messages handed out by claims (re-deliveries included)", registers: reg }),
    walAcks: new Counter({ name: "wal_acks_total", help: "Acks applied", registers: reg }),
    walStaleAcks: new Counter({ name: "wal_stale_acks_total", help: "Acks refused for a stale lease token", registers: reg }),
    walDeadLetters: new Counter({ name: "wal_dead_letters_total", help: "Messages moved to the dead-letter list", registers: reg }),
    reviewTransitions: new Counter({
      name: "review_transitions_total",
      help: "Review state transitions",
      labelNames: ["to"],
      registers: reg,
    }),
    // Memory manager (seed: memory_metrics)
    contextSize: new Histogram({
      name: "context_size_bytes",
      help: "Logical size of a user's context on write",
      buckets: [256, 1024, 4096, 16384, 65536, 102400, 262144, 1048576],
      registers: reg,
    }),
    compressionEvents: new Counter({
      name: "compression_events_total",
      help: "Compressions applied, by level (lossless, 1, 2, 3)",
      labelNames: ["level"],
      registers: reg,
    }),
    compressionDuration: new Histogram({
      name: "compression_duration_seconds",
      help: "Time spent compressing, by level",
      labelNames: ["level"],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: reg,
    }),
    compressionFailures: new Counter({
      name: "compression_failures_total",
      help: "Compressions that failed (the value was stored uncompressed)",
      registers: reg,
    }),
    memoryCorruption: new Counter({
      name: "memory_corruption_total",
      help: "Cached memory values that failed their checksum or decode (rebuilt from Postgres)",
      labelNames: ["kind"],
      registers: reg,
    }),
    // Backups (set by the jobs; refreshed from the catalog when /metrics is scraped)
    backupRuns: new Counter({
      name: "backup_runs_total",
      help: "Backup and archive job runs by outcome",
      labelNames: ["kind", "outcome"],
      registers: reg,
    }),
    backupLastSuccess: new Gauge({
      name: "backup_last_success_timestamp_seconds",
      help: "When the newest verified set of a kind finished",
      labelNames: ["kind"],
      registers: reg,
    }),
    backupAge: new Gauge({
      name: "backup_age_seconds",
      help: "Age of the newest verified set of a kind",
      labelNames: ["kind"],
      registers: reg,
    }),
    outboxSent: new Counter({ name: "outbox_sent_total", help: "Approved replies marked sent", registers: reg }),
    // Backlogs (monitoring/backlog.ts): set by the monitor function every minute and on /metrics.
    backlogWal: new Gauge({ name: "backlog_wal_pending", help: "WAL messages waiting to be claimed", registers: reg }),
    backlogReview: new Gauge({
      name: "backlog_review_queue",
      help: "Interactions waiting for review (pending or a lapsed claim)",
      registers: reg,
    }),
    backlogOutbox: new Gauge({ name: "backlog_outbox_unsent", help: "Approved replies not yet sent", registers: reg }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
