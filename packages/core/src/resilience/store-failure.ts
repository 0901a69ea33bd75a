/** How a store call failed when the store itself is the problem (never a reply or SQL error). */
export type FailureKind = "timeout" | "connection" | "http";

/**
 * A store could not answer: its deadline expired, the connection failed or was reset, or the
 * service answered an HTTP 5xx or 429. These, and only these, count against a circuit breaker;
 * a Redis reply error (WRONGTYPE, a script error) or a SQL error means the store answered.
 */
export class StoreFailure extends Error {
  override name = "StoreFailure";
  constructor(
    readonly store: "redis" | "postgres" | "s3",
    readonly kind: FailureKind,
    message: string,
    /** The HTTP status, for kind "http". */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An HTTP status that means the service is unavailable or throttling us (not our request's fault). */
export const isUnavailableStatus = (status: number) => status === 429 || status >= 500;

export const isStoreFailure = (e: unknown): e is StoreFailure => e instanceof StoreFailure;
