import { Redis, type Requester } from "@upstash/redis";
import { UnavailableError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { CircuitBreaker } from "../resilience/breaker.js";
import { storeBreaker } from "../resilience/store-breaker.js";
import { isStoreFailure } from "../resilience/store-failure.js";
import { UpstashTransport } from "./upstash-transport.js";
import { redisKeys, type RedisKeys } from "./keys.js";

export interface RedisGatewayOptions {
  url: string;
  token: string;
  prefix: string;
  retries: number;
  /** Deadline of each REST call, retries included (0 = none). */
  timeoutMs: number;
  /** The current request's absolute deadline (Lambda: remaining time minus a margin). */
  requestDeadline?: () => number | undefined;
  breaker: { failureThreshold: number; cooldownMs: number };
  metrics?: Metrics;
  log?: Logger;
}

/**
 * The narrow Redis port every core function and handler is typed by: one round trip through the
 * breaker (`run`), the key layout (cache/keys.ts) and the stale-cache marks. `RedisGateway` is its
 * adapter; a unit test can hand in any object of this shape.
 */
export interface RedisStore {
  /** The key layout (cache/keys.ts): every key is built there. */
  readonly keys: RedisKeys;
  /** A namespaced key from segments, each encoded: `key("user", id, "status")`. */
  key(...parts: string[]): string;
  /** One Redis round trip through the breaker; a store failure becomes UnavailableError. */
  run<T>(op: string, fn: (r: Redis) => Promise<T>): Promise<T>;
  /** A cache value that may be stale after a failed refresh: dropped once Redis answers again. */
  markStale(key: string): void;
}

/**
 * The Redis adapter: Redis through `@upstash/redis` (REST) over `UpstashTransport` (deadlines, failures classified by
 * status), behind the circuit breaker. Auto-pipelining is off so each call is exactly one round
 * trip and batching is explicit (`pipeline()`, Lua). `client` is public for tests that count round
 * trips over the real client.
 */
export class RedisGateway implements RedisStore {
  readonly client: Redis;
  /** The key layout (cache/keys.ts): every key is built there. */
  readonly keys: RedisKeys;
  readonly breaker: CircuitBreaker;
  /** Run when the breaker closes again (e.g. finishing interrupted erasures). */
  readonly recoveryHooks: (() => void)[] = [];
  /** Cache keys whose refresh failed while Redis was unreachable: dropped once it is back. */
  private readonly stale = new Set<string>();
  private static readonly MAX_STALE_KEYS = 10_000;

  constructor(private readonly opts: RedisGatewayOptions) {
    this.keys = redisKeys(opts.prefix);
    this.client = new Redis({
      url: opts.url,
      token: opts.token,
      enableAutoPipelining: false,
      enableTelemetry: false,
      // Values are our own text (JSON we parse ourselves, envelopes, user text): never guess types.
      automaticDeserialization: false,
    });
    // The client's requester (its one protected field for it) becomes ours; commands, options and
    // serialization stay the library's.
    (this.client as unknown as { client: Requester }).client = new UpstashTransport(opts);
    this.breaker = storeBreaker("redis", opts.breaker, {
      ...opts,
      onClosed: () => {
        void this.dropStale();
        for (const hook of this.recoveryHooks) hook();
      },
    });
  }

  /**
   * A cache value that could not be refreshed after a Postgres write may now be stale; it is
   * deleted as soon as Redis answers again (the next read rebuilds it from Postgres). Per instance
   * and best effort: the TTL bounds what this misses.
   */
  markStale(key: string): void {
    if (this.stale.size < RedisGateway.MAX_STALE_KEYS) this.stale.add(key);
  }

  private async dropStale(): Promise<void> {
    if (this.stale.size === 0) return;
    const keys = [...this.stale];
    this.stale.clear();
    try {
      await this.client.del(...keys);
      this.opts.log?.info("dropped cache keys refreshed while Redis was down", { keys: keys.length });
    } catch {
      for (const k of keys) this.markStale(k);
    }
  }

  /** A namespaced key from segments, each encoded (cache/keys.ts): `key("user", id, "status")`. */
  key(...parts: string[]): string {
    return this.keys.key(...parts);
  }

  /**
   * Runs one Redis round trip through the breaker. A store failure (deadline, transport, 429, 5xx)
   * counts against the breaker and becomes UnavailableError; a reply error is rethrown as it is.
   */
  async run<T>(op: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    const end = this.opts.metrics?.operationLatency.startTimer({ op });
    try {
      const v = await this.breaker.run(() => fn(this.client), isStoreFailure);
      // Redis answers again after a failed refresh that did not open the breaker.
      if (this.stale.size) void this.dropStale();
      return v;
    } catch (e) {
      if (!isStoreFailure(e)) throw e;
      this.opts.metrics?.connectionErrors.inc({ store: "redis" });
      if (e.kind === "timeout") this.opts.metrics?.storeTimeouts.inc({ store: "redis" });
      this.opts.log?.warn("redis call failed", { op, kind: e.kind, status: e.status });
      throw new UnavailableError("redis", this.breaker.retryAfterSeconds(), { cause: e });
    } finally {
      end?.();
    }
  }
}
