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
 * Per-API-key limits (sliding window, @upstash/ratelimit), off unless configured. One Redis round
 * trip per request through the breaker; when Redis is unavailable the limiter fails open and logs it:
 * losing rate limiting for a while is better than refusing all traffic.
 */
export class RateLimiter {
  /** @upstash/ratelimit is loaded with the first check: an instance without limits never loads it. */
  private limiter?: Promise<Ratelimit>;

  constructor(private readonly redis: RedisGateway, private readonly opts: RateLimitOptions, private readonly log?: Logger) {}

  private load(): Promise<Ratelimit> {
    return (this.limiter ??= import("@upstash/ratelimit").then(({ Ratelimit }) => new Ratelimit({
      redis: this.redis.client,
      limiter: Ratelimit.slidingWindow(this.opts.requests, `${this.opts.windowSeconds} s`),
      prefix: this.redis.keys.rateLimitPrefix,
      analytics: false,
    })).catch((e: unknown) => {
      this.limiter = undefined;
      throw e;
    }));
  }

  async check(keyId: string): Promise<void> {
    let result;
    try {
      const limiter = await this.load();
      result = await this.redis.run("ratelimit", () => limiter.limit(this.redis.keys.rateLimitId(keyId)));
    } catch (e) {
      this.log?.warn("rate limiter failing open: Redis unavailable", { key_id: keyId, err: e as Error });
      return;
    }
    if (!result.success) throw new RateLimitedError(Math.max(1, Math.ceil((result.reset - Date.now()) / 1000)));
  }
}
