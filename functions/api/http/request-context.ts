import type { Logger, Metrics } from "@hitl/core/runtime";
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "./env.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestContextOptions {
  /** The instance's logger (the request's is its child, with the request id). */
  log: (c: Context<AppEnv>) => Logger;
  metrics: (c: Context<AppEnv>) => Pick<Metrics, "httpRequests" | "httpDuration" | "timeline">;
}

/** Request id (echoed in X-Request-Id), one structured log line and metrics per request. */
export function requestContext(options: RequestContextOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    const metrics = options.metrics(c);
    const log = options.log(c).child({ request_id: requestId });
    c.set("requestId", requestId);
    c.set("log", log);
    const start = performance.now();
    // Set before the response exists, every response the context builds (errors too) carries it;
    // setting it afterwards would make Hono rebuild the finished response.
    c.header("X-Request-Id", requestId);
    try {
      await next();
    } finally {
      // A response a handler built itself has not got it yet.
      if (!c.res.headers.has("X-Request-Id")) c.header("X-Request-Id", requestId);
      const route = routePath(c) || "unmatched";
      const seconds = (performance.now() - start) / 1000;
      metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
      metrics.httpDuration.observe({ method: c.req.method, route }, seconds);
      // The status page's own requests (it refreshes itself) would skew the figures it shows.
      if (route !== "/status") metrics.timeline.record(seconds * 1000, c.res.status);
      log.info("request", {
        method: c.req.method,
        route,
        status: c.res.status,
        duration_ms: Math.round(seconds * 1e4) / 10,
        key_id: c.get("principal")?.id,
      });
    }
  };
}
