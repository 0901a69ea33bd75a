import { extendZodWithOpenApi } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";

/**
 * zod-to-openapi's `.openapi()`, installed before any schema of the API is made: import this module
 * first wherever the document is generated (the API itself needs only functions/api/http/zod.ts).
 */
extendZodWithOpenApi(z);
