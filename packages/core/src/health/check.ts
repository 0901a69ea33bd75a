import type { BreakerState } from "../cache/breaker.js";
import type { RedisGateway } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { FetchBlobStore } from "../storage/fetch-blob.js";

export interface HealthReport {
  status: "ok" | "degraded";
  postgres: { ok: boolean; latency_ms: number };
  redis: { ok: boolean; latency_ms: number; breaker: BreakerState };
  storage: { ok: boolean };
}

const CHECK_TIMEOUT_MS = 3000;

async function timed(fn: () => Promise<unknown>): Promise<{ ok: boolean; latency_ms: number }> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error("timeout")), CHECK_TIMEOUT_MS); });
    await Promise.race([fn(), timeout]);
    return { ok: true, latency_ms: Math.round((performance.now() - start) * 100) / 100 };
  } catch {
    return { ok: false, latency_ms: Math.round(performance.now() - start) };
  } finally {
    clearTimeout(timer);
  }
}

/** Real checks of every store, in parallel: a Postgres query, a Redis PING through the breaker, a bucket HEAD. */
export async function checkHealth(deps: { db: Db; redis: RedisGateway; storage: FetchBlobStore }): Promise<HealthReport> {
  const [postgres, redis, storage] = await Promise.all([
    timed(() => deps.db.query("SELECT 1")),
    timed(() => deps.redis.run("ping", (r) => r.ping())),
    timed(async () => { if (!(await deps.storage.headBucket(CHECK_TIMEOUT_MS))) throw new Error("bucket unavailable"); }),
  ]);
  const ok = postgres.ok && redis.ok && storage.ok;
  return { status: ok ? "ok" : "degraded", postgres, redis: { ...redis, breaker: deps.redis.breaker.state }, storage: { ok: storage.ok } };
}

/** The public liveness answer: the two stores the API cannot work without. */
export async function checkLiveness(deps: { db: Db; redis: RedisGateway }): Promise<boolean> {
  const [pg, redis] = await Promise.all([
    timed(() => deps.db.query("SELECT 1")),
    timed(() => deps.redis.run("ping", (r) => r.ping())),
  ]);
  return pg.ok && redis.ok;
}
