import { createRoute, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import { ValidationError, type Scope } from "@hitl/core";
import type { AppEnv } from "./env.js";
import { requireScopes } from "./middleware.js";

/** The API's Hono app: zod-validated routes that also feed /openapi.json. */
export function createOpenApiApp() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const details = result.error.issues.map((i) => ({ in: result.target, path: i.path.join("."), message: i.message, code: i.code }));
        throw new ValidationError(`invalid ${result.target}`, details);
      }
    },
  });
}

/** A route that needs a key with one of `scopes` (admin always passes). */
export function securedRoute<R extends Omit<RouteConfig, "middleware" | "security">>(scopes: readonly Scope[], route: R) {
  return createRoute({
    ...route,
    security: [{ bearerAuth: [] }],
    description: `${route.description ?? ""}\n\nScopes: ${scopes.join(", ")} (or admin).`.trim(),
    middleware: [requireScopes(scopes)] as const,
  });
}
