import { z } from "@hono/zod-openapi";
import { ValidationError, requestFingerprint, scopedKey, type IdempotencyScope } from "@hitl/core/runtime";
import type { Context } from "hono";
import type { AppEnv } from "./env.js";
import { errorResponse } from "./schemas.js";

const KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's `Idempotency-Key` (a client-chosen id, e.g. a UUID, sent again on a retry) as a
 * scope, or undefined. Routes whose effect would otherwise apply twice (an LTV increment, a count,
 * a history turn, an interaction without message_id, a recovery operation, a protocol audit row,
 * a claim) remember it with the write itself, so a retried request is answered as the first one
 * was. The key is scoped to (the caller's key id, `operation`, the header): another caller's key,
 * or the same key on another operation, is another key (`scopedKey`, the one builder). `input`
 * (by default the validated path parameters and body, merged) is the request's fingerprint: the
 * same key with a different request answers 422.
 */
export function idempotencyScope(c: Context<AppEnv>, operation: string, input: unknown = validatedInput(c)): IdempotencyScope | undefined {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return undefined;
  if (!KEY.test(key))
    throw new ValidationError("invalid Idempotency-Key", [
      { in: "header", path: "Idempotency-Key", message: "1..128 characters of [A-Za-z0-9._:-]", code: "invalid_format" },
    ]);
  return { key: scopedKey(c.get("principal")!.id, operation, key), fingerprint: requestFingerprint(operation, input) };
}

/** The validated request: its path parameters and its body, merged. */
function validatedInput(c: Context<AppEnv>): Record<string, unknown> {
  const valid = (target: string) => (c.req as unknown as { valid(t: string): Record<string, unknown> | undefined }).valid(target);
  return { ...valid("param"), ...valid("json") };
}

/** The header in the OpenAPI document of every route that honours it (validated like any input). */
export const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(KEY, "1..128 characters of [A-Za-z0-9._:-]")
    .optional()
    .openapi({
      description:
        "A client-chosen id (e.g. a UUID), the same on every retry of one request: a retry is answered as the first request was, and applies nothing twice, " +
        "however many retries run at once. Scoped to the caller's API key and this operation; remembered 24 hours. The same key with a different request " +
        "(path or body) answers 422 `idempotency_key_reused`.",
    }),
});

/** The answer of a key reused with a different request. */
export const idempotencyErrors = {
  422: errorResponse("the Idempotency-Key was already used with a different request (code idempotency_key_reused)"),
} as const;
