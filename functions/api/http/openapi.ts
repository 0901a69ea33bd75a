import { OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { Scope } from "@hitl/core/runtime";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.js";
import { requireScopes } from "./auth.js";
import { anyRouteErrors, notFoundError, securedErrors, unsupportedMediaError } from "./schemas.js";
import { validationHook } from "./validate.js";

/**
 * The API's Hono app: @hono/zod-openapi's OpenAPIHono, routes declared with their OpenAPI
 * description (zod schemas for input and output) and validated by the library's own validators.
 * A failed validation becomes a ValidationError (http/validate.ts), answered in the error shape.
 * Groups are mounted with `app.route("/", group)`, which carries their declarations into the
 * app's registry: the document (`npm run openapi`) is made from the app as it routes.
 */
export type ApiApp = OpenAPIHono<AppEnv>;

export const createOpenApiApp = (): ApiApp => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

type Documented = { operationId: string; tags: [string] };

/**
 * Which scopes may call each declared route ("open": no key), by its declaration: the source of
 * README's scope table (test/access.test.ts derives the table from it and calls every route).
 */
export const ROUTE_SCOPES = new Map<string, readonly Scope[] | "open">();
/** The key of a route in ROUTE_SCOPES: `GET /v1/reviews`. */
export const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;
export const withScopes = <T extends { method: string; path: string }>(route: T, scopes: readonly Scope[] | "open"): T => (
  ROUTE_SCOPES.set(routeKey(route.method, route.path), scopes), route
);

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
  return withScopes(
    {
      ...route,
      responses: { ...errors, ...route.responses } as unknown as R["responses"] & Omit<typeof securedErrors, keyof R["responses"]>,
      security: [{ bearerAuth: [] }],
      description: `${route.description ?? ""}\n\nScopes: ${scopes.join(", ")} (or admin).`.trim(),
      middleware: [requireScopes(scopes)] as MiddlewareHandler<AppEnv>[],
    },
    scopes,
  );
}

/** A route open to anyone (no key): declared as such (`security: []`), with the errors any request can meet. */
export function openRoute<R extends Omit<RouteConfig, "security"> & Documented>(route: R) {
  return withScopes({ ...route, responses: { ...anyRouteErrors, ...route.responses }, security: [] }, "open");
}
