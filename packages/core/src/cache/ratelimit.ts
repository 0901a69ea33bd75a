import type { Ratelimit } from "@upstash/ratelimit";
import { RateLimitedError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RedisGateway } from "./redis.js";

export interface RateLimitOptions {
  /** Requests allowed per key per window. */
  requests: number;
  /** Window length in seconds. */
  windowSeconds: number;
}

/**
 * Per-API-key limits (sliding window, @upstash/ratelimit): the deployment's (off unless
 * configured), or a stored key's own, set when it was created. One Redis round trip per limited
 * request through the breaker; when Redis is unavailable the limiter fails open and logs it:
 * losing rate limiting for a while is better than refusing all traffic.
 */
export class RateLimiter {
  /** @upstash/ratelimit is loaded with the first check: an instance without limits never loads it. */
  private readonly limiters = new Map<string, Promise<Ratelimit>>();

  constructor(
    private readonly redis: RedisGateway,
    private readonly opts?: RateLimitOptions,
    private readonly log?: Logger,
  ) {}

  /**
   * One limiter per (requests, window), as few as there are distinct limits. The deployment's
   * counters keep their keys; a key's own limit counts under its window length (limits of one
   * window length share counters: each compares the same count with its own maximum).
   */
  private load(limit: RateLimitOptions, own: boolean): Promise<Ratelimit> {
    const id = `${own ? "own" : "default"}:${limit.requests}:${limit.windowSeconds}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = import("@upstash/ratelimit")
        .then(
          ({ Ratelimit }) =>
            new Ratelimit({
              redis: this.redis.client,
              limiter: Ratelimit.slidingWindow(limit.requests, `${limit.windowSeconds} s`),
              prefix: own ? this.redis.keys.rateLimitWindowPrefix(limit.windowSeconds) : this.redis.keys.rateLimitPrefix,
              analytics: false,
            }),
        )
        .catch((e: unknown) => {
          this.limiters.delete(id);
          throw e;
        });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  /** Checks `keyId` against its key's own limit, else the deployment's; no limit: no round trip. */
  async check(keyId: string, own?: RateLimitOptions): Promise<void> {
    const limit = own ?? this.opts;
    if (!limit) return;
    let result;
    try {
      const limiter = await this.load(limit, own !== undefined);
      result = await this.redis.run("ratelimit", () => limiter.limit(this.redis.keys.rateLimitId(keyId)));
    } catch (e) {
      this.log?.warn("rate limiter failing open: Redis unavailable", { key_id: keyId, err: e as Error });
      return;
    }
    if (!result.success) throw new RateLimitedError(Math.max(1, Math.ceil((result.reset - Date.now()) / 1000)));
  }
}
