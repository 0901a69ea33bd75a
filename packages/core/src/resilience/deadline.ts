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

/**
 * A signal that fires (with a TimeoutError) after `ms`, and `clear()` to stop its timer once the
 * call is done. Unlike `AbortSignal.timeout`, no timer outlives the call: a spent one would still
 * fire later, into the listeners every fetch leaves on its signal (measured: about a tenth of the
 * CPU of a one-EVAL request).
 */
export function timeoutSignal(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/**
 * Runs one store call under its deadline (`signal` is undefined when deadlines are off). The
 * deadline holds even if the call misses its signal (a library that sleeps between its own retries,
 * a body read that an abort leaves pending: nodejs/node#56917, Node 22's fetch): at the deadline the
 * call is abandoned and `expired` (default: the signal's TimeoutError) is thrown. `deadlineAt` is
 * the epoch ms the call must end by, so it can decide whether another attempt still fits.
 */
export async function withDeadline<T>(
  opts: DeadlineOptions,
  call: (signal: AbortSignal | undefined, deadlineAt?: number) => Promise<T>,
  expired: (reason: unknown) => unknown = (reason) => reason,
): Promise<T> {
  const now = Date.now();
  const ms = callBudget(opts, now);
  if (ms === undefined) return call(undefined);
  const deadline = timeoutSignal(ms);
  try {
    return await Promise.race([call(deadline.signal, now + ms), expiry(deadline.signal, expired)]);
  } finally {
    deadline.clear();
  }
}

/**
 * Rejects with `expired(signal.reason)` once the signal fires, and never settles otherwise. Raced
 * against a call, it makes the deadline the caller's, not the library's.
 */
export function expiry(signal: AbortSignal, expired: (reason: unknown) => unknown = (reason) => reason): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(expired(signal.reason));
    else signal.addEventListener("abort", () => reject(expired(signal.reason)), { once: true });
  });
}

/** Waits `ms`, or rejects with the signal's reason if it fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
