import { z } from "@hono/zod-openapi";
import { dashboardMetrics, editTaxonomy } from "@hitl/core";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonContent, securedErrors } from "../http/schemas.js";
import { deps } from "../http/deps.js";

const taxonomy = securedRoute(["reviewer", "agent", "viewer"], {
  method: "get",
  path: "/v1/edit-taxonomy",
  operationId: "listEditTags",
  tags: ["reviews"],
  summary: "The edit tags approvals may use",
  responses: {
    200: jsonContent(z.object({ items: z.array(z.object({ code: z.string(), category: z.string(), description: z.string() })) })),
    ...securedErrors,
  },
});
const metrics = securedRoute(["reviewer", "viewer"], {
  method: "get",
  path: "/v1/dashboard/metrics",
  operationId: "getDashboardMetrics",
  tags: ["reviews"],
  summary: "Review and cost aggregates (cached 5 minutes) and live WAL depths",
  responses: {
    200: jsonContent(
      z.object({
        pending_reviews: z.number(),
        reviewed_today: z.number(),
        avg_review_time_seconds: z.number(),
        popular_edit_tags: z.array(z.object({ tag: z.string(), count: z.number() })),
        cost_today: z.object({ llm1_usd: z.number(), llm2_usd: z.number(), interactions: z.number(), users: z.number() }),
        model_distribution: z.array(
          z.object({ llm1_model: z.string().nullable(), llm2_model: z.string().nullable(), count: z.number(), cost_usd: z.number() }),
        ),
        wal: z
          .object({ pending: z.number(), in_flight: z.number(), dead_letter: z.number() })
          .nullable()
          .describe("null while Redis is unavailable"),
      }),
    ),
    ...securedErrors,
  },
});

export function dashboardRoutes() {
  return createOpenApiApp()
    .openapi(taxonomy, async (c) => c.json({ items: await editTaxonomy(deps(c).db) }, 200))
    .openapi(metrics, async (c) => c.json(await dashboardMetrics(deps(c)), 200));
}
