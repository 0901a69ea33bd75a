import { z } from "@hono/zod-openapi";

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({
        description:
          "stable, machine-readable: invalid_request, unauthorized, forbidden, not_found, method_not_allowed, conflict, payload_too_large, unsupported_media_type, rate_limited, unavailable, internal",
      }),
      message: z.string().openapi({ description: "for people; may change" }),
      details: z.any().optional().openapi({ description: "400: the issues, [{ in, path, message, code }]; 403: { required_scopes }" }),
    }),
  })
  .openapi("Error", { description: "The shape of every error answer" });

export const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

/** Errors any request can meet: a body over the size limit (whatever the method). */
export const anyRouteErrors = {
  413: errorResponse("the body is over the size limit (MAX_BODY_BYTES, 1 MB by default)"),
} as const;

/**
 * The error responses of secured routes. securedRoute adds them all: 400 (when the route takes
 * input), 404 (when it has path parameters), 415 (when it takes a body) and the rest always.
 */
export const securedErrors = {
  400: errorResponse("invalid request (details list the issues with paths)"),
  401: errorResponse("missing or unknown API key"),
  403: errorResponse("the key lacks the scope"),
  ...anyRouteErrors,
  429: errorResponse("over the per-key rate limit (RATE_LIMIT_REQUESTS; Retry-After set)"),
  503: errorResponse("a required store is down (Retry-After set); nothing was half-written"),
} as const;
export const notFoundError = { 404: errorResponse("no such item") } as const;
export const unsupportedMediaError = { 415: errorResponse("the body is not JSON (Content-Type)") } as const;

export const jsonContent = <T extends z.ZodType>(schema: T, description = "OK") => ({
  description,
  content: { "application/json": { schema } },
});

/** A JSON request body; `required: false` lets an empty body take the schema's defaults. */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { "application/json": { schema } },
});
