import { Ratelimit } from "@upstash/ratelimit";
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
 * Per-API-key limits (sliding window, @upstash/ratelimit), off unless configured. One Redis round
 * trip per request through the breaker; when Redis is unavailable the limiter fails open and logs it:
 * losing rate limiting for a while is better than refusing all traffic.
 */
export class RateLimiter {
  private readonly limiter: Ratelimit;

  constructor(private readonly redis: RedisGateway, opts: RateLimitOptions, private readonly log?: Logger) {
    this.limiter = new Ratelimit({
      redis: redis.client,
      limiter: Ratelimit.slidingWindow(opts.requests, `${opts.windowSeconds} s`),
      prefix: redis.key("ratelimit"),
      analytics: false,
    });
  }

  async check(keyId: string): Promise<void> {
    let result;
    try {
      result = await this.redis.run("ratelimit", () => this.limiter.limit(keyId));
    } catch (e) {
      this.log?.warn("rate limiter failing open: Redis unavailable", { key_id: keyId, err: e as Error });
      return;
    }
    if (!result.success) throw new RateLimitedError(Math.max(1, Math.ceil((result.reset - Date.now()) / 1000)));
  }
}
