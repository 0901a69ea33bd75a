import type { RouteConfig, RouteHandler } from "@hono/zod-openapi";
import type { Scope } from "@hitl/core/runtime";
import { Hono, type Context, type MiddlewareHandler, type Next } from "hono";
import type { AppEnv } from "./env.js";
import { anyRouteErrors, notFoundError, securedErrors, unsupportedMediaError } from "./schemas.js";
import { requireScopes } from "./middleware.js";
import { validateRequest } from "./validate.js";

/** A route as the router knows it before its group is loaded: method and OpenAPI path. */
export type RouteKey = readonly [method: string, path: string];

/**
 * The API's Hono app: routes declared with their OpenAPI description (zod schemas for input and
 * output), each validated by one middleware (http/validate.ts). The declarations are kept, in
 * order, for the document `npm run openapi` writes (scripts/openapi-artifacts.ts); nothing of
 * the OpenAPI generator runs in the API.
 *
 * A group of routes can be included lazily (`includeLazily`): the router knows its paths from the
 * generated manifest (functions/api/routes/manifest.ts), and the group's module, with its schemas,
 * is imported on the first request to one of them.
 */
export class ApiApp extends Hono<AppEnv> {
  /** Each route's middleware, validator and handler, by `METHOD path`: what a lazy stub runs. */
  readonly chains = new Map<string, MiddlewareHandler<AppEnv>[]>();
  /** The declared routes in the order they were added, lazily included groups in their place. */
  private readonly sections: (RouteConfig | (() => Promise<ApiApp>))[] = [];

  openapi<R extends RouteConfig>(route: R, handler: RouteHandler<R, AppEnv>): this {
    this.sections.push(route);
    const validate = validateRequest(route);
    const handlers = [...toArray(route.middleware), ...(validate ? [validate] : []), handler] as MiddlewareHandler<AppEnv>[];
    this.chains.set(routeKey(route.method, route.path), handlers);
    this.on(route.method.toUpperCase(), honoPath(route.path), ...(handlers as [MiddlewareHandler<AppEnv>]));
    return this;
  }

  /** Mounts `app` at "/" (the only mount point the API uses), its declarations with it. */
  include(app: ApiApp): this {
    this.route("/", app);
    this.sections.push(...app.sections);
    return this;
  }

  /**
   * Routes `routes` (as the group declares them, in its order) to the group `load` makes, which is
   * loaded on the first request to any of them; a failed load is tried again by the next request.
   */
  includeLazily(routes: readonly RouteKey[], load: () => Promise<ApiApp>): this {
    let group: Promise<ApiApp> | undefined;
    const loaded = () => (group ??= load().then(lazyReady).catch((e: unknown) => { group = undefined; throw e; }));
    this.sections.push(loaded);
    for (const [method, path] of routes) {
      const key = routeKey(method, path);
      this.on(method.toUpperCase(), honoPath(path), async (c, next) => {
        const handlers = (await loaded()).chains.get(key);
        if (!handlers) throw new Error(`${method} ${path} is in the route manifest but not in its group: run npm run openapi`);
        await runChain(handlers, c, next);
        return c.res;
      });
    }
    return this;
  }

  /** Every declared route in order, lazily included groups loaded (the document's input). */
  async declarations(): Promise<RouteConfig[]> {
    const all: RouteConfig[] = [];
    for (const s of this.sections) all.push(...(typeof s === "function" ? await (await s()).declarations() : [s]));
    return all;
  }
}

/**
 * `app`, checked for what a lazy include would silently drop: middleware registered with `use()`
 * (only a route's declared chain runs; declare it as the route's `middleware`).
 */
export function lazyReady(app: ApiApp): ApiApp {
  const declared = new Set([...app.chains.values()].flat());
  const stray = app.routes.find((r) => !declared.has(r.handler));
  if (stray) throw new Error(`${stray.method} ${stray.path}: middleware outside a route's declaration does not run in a lazily loaded group; make it the route's middleware`);
  return app;
}

const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;
const honoPath = (path: string) => path.replaceAll(/\/{(.+?)}/g, "/:$1");

/** Runs a route's handlers as Hono's compose does: each gets `next`, a returned Response is the answer. */
async function runChain(handlers: MiddlewareHandler<AppEnv>[], c: Context<AppEnv>, next: Next): Promise<void> {
  const step = async (i: number): Promise<void> => {
    const h = handlers[i];
    const res = h ? await h(c, () => step(i + 1)) : await next();
    if (res instanceof Response && !c.finalized) c.res = res;
  };
  await step(0);
}

const toArray = <T>(m: T | T[] | undefined): T[] => (m === undefined ? [] : Array.isArray(m) ? m : [m]);

export const createOpenApiApp = () => new ApiApp();

type Documented = { operationId: string; tags: [string] };

/**
 * Which scopes may call each declared route ("open": no key), by its declaration: the source of
 * README's scope table (test/access.test.ts derives the table from it and calls every route).
 */
export const ROUTE_SCOPES = new WeakMap<object, readonly Scope[] | "open">();
const withScopes = <T extends object>(route: T, scopes: readonly Scope[] | "open"): T => (ROUTE_SCOPES.set(route, scopes), route);

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
  return withScopes({
    ...route,
    responses: { ...errors, ...route.responses } as R["responses"] & typeof securedErrors,
    security: [{ bearerAuth: [] }],
    description: `${route.description ?? ""}\n\nScopes: ${scopes.join(", ")} (or admin).`.trim(),
    middleware: [requireScopes(scopes)] as MiddlewareHandler<AppEnv>[],
  }, scopes);
}

/** A route open to anyone (no key): declared as such (`security: []`), with the errors any request can meet. */
export function openRoute<R extends Omit<RouteConfig, "security"> & Documented>(route: R) {
  return withScopes({ ...route, responses: { ...anyRouteErrors, ...route.responses }, security: [] }, "open");
}
