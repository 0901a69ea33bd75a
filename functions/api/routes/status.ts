import { z } from "@hono/zod-openapi";
import type { RouteConfig } from "@hono/zod-openapi";
import { statusSnapshot, verifyStatusLink } from "@hitl/core";
import { createOpenApiApp, withScopes } from "../http/openapi.js";
import { deps } from "../http/deps.js";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/env.js";
import { requireScopes } from "../http/auth.js";
import { securedErrors } from "../http/schemas.js";

const statusRoute = {
  method: "get",
  path: "/status",
  operationId: "getStatusPage",
  tags: ["operations"],
  summary: "Status page (HTML): queues, reviews, breaker, backups, last hour's latency and throughput",
  description:
    "A viewer or admin key, or a signed link (`npm run status-link`: the `expires` and `sig` query parameters, valid 15 minutes); open under `npm start` (STATUS_PAGE_OPEN=1 on a loopback-only server).",
  request: {
    query: z.object({
      expires: z.string().max(12).optional().openapi({ description: "signed link: expiry (epoch seconds)" }),
      sig: z.string().max(64).optional().openapi({ description: "signed link: HMAC" }),
    }),
  },
  security: [{ bearerAuth: [] }],
  responses: {
    ...securedErrors,
    200: { description: "HTML", content: { "text/html": { schema: z.string() } } },
    503: { description: "HTML naming the stores that are unavailable", content: { "text/html": { schema: z.string() } } },
  },
} satisfies RouteConfig;

/** CSP: the page loads nothing and runs nothing. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** A signed link must not travel further in a Referer header, nor be cached. */
const PAGE_HEADERS = { "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store" };

/**
 * Open locally (STATUS_PAGE_OPEN=1 on a loopback-only server); otherwise an admin key, or a signed
 * link (`npm run status-link`: HMAC, 15 minutes) for a browser, which cannot send a Bearer header.
 */
const STATUS_SCOPES = ["viewer"] as const;
const admin = requireScopes(STATUS_SCOPES);
const statusAccess: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (process.env.STATUS_PAGE_OPEN === "1") return next();
  if (verifyStatusLink(c.get("services").config.erasureHashKey, c.req.query("expires"), c.req.query("sig"))) return next();
  return admin(c, next);
};

export function statusRoutes() {
  // 200 when every store answers, 503 (still the page) when one does not: monitors see it, people read it.
  const route = withScopes({ ...statusRoute, middleware: [statusAccess] }, STATUS_SCOPES);
  return createOpenApiApp().openapi(route, async (c) => {
    // The page's renderer loads with its first request: an instance that never shows it never compiles it.
    const [snapshot, { renderStatus }] = await Promise.all([statusSnapshot(deps(c)), import("../status/render.js")]);
    return c.html(renderStatus(snapshot), snapshot.failing.length ? 503 : 200, PAGE_HEADERS) as never;
  });
}
