import { createRoute, z } from "@hono/zod-openapi";
import { statusSnapshot } from "@hitl/core";
import { createOpenApiApp } from "../http/openapi.js";
import { requireScopes } from "../http/middleware.js";
import { securedErrors } from "../http/schemas.js";
import { renderStatus } from "../status/render.js";

const statusRoute = createRoute({
  method: "get", path: "/status", operationId: "getStatusPage", tags: ["operations"], summary: "Status page (HTML): queues, reviews, breaker, backups, last hour's latency and throughput",
  description: "Admin key required, except under `npm start` (STATUS_PAGE_OPEN=1 on a loopback-only server).",
  security: [{ bearerAuth: [] }],
  responses: {
    ...securedErrors,
    200: { description: "HTML", content: { "text/html": { schema: z.string() } } },
    503: { description: "HTML naming the stores that are unavailable", content: { "text/html": { schema: z.string() } } },
  },
});

/** CSP: the page loads nothing and runs nothing. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function statusRoutes() {
  const app = createOpenApiApp();
  const admin = requireScopes(["admin"]);
  app.use("/status", async (c, next) => (process.env.STATUS_PAGE_OPEN === "1" ? next() : admin(c, next)));
  // 200 when every store answers, 503 (still the page) when one does not: monitors see it, people read it.
  return app.openapi(statusRoute, async (c) => {
    const snapshot = await statusSnapshot(c.get("services"));
    return c.html(renderStatus(snapshot), snapshot.failing.length ? 503 : 200, { "Content-Security-Policy": CSP }) as never;
  });
}
