import { createRoute, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import { ValidationError, type Scope } from "@hitl/core";
import type { AppEnv } from "./env.js";
import { requireScopes } from "./middleware.js";

/** The API's Hono app: zod-validated routes that also feed /openapi.json. */
export function createOpenApiApp() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const details = flatten(result.error.issues as Issue[]).map((i) => ({ in: result.target, path: i.path.join("."), message: i.message, code: i.code }));
        throw new ValidationError(`invalid ${result.target}`, details);
      }
    },
  });
}

interface Issue { code: string; path: PropertyKey[]; message: string; errors?: Issue[][] }

/** For a union (one message or a batch), report the branch that came closest instead of "invalid input". */
function flatten(issues: Issue[], prefix: PropertyKey[] = []): Issue[] {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    if (i.code !== "invalid_union" || !i.errors?.length) return [{ ...i, path }];
    const closest = [...i.errors].sort((a, b) => a.length - b.length)[0]!;
    return flatten(closest, path);
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
