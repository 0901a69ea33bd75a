import { RideAlong, UnavailableError, rideAlongScope, type RequestRecord } from "@hitl/core/runtime";
import type { Context, MiddlewareHandler } from "hono";
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

export interface AuditOptions {
  /** The status a route answers on success (its first declared 2xx), for a row written before the answer; default 200. */
  successStatus?: (method: string, route: string) => number | undefined;
}

/**
 * The audit of every mutating request that a key made (issue 29): principal, key id, route
 * template, resource id, status, request id; never a body, user text or a key.
 *
 * A request that writes to Postgres carries its row in its first write's own transaction and
 * round trip (RideAlong, AuditWriter.rowStatement): the audit adds no round trip, and the row
 * exists if and only if that write committed. The row holds the route's success status; a request
 * that answers otherwise has it corrected after the answer. Any other request gets one INSERT after
 * the response is decided (shared by concurrent requests: AuditWriter.record). Requests refused for
 * their key (401) are counted by the key check instead (coarsened: see KeyDirectory). An audit row
 * that cannot be written is logged, and the request keeps its answer (its change is made); none is
 * tried for a request that Postgres already failed (503).
 */
export function auditTrail(opts: AuditOptions = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!MUTATING.has(c.req.method)) return next();
    // Built when the handler's first write boards: principal, route and parameters are known then.
    const success = (route: string) => opts.successStatus?.(c.req.method, route) ?? 200;
    const ride = new RideAlong(() => {
      const row = requestRow(c, success);
      return row && c.get("services").audit.rowStatement(row);
    });
    await rideAlongScope.run(ride, next);
    const rode = await ride.close();
    const row = requestRow(c, () => c.res.status);
    if (!row) return;
    const { audit, log } = { audit: c.get("services").audit, log: c.get("log") };
    try {
      if (rode) {
        // The row committed with the write; only a request that answered otherwise costs a statement.
        if (row.status !== success(row.route)) await audit.correct(String(rode.id), row.status);
        return;
      }
      if (c.error instanceof UnavailableError && c.error.store === "postgres") {
        // Postgres failed this request: its audit row would fail too (and push the breaker open).
        log.warn("audit row not written: postgres unavailable", { route: row.route, status: row.status });
        return;
      }
      await audit.record(row);
    } catch (e) {
      log.error("audit row not written", { route: row.route, status: row.status, err: e instanceof Error ? e : new Error(String(e)) });
    }
  };
}

/** The request's audit row with `status(route)`, or undefined for a request the audit does not record (no key, metered, unmatched). */
function requestRow(c: Context<AppEnv>, status: (route: string) => number): RequestRecord | undefined {
  const principal = c.get("principal");
  const template = routePath(c);
  if (!principal || !template || template.includes("*")) return undefined;
  const route = template.replaceAll(/:([A-Za-z0-9_]+)/g, "{$1}");
  if (METERED_ROUTES.has(`${c.req.method} ${route}`)) return undefined;
  const [name, value] = Object.entries(c.req.param() as Record<string, string>)[0] ?? [];
  const resourceId =
    name === undefined || value === undefined
      ? undefined
      : isUserParam(route, name)
        ? `user:${c.get("services").hasher.hash(value)}`
        : value.slice(0, 200);
  return {
    principal: principal.id,
    keyId: principal.keyId,
    method: c.req.method,
    route,
    resourceId,
    status: status(route),
    requestId: c.get("requestId"),
  };
}
