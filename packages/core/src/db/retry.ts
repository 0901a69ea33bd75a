import { StoreFailure, neverSent } from "../resilience/store-failure.js";

export interface RetryOptions {
  /** Total attempts (seed: 3). */
  attempts: number;
  /** Backoff base: waits base·2^n between attempts (seed: 1 s, so 1 s, 2 s). */
  baseMs: number;
  /** Absolute deadline (epoch ms), e.g. from the Lambda's remaining time; no wait crosses it. */
  deadline?: () => number | undefined;
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

/**
 * A failure to reach Postgres at all (no SQLSTATE): refused connection, DNS, a proxy that cannot
 * reach the server. Errors that carry a SQLSTATE came from Postgres and are never retried here,
 * except the "cannot connect now" class (57P03) and admin shutdowns.
 */
export function isConnectionError(e: unknown): boolean {
  if (e instanceof StoreFailure) return e.kind === "connection";
  const err = e as { code?: unknown; sourceError?: unknown; cause?: unknown; message?: unknown };
  if (typeof err?.code === "string" && /^[0-9A-Z]{5}$/.test(err.code))
    return ["57P01", "57P03", "08000", "08001", "08003", "08006"].includes(err.code);
  const chain = [err, err?.sourceError, err?.cause, (err?.sourceError as { cause?: unknown })?.cause];
  for (const c of chain) {
    const code = (c as { code?: unknown })?.code;
    if (typeof code === "string" && CONNECT_CODES.has(code)) return true;
  }
  const msg = String(err?.message ?? "");
  return /Error connecting to database|fetch failed|ECONNREFUSED|Connection terminated|connect ECONN/i.test(msg);
}

/** Postgres rolled the statement back for a conflict with a concurrent one: running it again is safe. */
export const isRolledBackConflict = (e: unknown) => ["40P01", "40001"].includes(String((e as { code?: unknown })?.code));

/**
 * Retries what is safe to send again: a call that never reached Postgres (connection refused,
 * DNS, a compute not accepting connections yet), with exponential backoff, and a statement Postgres
 * rolled back for a deadlock or serialization failure; all bounded by the deadline. Anything that may have
 * reached the server is not retried here: the client's own retry is made safe by idempotency.
 */
export async function withSafeRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      // A deadlock or serialization failure rolled back: retried at once with jitter (up to 5 times).
      const conflict = isRolledBackConflict(e);
      const wait = conflict ? 5 + Math.random() * 20 * (attempt + 1) : opts.baseMs * 2 ** attempt;
      const deadline = opts.deadline?.();
      const last =
        attempt + 1 >= (conflict ? Math.max(opts.attempts, 5) : opts.attempts) ||
        !(neverSent(e) || conflict) ||
        (deadline !== undefined && Date.now() + wait >= deadline);
      if (last) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
