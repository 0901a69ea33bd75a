import type { RedisGateway } from "./redis.js";
import { UnavailableError } from "../errors.js";
import type { Logger } from "../log.js";
import { defineScript } from "./scripts.js";
import { runScript } from "./scripts.js";

/** A value read from Postgres with its row version (0: no row yet, or a value without one, such as an aggregate: any write replaces it). */
export interface Versioned<T> { value: T; version: number }

/**
 * Versioned cache values: the value's JSON with its version first, `{"v":12,...}`, and a write that
 * never replaces a newer version. Writers (a PUT, a reader filling a miss with a row it loaded
 * just before a change) may reach Redis in any order; the newest state stays.
 */
export const encodeVersioned = <T extends object>(v: Versioned<T>) => JSON.stringify({ v: v.version, ...v.value });

export function decodeVersioned<T>(raw: string): T {
  const { v: _v, ...value } = JSON.parse(raw) as Record<string, unknown>;
  return value as T;
}

/**
 * Lua, first line of every script that caches a user's data under KEYS[1]: an erasure sets
 * `<...>:erasing` beside the user's keys, and no cache write may bring the data back meanwhile.
 */
export const ERASING_GUARD = "if redis.call('EXISTS', (string.gsub(KEYS[1], ':[^:]*$', ':erasing'))) == 1 then return 0 end";

/**
 * KEYS[1]; ARGV: version, encoded value, ttl seconds. 1 when written, 0 when a newer one is there,
 * or when the key's owner is being erased: an erasure sets `<...>:erasing` beside a user's keys,
 * and no cache write may bring the user's data back meanwhile (a read that loaded the row just
 * before Postgres erased it).
 */
export const SET_IF_NEWER = defineScript(`${ERASING_GUARD}
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^{"v":(%d+)'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1`);

export const setIfNewerArgs = <T extends object>(v: Versioned<T>, ttlSeconds: number) => [String(v.version), encodeVersioned(v), String(ttlSeconds)];

/** Refreshes after a write Postgres accepted; a Redis failure is logged and the key marked stale. */
export async function writeVersioned<T extends object>(redis: RedisGateway, key: string, v: Versioned<T>, ttlSeconds: number, log?: Logger): Promise<void> {
  try {
    await redis.run("cache.set", (r) => runScript(r, SET_IF_NEWER, [key], setIfNewerArgs(v, ttlSeconds)));
  } catch (e) {
    redis.markStale(key);
    log?.warn("cache refresh failed; Postgres has the write", { key, err: e as Error });
  }
}

/**
 * Read-through: Redis first (one round trip), Postgres on a miss (then written back). When Redis is
 * down or its breaker is open, Postgres answers alone: a read Postgres can serve never becomes a
 * 5xx because of the cache.
 */
export async function readThroughVersioned<T extends object>(redis: RedisGateway, key: string, ttlSeconds: number, load: () => Promise<Versioned<T>>, log?: Logger): Promise<T> {
  let redisUp = true;
  try {
    const cached = await redis.run("cache.get", (r) => r.get<string>(key));
    if (cached) {
      try { return decodeVersioned<T>(cached); } catch { /* rebuilt below */ }
    }
  } catch (e) {
    if (!(e instanceof UnavailableError)) throw e;
    redisUp = false;
  }
  const loaded = await load();
  if (redisUp) await writeVersioned(redis, key, loaded, ttlSeconds, log);
  return loaded.value;
}
