import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { CircuitBreaker, type BreakerState } from "./breaker.js";

const GAUGE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** A store's breaker whose every state change is logged, counted and shown as a gauge. */
export function storeBreaker(
  store: "redis" | "postgres",
  opts: { failureThreshold: number; cooldownMs: number },
  deps: { metrics?: Metrics; log?: Logger; onClosed?: () => void },
): CircuitBreaker {
  const m = deps.metrics;
  const [gauge, transitions] = store === "redis" ? [m?.breakerState, m?.breakerTransitions] : [m?.pgBreakerState, m?.pgBreakerTransitions];
  return new CircuitBreaker(store, {
    ...opts,
    onStateChange: (from, to) => {
      deps.log?.warn("circuit breaker state change", { breaker: store, from, to });
      transitions?.inc({ to });
      gauge?.set(GAUGE[to]);
      if (to === "closed") deps.onClosed?.();
    },
  });
}
