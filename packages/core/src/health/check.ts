import type { BreakerState } from "../resilience/breaker.js";
import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";

export interface HealthReport {
  status: "ok" | "degraded";
  postgres: { ok: boolean; latency_ms: number; breaker: BreakerState };
  redis: { ok: boolean; latency_ms: number; breaker: BreakerState };
  storage: { ok: boolean };
}

/** What the health report reads beside the ports: each store's breaker and the bucket's HEAD (built from the adapters). */
export interface StoreProbes {
  postgresBreaker(): BreakerState;
  redisBreaker(): BreakerState;
  /** Whether the bucket answers a HEAD. */
  bucket(): Promise<boolean>;
}

/** One check; every store call has its own deadline, so a hung store answers `ok: false` within it. */
async function timed(fn: () => Promise<unknown>): Promise<{ ok: boolean; latency_ms: number }> {
  const start = performance.now();
  try {
    await fn();
    return { ok: true, latency_ms: Math.round((performance.now() - start) * 100) / 100 };
  } catch {
    return { ok: false, latency_ms: Math.round(performance.now() - start) };
  }
}

/** Real checks of every store, in parallel: a Postgres query, a Redis PING through the breaker, a bucket HEAD. */
export async function checkHealth(deps: { db: Db; redis: RedisStore; probes: StoreProbes }): Promise<HealthReport> {
  const [postgres, redis, storage] = await Promise.all([
    timed(() => deps.db.query("SELECT 1")),
    timed(() => deps.redis.run("ping", (r) => r.ping())),
    timed(async () => {
      if (!(await deps.probes.bucket())) throw new Error("bucket unavailable");
    }),
  ]);
  const ok = postgres.ok && redis.ok && storage.ok;
  return {
    status: ok ? "ok" : "degraded",
    postgres: { ...postgres, breaker: deps.probes.postgresBreaker() },
    redis: { ...redis, breaker: deps.probes.redisBreaker() },
    storage: { ok: storage.ok },
  };
}

/** The public liveness answer: the two stores the API cannot work without. */
export async function checkLiveness(deps: { db: Db; redis: RedisStore }): Promise<boolean> {
  const [pg, redis] = await Promise.all([timed(() => deps.db.query("SELECT 1")), timed(() => deps.redis.run("ping", (r) => r.ping()))]);
  return pg.ok && redis.ok;
}
