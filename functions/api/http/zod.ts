import { z as zod } from "zod";

/**
 * zod for the API's schemas. Their `.openapi(...)` calls document them: `npm run openapi` installs
 * zod-to-openapi's real method before any schema is made (scripts/openapi-zod.ts) and writes the
 * document, which the API then serves as built (docs/openapi.json). At run time the method only has
 * to hand the schema back, so the Lambda bundle carries no OpenAPI generator.
 */
export function documentOnly<T>(this: T): T {
  return this;
}
/**
 * zod, its `.openapi()` installed. Exported as a value this module computes (not a re-export of
 * zod's binding), so that every schema module depends on this one having run: a bundler resolves a
 * plain re-export straight to zod, and with code splitting a chunk could then build its schemas
 * before the method exists.
 */
export const z: typeof zod = withDocumentOnly(zod);

/** zod's types, under the same name as the value (`z.infer<typeof X>`, `z.ZodType`). */
export declare namespace z {
  type infer<T> = zod.infer<T>;
  type ZodType<O = unknown, I = unknown> = zod.ZodType<O, I>;
  type ZodObject = zod.ZodObject;
}

function withDocumentOnly(m: typeof zod): typeof zod {
  const proto = m.ZodType.prototype as { openapi?: unknown };
  proto.openapi ??= documentOnly;
  return m;
}
// The `.openapi()` method's types (zod-to-openapi's augmentation of zod).
export type { ZodOpenAPIMetadata } from "@asteasolutions/zod-to-openapi";
