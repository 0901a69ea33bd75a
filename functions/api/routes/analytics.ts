import { z } from "@hono/zod-openapi";
import type { RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import {
  BrowseQuery,
  Interaction,
  REPORT_NAMES,
  REPORT_SCHEMAS,
  ReportQuery,
  browseInteractions,
  refreshRollups,
  report,
  resolveRange,
  verifyStatusLink,
  type ReportName,
} from "@hitl/core";
import type { AppEnv } from "../http/env.js";
import { requireScopes } from "../http/auth.js";
import { createOpenApiApp, securedRoute, withScopes } from "../http/openapi.js";
import { jsonContent, securedErrors } from "../http/schemas.js";
import { withAnalyticsAdmin } from "./analytics-admin.js";
import { deps } from "../http/deps.js";

const browse = securedRoute(["reviewer", "viewer"], {
  method: "get",
  path: "/v1/interactions",
  operationId: "browseInteractions",
  tags: ["analytics"],
  summary: "Browse and search interactions: filters, accent- and case-insensitive text search, sorting, keyset pages",
  description:
    "`q` searches the user message, the LLM draft and the final bubbles (at least 3 characters). A page ends at `limit` items or at the list byte budget; follow `next_cursor`.",
  request: { query: BrowseQuery },
  responses: {
    200: jsonContent(z.object({ items: z.array(Interaction), next_cursor: z.string().nullable() }).openapi("InteractionPage")),
    ...securedErrors,
  },
});

const reportRoute = (name: ReportName) =>
  securedRoute(["reviewer", "viewer"], {
    method: "get",
    path: `/v1/analytics/${name}`,
    operationId: `get${name
      .split("-")
      .map((p) => p[0]!.toUpperCase() + p.slice(1))
      .join("")}Report`,
    tags: ["analytics"],
    summary: `Report: ${REPORT_SCHEMAS[name].description ?? name}`,
    description:
      "Whole days `from`..`to` in `tz`, read from hourly rollups (today counted live); cached 5 minutes; `freshness` says how fresh.",
    request: { query: ReportQuery },
    responses: { 200: jsonContent(REPORT_SCHEMAS[name]), ...securedErrors },
  });

const refresh = securedRoute(["admin"], {
  method: "post",
  path: "/v1/admin/analytics/refresh",
  operationId: "refreshAnalyticsRollups",
  tags: ["analytics"],
  summary: "Run the rollup job now (it also runs on its schedule); idempotent",
  responses: { 200: jsonContent(z.object({ days: z.array(z.string()), as_of: z.string() }).openapi("RollupRefresh")), ...securedErrors },
});

const pageRoute = {
  method: "get",
  path: "/analytics",
  operationId: "getAnalyticsPage",
  tags: ["analytics"],
  summary: "Analytics page (HTML): charts and tables of the reports over a date range",
  description:
    "A reviewer, viewer or admin key, or a signed link (`npm run status-link`); open under `npm start` (STATUS_PAGE_OPEN=1 on a loopback-only server).",
  request: {
    query: z.object({
      from: z.string().max(10).optional(),
      to: z.string().max(10).optional(),
      tz: z.string().max(64).optional(),
      expires: z.string().max(12).optional(),
      sig: z.string().max(64).optional(),
    }),
  },
  security: [{ bearerAuth: [] }],
  responses: {
    ...securedErrors,
    200: { description: "HTML", content: { "text/html": { schema: z.string() } } },
    400: { description: "HTML with the range picker and what is wrong with the range", content: { "text/html": { schema: z.string() } } },
    503: { description: "HTML saying the reports are unavailable (Postgres down)", content: { "text/html": { schema: z.string() } } },
  },
} satisfies RouteConfig;

/** CSP: the page loads nothing and runs nothing; its one form (the date range) submits to itself. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const PAGE_HEADERS = { "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store" };

const PAGE_SCOPES = ["reviewer", "viewer"] as const;
const reviewer = requireScopes(PAGE_SCOPES);
const pageAccess: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (process.env.STATUS_PAGE_OPEN === "1") return next();
  if (verifyStatusLink(c.get("services").config.erasureHashKey, c.req.query("expires"), c.req.query("sig"))) return next();
  return reviewer(c, next);
};

export function analyticsRoutes() {
  let app = createOpenApiApp().openapi(browse, async (c) => c.json(await browseInteractions(deps(c).db, c.req.valid("query")), 200));
  for (const name of REPORT_NAMES) {
    app = app.openapi(reportRoute(name), async (c) => {
      return c.json((await report(deps(c), name, resolveRange(c.req.valid("query")))) as never, 200);
    });
  }
  return withAnalyticsAdmin(app)
    .openapi(refresh, async (c) => c.json(await refreshRollups(deps(c).db), 200))
    .openapi(withScopes({ ...pageRoute, middleware: [pageAccess] }, PAGE_SCOPES), async (c) => {
      const { analyticsPage } = await import("../analytics/page.js");
      const { status, html } = await analyticsPage(deps(c), c.req.valid("query"), c.get("log"));
      return c.html(html, status, PAGE_HEADERS) as never;
    });
}
