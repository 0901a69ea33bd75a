import type { RedisGateway } from "./redis.js";
import { UnavailableError } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * Read-through cache of a JSON value: Redis first (one round trip), Postgres on a miss (then
 * written back). When Redis is down or its breaker is open, Postgres answers alone: a read that
 * Postgres can serve never becomes a 5xx because of the cache.
 */
export async function readThrough<T>(redis: RedisGateway, key: string, ttlSeconds: number, load: () => Promise<T>, log?: Logger): Promise<T> {
  let redisUp = true;
  try {
    const cached = await redis.run("cache.get", (r) => r.get<string>(key));
    if (cached) {
      try { return JSON.parse(cached) as T; } catch { /* rebuilt below */ }
    }
  } catch (e) {
    if (!(e instanceof UnavailableError)) throw e;
    redisUp = false;
  }
  const value = await load();
  if (redisUp) await writeCache(redis, key, value, ttlSeconds, log);
  return value;
}

/**
 * Refreshes a cached value after Postgres accepted a write (not a delete: the next read is warm).
 * A Redis failure here is logged, not raised: the write already succeeded; the stale value lives
 * at most its TTL.
 */
export async function writeCache(redis: RedisGateway, key: string, value: unknown, ttlSeconds: number, log?: Logger): Promise<void> {
  try {
    await redis.run("cache.set", (r) => r.set(key, JSON.stringify(value), { ex: ttlSeconds }));
  } catch (e) {
    redis.markStale(key);
    log?.warn("cache refresh failed; Postgres has the write", { key, err: e as Error });
  }
}
