import { UnavailableError } from "../errors.js";

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. @default 3 */
  failureThreshold: number;
  /** Time the circuit stays open before one probe is let through. @default 60000 */
  cooldownMs: number;
  /** Called on every state change (log + metric). */
  onStateChange?: (from: BreakerState, to: BreakerState) => void;
  now?: () => number;
}

/**
 * Circuit breaker (seed: 3 consecutive failures open it, 60 s cooldown, one probe in half-open).
 * State is per instance: in Lambda each instance learns on its own, which bounds the blast radius.
 */
export class CircuitBreaker {
  private stateValue: BreakerState = "closed";
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly now: () => number;

  constructor(
    readonly name: string,
    private readonly opts: BreakerOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  get state(): BreakerState {
    if (this.stateValue === "open" && this.now() - this.openedAt >= this.opts.cooldownMs) this.transition("half_open");
    return this.stateValue;
  }

  /** Seconds until a call may be tried again (for Retry-After). */
  retryAfterSeconds(): number {
    if (this.stateValue !== "open") return 1;
    return Math.max(1, Math.ceil((this.opts.cooldownMs - (this.now() - this.openedAt)) / 1000));
  }

  /**
   * Runs `fn` unless the circuit is open. An error for which `isFailure` is false (a reply or SQL
   * error: the store answered) counts as a success and is rethrown.
   */
  async run<T>(fn: () => Promise<T>, isFailure: (e: unknown) => boolean = () => true): Promise<T> {
    const state = this.state;
    if (state === "open" || (state === "half_open" && this.probing)) {
      throw new UnavailableError(this.name, this.retryAfterSeconds());
    }
    const isProbe = state === "half_open";
    if (isProbe) this.probing = true;
    try {
      const result = await fn();
      this.succeeded();
      return result;
    } catch (e) {
      if (!isFailure(e)) {
        this.succeeded();
        throw e;
      }
      this.failures += 1;
      if (isProbe || this.failures >= this.opts.failureThreshold) {
        this.openedAt = this.now();
        if (this.stateValue !== "open") this.transition("open");
      }
      throw e;
    } finally {
      if (isProbe) this.probing = false;
    }
  }

  private succeeded(): void {
    this.failures = 0;
    if (this.stateValue !== "closed") this.transition("closed");
  }

  private transition(to: BreakerState): void {
    const from = this.stateValue;
    this.stateValue = to;
    this.opts.onStateChange?.(from, to);
  }
}
