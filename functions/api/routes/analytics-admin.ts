import { z } from "@hono/zod-openapi";
import { CleanupBody, CleanupCriteria, executeCleanup, integrityReport, previewCleanup } from "@hitl/core";
import type { ApiApp } from "../http/openapi.js";
import { securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { deps } from "../http/deps.js";

const preview = securedRoute(["admin"], {
  method: "post",
  path: "/v1/admin/cleanup/preview",
  operationId: "previewCleanup",
  tags: ["analytics"],
  summary: "Preview a cleanup of test data: counts, and a token for deleting exactly that",
  description:
    "Criteria are combined (AND): a created range, user ids, a text pattern (as the browse search). The token is good 15 minutes.",
  request: { body: jsonBody(CleanupCriteria) },
  responses: {
    200: jsonContent(
      z.object({ interactions: z.number(), days: z.number(), token: z.string(), expires_at: z.string() }).openapi("CleanupPreview"),
    ),
    ...securedErrors,
  },
});
const execute = securedRoute(["admin"], {
  method: "post",
  path: "/v1/admin/cleanup",
  operationId: "executeCleanup",
  tags: ["analytics"],
  summary: "Delete what a preview counted, in one transaction (audited); 409 if the data changed since",
  description: "A repeat with the same token answers the recorded result (`repeated: true`).",
  request: { body: jsonBody(CleanupBody) },
  responses: {
    200: jsonContent(
      z
        .object({
          deleted: z.object({ interactions: z.number(), interaction_keys: z.number() }),
          audit_id: z.number(),
          repeated: z.boolean(),
        })
        .openapi("CleanupResult"),
    ),
    409: errorResponse("the matched rows changed since the preview: nothing was deleted"),
    ...securedErrors,
  },
});
const Check = z
  .object({ name: z.string(), ok: z.boolean(), count: z.number().nullable(), detail: z.string(), sample: z.array(z.string()).optional() })
  .openapi("IntegrityCheck");
const integrity = securedRoute(["admin"], {
  method: "get",
  path: "/v1/admin/integrity",
  operationId: "getIntegrityReport",
  tags: ["analytics"],
  summary: "Integrity report: leases, unsent approvals, WAL vs interactions, cache versions, partitions, erasures, rollups vs a recount",
  request: { query: z.object({ unsent_after_hours: z.coerce.number().int().min(1).max(720).optional() }) },
  responses: {
    200: jsonContent(z.object({ ok: z.boolean(), generated_at: z.string(), checks: z.array(Check) }).openapi("IntegrityReport")),
    ...securedErrors,
  },
});

/** The admin side of analytics: test-data cleanup and the integrity report. */
export function withAnalyticsAdmin(app: ApiApp): ApiApp {
  return app
    .openapi(preview, async (c) => c.json(await previewCleanup(deps(c).db, deps(c).config.erasureHashKey, c.req.valid("json")), 200))
    .openapi(execute, async (c) => {
      const s = deps(c);
      return c.json(await executeCleanup(s.db, s.config.erasureHashKey, c.get("principal")!.id, c.req.valid("json").token), 200);
    })
    .openapi(integrity, async (c) => {
      return c.json(await integrityReport(deps(c), { unsentAfterHours: c.req.valid("query").unsent_after_hours }), 200);
    });
}
