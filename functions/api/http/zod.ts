import { z } from "zod";

/**
 * zod for the API's schemas. Their `.openapi(...)` calls document them: `npm run openapi` installs
 * zod-to-openapi's real method before any schema is made (scripts/openapi-zod.ts) and writes the
 * document, which the API then serves as built (docs/openapi.json). At run time the method only has
 * to hand the schema back, so the Lambda bundle carries no OpenAPI generator.
 */
export function documentOnly<T>(this: T): T {
  return this;
}
const proto = z.ZodType.prototype as { openapi?: unknown };
proto.openapi ??= documentOnly;

export { z };
// The `.openapi()` method's types (zod-to-openapi's augmentation of zod).
export type { ZodOpenAPIMetadata } from "@asteasolutions/zod-to-openapi";
