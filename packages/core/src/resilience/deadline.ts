/**
 * Deadlines of store calls. Each call gets `timeoutMs` (a setting per store), never running past
 * the request's own deadline (in Lambda: the invocation's remaining time minus a margin).
 */
export interface DeadlineOptions {
  /** Per-call budget; 0 disables the deadline (benchmarks compare with and without). */
  timeoutMs: number;
  /** Absolute deadline of the current request (epoch ms), if any. */
  requestDeadline?: () => number | undefined;
}

/** Milliseconds this call may take, or undefined when deadlines are off. Never below 1. */
export function callBudget(opts: DeadlineOptions, now = Date.now()): number | undefined {
  const request = opts.requestDeadline?.();
  if (!opts.timeoutMs && request === undefined) return undefined;
  const own = opts.timeoutMs || Number.POSITIVE_INFINITY;
  const left = request === undefined ? own : Math.min(own, request - now);
  return Math.max(1, Math.floor(left));
}

/** An AbortSignal that fires when this call's budget is spent (undefined when deadlines are off). */
export function callSignal(opts: DeadlineOptions): AbortSignal | undefined {
  const ms = callBudget(opts);
  return ms === undefined ? undefined : AbortSignal.timeout(ms);
}

/** Waits `ms`, or rejects with the signal's reason if it fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
