/**
 * Named errors with a stable code. The HTTP layer maps them to API.md's error shape in one place;
 * core never knows about HTTP, but each error carries the status its code implies.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super("invalid_request", 400, message, details);
  }
}
export class NotFoundError extends AppError {
  constructor(message = "not found") {
    super("not_found", 404, message);
  }
}
export class ConflictError extends AppError {
  constructor(message: string, details?: unknown) {
    super("conflict", 409, message, details);
  }
}
export class RateLimitedError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super("rate_limited", 429, "rate limit exceeded");
  }
}
/** A required store is down; nothing was half-written. */
export class UnavailableError extends AppError {
  constructor(
    readonly store: string,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super("unavailable", 503, `${store} is unavailable`, undefined, options);
  }
}
/** Bad or missing configuration: one line naming the setting. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
