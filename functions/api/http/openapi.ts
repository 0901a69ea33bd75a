import type { RouteConfig, RouteHandler } from "@hono/zod-openapi";
import type { Scope } from "@hitl/core";
import { Hono, type MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.js";
import { anyRouteErrors, notFoundError, securedErrors, unsupportedMediaError } from "./schemas.js";
import { requireScopes } from "./middleware.js";
import { validateRequest } from "./validate.js";

/**
 * The API's Hono app: routes declared with their OpenAPI description (zod schemas for input and
 * output), each validated by one middleware (http/validate.ts). The declarations are kept, in
 * order, for the document `npm run openapi` writes (scripts/openapi-artifacts.ts); nothing of
 * the OpenAPI generator runs in the API.
 */
export class ApiApp extends Hono<AppEnv> {
  /** Every declared route, mounted ones included, in the order they were added. */
  readonly declared: RouteConfig[] = [];

  openapi<R extends RouteConfig>(route: R, handler: RouteHandler<R, AppEnv>): this {
    this.declared.push(route);
    const validate = validateRequest(route);
    const handlers = [...toArray(route.middleware), ...(validate ? [validate] : []), handler] as MiddlewareHandler<AppEnv>[];
    this.on(route.method.toUpperCase(), route.path.replaceAll(/\/{(.+?)}/g, "/:$1"), ...(handlers as [MiddlewareHandler<AppEnv>]));
    return this;
  }

  /** Mounts `app` at "/" (the only mount point the API uses), its declarations with it. */
  include(app: ApiApp): this {
    this.route("/", app);
    this.declared.push(...app.declared);
    return this;
  }
}

const toArray = <T>(m: T | T[] | undefined): T[] => (m === undefined ? [] : Array.isArray(m) ? m : [m]);

export const createOpenApiApp = () => new ApiApp();

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
  return {
    ...route,
    responses: { ...errors, ...route.responses } as R["responses"] & typeof securedErrors,
    security: [{ bearerAuth: [] }],
    description: `${route.description ?? ""}\n\nScopes: ${scopes.join(", ")} (or admin).`.trim(),
    middleware: [requireScopes(scopes)] as MiddlewareHandler<AppEnv>[],
  };
}

/** A route open to anyone (no key): declared as such (`security: []`), with the errors any request can meet. */
export function openRoute<R extends Omit<RouteConfig, "security"> & Documented>(route: R) {
  return { ...route, responses: { ...anyRouteErrors, ...route.responses }, security: [] };
}
