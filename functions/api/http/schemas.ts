import { z } from "@hono/zod-openapi";

export const ErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.any().optional() }),
}).openapi("Error");

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

/** The error responses every secured route can give. */
export const securedErrors = {
  400: errorResponse("invalid request (details list the issues with paths)"),
  401: errorResponse("missing or unknown API key"),
  403: errorResponse("the key lacks the scope"),
  503: errorResponse("a required store is down (Retry-After set); nothing was half-written"),
} as const;

export const jsonContent = <T extends z.ZodType>(schema: T, description = "OK") => ({
  description, content: { "application/json": { schema } },
});

/** A JSON request body; `required: false` lets an empty body take the schema's defaults. */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  required, content: { "application/json": { schema } },
});
