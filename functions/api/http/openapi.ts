import { createRoute, OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import { ValidationError, type Scope } from "@hitl/core";
import type { AppEnv } from "./env.js";
import { anyRouteErrors, notFoundError, securedErrors, unsupportedMediaError } from "./schemas.js";
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

type Documented = { operationId: string; tags: [string] };

/**
 * A route that needs a key with one of `scopes` (admin always passes). Every status it can answer
 * is declared: the route's own, then the shared errors (400 when it validates input, 404 when it
 * has path parameters, 415 when it takes a body, and 401, 403, 413, 429, 503).
 */
export function securedRoute<R extends Omit<RouteConfig, "middleware" | "security"> & Documented>(scopes: readonly Scope[], route: R) {
  const { 400: invalid, ...always } = securedErrors;
  const req = route.request ?? {};
  const errors = {
    ...(req.body || req.query || req.params || req.headers ? { 400: invalid } : {}),
    ...(req.params ? notFoundError : {}),
    ...(req.body ? unsupportedMediaError : {}),
    ...always,
  };
  return createRoute({
    ...route,
    responses: { ...errors, ...route.responses } as R["responses"] & typeof securedErrors,
    security: [{ bearerAuth: [] }],
    description: `${route.description ?? ""}\n\nScopes: ${scopes.join(", ")} (or admin).`.trim(),
    middleware: [requireScopes(scopes)] as const,
  });
}

/** A route open to anyone (no key): declared as such (`security: []`), with the errors any request can meet. */
export function openRoute<R extends Omit<RouteConfig, "security"> & Documented>(route: R) {
  return createRoute({ ...route, responses: { ...anyRouteErrors, ...route.responses }, security: [] });
}
