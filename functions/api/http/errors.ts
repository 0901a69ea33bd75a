import { AppError, UnavailableError, RateLimitedError, isRolledBackConflict, type Scope } from "@hitl/core/runtime";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./env.js";
import { SetupFailedError } from "./services.js";

/* The errors only HTTP has (core's errors are in packages/core/src/errors.ts). */
export class UnauthorizedError extends AppError {
  constructor(message = "missing or unknown API key") {
    super("unauthorized", 401, message);
  }
}
/** The key is valid but has none of the route's scopes: the message and details name them. */
export class ForbiddenError extends AppError {
  constructor(required: readonly Scope[]) {
    const scopes = [...new Set([...required, "admin"])];
    super("forbidden", 403, `this key lacks the scope for this route: it needs ${scopes.join(" or ")}`, { required_scopes: scopes });
  }
}
export class MethodNotAllowedError extends AppError {
  constructor(readonly allow: readonly string[]) {
    super("method_not_allowed", 405, `method not allowed here; allowed: ${allow.join(", ")}`);
  }
}
export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super("payload_too_large", 413, `body exceeds ${limitBytes} bytes`);
  }
}
export class UnsupportedMediaTypeError extends AppError {
  constructor() {
    super("unsupported_media_type", 415, "body must be application/json");
  }
}

/** Hono's own 4xx codes (the validator's malformed JSON, the media-type gate) in the API's codes. */
const HTTP_CODES: Record<number, string> = {
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** The single place where errors become API.md's error shape. Never a stack, SQL text or secret. */
export function toErrorResponse(err: unknown, c: Context<AppEnv>): Response {
  if (err instanceof AppError) {
    const headers: Record<string, string> = {};
    if (err instanceof UnavailableError || err instanceof RateLimitedError) headers["Retry-After"] = String(err.retryAfterSeconds);
    // The rest of an oversized body is not read: the connection cannot carry another request.
    if (err instanceof PayloadTooLargeError) headers.Connection = "close";
    if (err instanceof MethodNotAllowedError) headers.Allow = err.allow.join(", ");
    const body: ErrorBody = {
      error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) },
    };
    return c.json(body, err.status as 400, headers);
  }
  if (isRolledBackConflict(err)) {
    // A deadlock or serialization failure that outlasted its retries: nothing was written; retry.
    return c.json({ error: { code: "unavailable", message: "a concurrent change conflicted; retry" } } satisfies ErrorBody, 503, {
      "Retry-After": "1",
    });
  }
  if (isDataException(err)) {
    // SQLSTATE class 22 (data exception): a value Postgres cannot store, e.g. a NUL character in
    // text. The statement failed whole, so nothing was written; it is the caller's input.
    return c.json(
      {
        error: { code: "invalid_request", message: "a value in the request cannot be stored (for example a NUL character)" },
      } satisfies ErrorBody,
      400,
    );
  }
  if (err instanceof HTTPException && err.status < 500) {
    // Hono's own 4xx (e.g. malformed JSON from the validator).
    const code = HTTP_CODES[err.status] ?? "invalid_request";
    return c.json({ error: { code, message: err.message || "bad request" } } satisfies ErrorBody, err.status);
  }
  // Set-up failures were logged where they happened; everything else is logged here, with the
  // Error itself so that its stack reaches the logs (and SST Console's Issues), never the response.
  if (!(err instanceof SetupFailedError))
    c.get("log")?.error("unhandled error", { err: err instanceof Error ? err : new Error(String(err)) });
  return c.json({ error: { code: "internal", message: "internal error" } } satisfies ErrorBody, 500);
}

function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code);
}
