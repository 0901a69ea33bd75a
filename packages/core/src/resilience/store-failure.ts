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

const STORE_NAMES = { redis: "redis", postgres: "postgres", s3: "S3" } as const;

/** The failure of a call its deadline ended (`cause`: what the call or its signal said). */
export const timedOut = (store: StoreFailure["store"], cause?: unknown) =>
  new StoreFailure(store, "timeout", `${STORE_NAMES[store]} did not answer before the deadline`, undefined, { cause });

/** An HTTP status that means the service is unavailable or throttling us (not our request's fault). */
export const isUnavailableStatus = (status: number) => status === 429 || status >= 500;

export const isStoreFailure = (e: unknown): e is StoreFailure => e instanceof StoreFailure;

/** Failures that prove the request never reached the server: refused, no DNS, connect timeout, "cannot connect now". */
const NEVER_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT", "57P03", "08001", "08004"]);

/**
 * True when the request certainly never reached the server, so sending it again cannot apply a
 * write twice. A reset or a cut response is not: the server may have committed before it.
 */
export function neverSent(e: unknown): boolean {
  const seen = new Set<unknown>();
  const queue = [e];
  while (queue.length) {
    const c = queue.shift() as { code?: unknown; cause?: unknown; sourceError?: unknown } | undefined;
    if (!c || typeof c !== "object" || seen.has(c)) continue;
    seen.add(c);
    if (typeof c.code === "string" && NEVER_SENT_CODES.has(c.code)) return true;
    queue.push(c.cause, c.sourceError);
  }
  return false;
}
