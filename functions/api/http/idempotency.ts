import { z } from "./zod.js";
import { ValidationError } from "@hitl/core/runtime";
import type { Context } from "hono";

const KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's `Idempotency-Key` (a client-chosen id, e.g. a UUID, sent again on a retry), or
 * undefined. Routes whose effect would otherwise apply twice (an LTV increment, a count, a
 * history turn, an interaction without message_id, a recovery operation, a protocol audit row)
 * remember it with the write itself, so a retried request is answered as the first one was.
 */
export function requestKey(c: Context): string | undefined {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return undefined;
  if (!KEY.test(key)) throw new ValidationError("invalid Idempotency-Key", [{ in: "header", path: "Idempotency-Key", message: "1..128 characters of [A-Za-z0-9._:-]", code: "invalid_format" }]);
  return key;
}

/** The header in the OpenAPI document of every route that honours it (validated like any input). */
export const IdempotencyHeaders = z.object({
  "idempotency-key": z.string().regex(KEY, "1..128 characters of [A-Za-z0-9._:-]").optional().openapi({
    description: "A client-chosen id (e.g. a UUID), the same on every retry of one request: a retry is answered as the first request was, and applies nothing twice.",
  }),
});
