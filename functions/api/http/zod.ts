/**
 * zod for the API's schemas, with `.openapi(...)` installed by @hono/zod-openapi (the library
 * extends zod when it loads). Route files import `z` from here so that the method always exists.
 */
export { z } from "@hono/zod-openapi";
