import type { RedisStore } from "./redis.js";
import { UnavailableError } from "../errors.js";
import type { Logger } from "../log.js";
import { defineScript, runScript } from "./scripts.js";

/** A value read from Postgres with its row version (0: no row yet, or a value without one, such as an aggregate: any write replaces it). */
export interface Versioned<T> {
  value: T;
  version: number;
}

/**
 * Versioned cache values are `<version>#<payload>` (the payload: JSON, or an envelope), and a write
 * never replaces a newer version. Writers (a PUT, a reader filling a miss with a row it loaded just
 * before a change) may reach Redis in any order; the newest state stays. The version sits outside
 * the payload, so no script reads JSON as text.
 */
export const encodeVersionedRaw = (version: number, payload: string) => `${version}#${payload}`;
export const encodeVersioned = <T extends object>(v: Versioned<T>) => encodeVersionedRaw(v.version, JSON.stringify(v.value));

/** The payload of a cached `<version>#<payload>` value. */
export function versionedPayload(raw: string): string {
  const hash = raw.indexOf("#");
  if (hash < 1 || !/^\d+$/.test(raw.slice(0, hash))) throw new Error("not a versioned cache value");
  return raw.slice(hash + 1);
}

export function decodeVersioned<T>(raw: string): T {
  // Values written before this format were `{"v":12,...}` (5-minute caches): read them as they are.
  if (raw.startsWith("{")) {
    const { v: _v, ...value } = JSON.parse(raw) as Record<string, unknown>;
    return value as T;
  }
  return JSON.parse(versionedPayload(raw)) as T;
}

/**
 * The one compare-and-set every versioned cache uses (status, protocol, memory context).
 * KEYS[1] the cache key, KEYS[2] the owner's `erasing` mark (cache/keys.ts); ARGV: version,
 * payload, ttl seconds. 1 when written; 0 when a newer version is there, or while the key's owner
 * is being erased (no cache write may bring the user's data back meanwhile: a read that loaded the
 * row just before Postgres erased it).
 */
export const SET_IF_NEWER = defineScript(`
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)#'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. ARGV[2], 'EX', ARGV[3])
return 1`);

/** A cache key, with its owner's `erasing` mark when it holds a user's data (cache/keys.ts `userCache`). */
export type CacheKey = string | { key: string; erasing: string };
const keyOf = (k: CacheKey) => (typeof k === "string" ? k : k.key);

/** SET_IF_NEWER's KEYS and ARGV. */
export function setIfNewer(target: CacheKey, version: number, payload: string, ttlSeconds: number): [string[], string[]] {
  return [typeof target === "string" ? [target] : [target.key, target.erasing], [String(version), payload, String(ttlSeconds)]];
}

/** Refreshes after a write Postgres accepted; a Redis failure is logged and the key marked stale. */
export async function writeVersioned<T extends object>(
  redis: RedisStore,
  target: CacheKey,
  v: Versioned<T>,
  ttlSeconds: number,
  log?: Logger,
): Promise<void> {
  try {
    const [keys, args] = setIfNewer(target, v.version, JSON.stringify(v.value), ttlSeconds);
    await redis.run("cache.set", (r) => runScript(r, SET_IF_NEWER, keys, args));
  } catch (e) {
    redis.markStale(keyOf(target));
    log?.warn("cache refresh failed; Postgres has the write", { key: keyOf(target), err: e as Error });
  }
}

/**
 * Read-through: Redis first (one round trip), Postgres on a miss (then written back). When Redis is
 * down or its breaker is open, Postgres answers alone: a read Postgres can serve never becomes a
 * 5xx because of the cache.
 */
export async function readThroughVersioned<T extends object>(
  redis: RedisStore,
  target: CacheKey,
  ttlSeconds: number,
  load: () => Promise<Versioned<T>>,
  log?: Logger,
): Promise<T> {
  let redisUp = true;
  try {
    const cached = await redis.run("cache.get", (r) => r.get<string>(keyOf(target)));
    if (cached) {
      try {
        return decodeVersioned<T>(cached);
      } catch {
        /* rebuilt below */
      }
    }
  } catch (e) {
    if (!(e instanceof UnavailableError)) throw e;
    redisUp = false;
  }
  const loaded = await load();
  if (redisUp) await writeVersioned(redis, target, loaded, ttlSeconds, log);
  return loaded.value;
}
