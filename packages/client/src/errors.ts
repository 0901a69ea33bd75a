/** The API answered with an error (API.md's shape): `code` is the API's error code. */
export class HitlApiError extends Error {
  override name = "HitlApiError";
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly requestId?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`${operation}: ${status} ${code}: ${message}`);
  }
}

/** No answer: the request timed out or the connection failed (whether it was applied is unknown). */
export class HitlRequestError extends Error {
  override name = "HitlRequestError";
  constructor(
    readonly operation: string,
    readonly timedOut: boolean,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${timedOut ? "timed out" : "request failed"}`, options);
  }
}
