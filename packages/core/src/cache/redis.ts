import { Redis } from "@upstash/redis";
import { UnavailableError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { CircuitBreaker, type BreakerState } from "./breaker.js";

const BREAKER_GAUGE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export interface RedisGatewayOptions {
  url: string;
  token: string;
  prefix: string;
  retries: number;
  breaker: { failureThreshold: number; cooldownMs: number };
  metrics?: Metrics;
  log?: Logger;
}

/** A reply error (WRONGTYPE, script error) means Redis answered: it must not trip the breaker. */
const isReplyError = (e: unknown) => (e as Error)?.name === "UpstashError";

/**
 * Redis through `@upstash/redis` (REST), behind the circuit breaker. Auto-pipelining is off so each
 * call is exactly one round trip and batching is explicit (`pipeline()`, Lua). `client` is public
 * for tests that count round trips over the real client.
 */
export class RedisGateway {
  readonly client: Redis;
  readonly breaker: CircuitBreaker;
  /** Cache keys whose refresh failed while Redis was unreachable: dropped once it is back. */
  private readonly stale = new Set<string>();
  private static readonly MAX_STALE_KEYS = 10_000;

  constructor(private readonly opts: RedisGatewayOptions) {
    this.client = new Redis({
      url: opts.url,
      token: opts.token,
      enableAutoPipelining: false,
      enableTelemetry: false,
      // Values are our own text (JSON we parse ourselves, envelopes, user text): never guess types.
      automaticDeserialization: false,
      retry: { retries: opts.retries, backoff: (n) => 25 * 2 ** n },
    });
    this.breaker = new CircuitBreaker("redis", {
      ...opts.breaker,
      onStateChange: (from, to) => {
        opts.log?.warn("circuit breaker state change", { breaker: "redis", from, to });
        opts.metrics?.breakerTransitions.inc({ to });
        opts.metrics?.breakerState.set(BREAKER_GAUGE[to]);
        if (to === "closed") void this.dropStale();
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

  /** A namespaced key: `key("user", id, "status")` -> `hitl:user:{id}:status`. */
  key(...parts: string[]): string {
    return this.opts.prefix + parts.join(":");
  }

  /** Runs one Redis round trip through the breaker; a transport failure becomes UnavailableError. */
  async run<T>(op: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    const end = this.opts.metrics?.operationLatency.startTimer({ op });
    let replyError: unknown;
    try {
      return await this.breaker.run(async () => {
        try {
          return await fn(this.client);
        } catch (e) {
          if (!isReplyError(e)) throw e;
          replyError = e;
          return undefined as T;
        }
      }).then((v) => {
        if (replyError) throw replyError;
        // Redis answers again after a failed refresh that did not open the breaker.
        if (this.stale.size) void this.dropStale();
        return v;
      });
    } catch (e) {
      if (e instanceof UnavailableError || e === replyError) throw e;
      this.opts.metrics?.connectionErrors.inc({ store: "redis" });
      throw new UnavailableError("redis", this.breaker.retryAfterSeconds(), { cause: e });
    } finally {
      end?.();
    }
  }
}
