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
  constructor(message: string, details?: unknown) { super("invalid_request", 400, message, details); }
}
export class UnauthorizedError extends AppError {
  constructor(message = "missing or unknown API key") { super("unauthorized", 401, message); }
}
export class ForbiddenError extends AppError {
  constructor(message = "this key lacks the scope for this route") { super("forbidden", 403, message); }
}
export class NotFoundError extends AppError {
  constructor(message = "not found") { super("not_found", 404, message); }
}
export class ConflictError extends AppError {
  constructor(message: string, details?: unknown) { super("conflict", 409, message, details); }
}
export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) { super("payload_too_large", 413, `body exceeds ${limitBytes} bytes`); }
}
export class UnsupportedMediaTypeError extends AppError {
  constructor() { super("unsupported_media_type", 415, "body must be application/json"); }
}
export class RateLimitedError extends AppError {
  constructor(readonly retryAfterSeconds: number) { super("rate_limited", 429, "rate limit exceeded"); }
}
/** A required store is down; nothing was half-written. */
export class UnavailableError extends AppError {
  constructor(readonly store: string, readonly retryAfterSeconds: number, options?: { cause?: unknown }) {
    super("unavailable", 503, `${store} is unavailable`, undefined, options);
  }
}
/** Bad or missing configuration: one line naming the setting. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
