import { UnavailableError } from "@hitl/core/runtime";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "./env.js";

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Mutating routes counted as metrics (http_requests_total by route and status), not audited row
 * by row: the message queue's data plane, which never writes to Postgres (README, "API keys").
 */
export const METERED_ROUTES: ReadonlySet<string> = new Set(["POST /v1/messages", "POST /v1/messages/claim", "POST /v1/messages/ack"]);

/** Path parameters holding a user id: recorded only as their keyed hash (erasure leaves no trace). */
const isUserParam = (route: string, name: string) => name === "user_id" || (name === "id" && route.startsWith("/v1/users/"));

/**
 * The audit of every mutating request that a key made (issue 29): principal, key id, route
 * template, resource id, status, request id; never a body, user text or a key. One INSERT after
 * the response is decided (shared by concurrent requests: AuditWriter), the only statement the
 * audit adds to a request. Requests refused for
 * their key (401) are counted by the key check instead (coarsened: see KeyDirectory). An audit
 * row that cannot be written is logged, and the request keeps its answer (its change is made);
 * none is tried for a request that Postgres already failed (503).
 */
export function auditTrail(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!MUTATING.has(c.req.method)) return next();
    await next();
    const principal = c.get("principal");
    const template = routePath(c);
    if (!principal || !template || template.includes("*")) return;
    const route = template.replaceAll(/:([A-Za-z0-9_]+)/g, "{$1}");
    if (METERED_ROUTES.has(`${c.req.method} ${route}`)) return;
    const params = Object.entries(c.req.param() as Record<string, string>);
    const [name, value] = params[0] ?? [];
    if (c.error instanceof UnavailableError && c.error.store === "postgres") {
      // Postgres failed this request: its audit row would fail too (and push the breaker open).
      c.get("log").warn("audit row not written: postgres unavailable", { route, status: c.res.status });
      return;
    }
    const { audit, hasher } = c.get("services");
    const resourceId =
      name === undefined || value === undefined ? undefined : isUserParam(route, name) ? `user:${hasher.hash(value)}` : value.slice(0, 200);
    try {
      await audit.record({
        principal: principal.id,
        keyId: principal.keyId,
        method: c.req.method,
        route,
        resourceId,
        status: c.res.status,
        requestId: c.get("requestId"),
      });
    } catch (e) {
      c.get("log").error("audit row not written", { route, status: c.res.status, err: e instanceof Error ? e : new Error(String(e)) });
    }
  };
}
