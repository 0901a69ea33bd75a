/** The API's middleware, one per file (each configured by options and unit-tested on a bare Hono app). */
export { withServices, SetupFailedError } from "./services.js";
export { requestContext } from "./request-context.js";
export { bodyGuards } from "./body-guards.js";
export { authenticate, authenticateBodies, requireScopes } from "./auth.js";
export { notFound } from "./not-found.js";
