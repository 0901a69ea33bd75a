import { z } from "@hono/zod-openapi";
import { listBackupSets, refreshStoreGauges } from "@hitl/core/runtime";
import { createOpenApiApp, openRoute, securedRoute } from "../http/openapi.js";
import { securedErrors } from "../http/schemas.js";
import { deps } from "../http/deps.js";

const metricsRoute = securedRoute(["admin"], {
  method: "get",
  path: "/metrics",
  operationId: "getMetrics",
  tags: ["operations"],
  summary: "Prometheus text exposition of this instance's metrics",
  responses: { 200: { description: "Prometheus text", content: { "text/plain": { schema: z.string() } } }, ...securedErrors },
});

export const openApiRoute = openRoute({
  method: "get",
  path: "/openapi.json",
  operationId: "getOpenApi",
  tags: ["operations"],
  summary: "This document",
  responses: { 200: { description: "OpenAPI 3.1 document", content: { "application/json": { schema: z.object({}).passthrough() } } } },
});

const BackupSet = z
  .object({
    id: z.string(),
    kind: z.enum(["postgres", "redis", "archive"]),
    started_at: z.string(),
    finished_at: z.string().nullable(),
    complete: z.boolean(),
    verified: z.boolean(),
    bytes: z.number(),
    objects: z.number(),
  })
  .openapi("BackupSet", { description: "A backup set or archive in the catalog" });
const backupsRoute = securedRoute(["admin"], {
  method: "get",
  path: "/v1/backups",
  operationId: "listBackups",
  tags: ["operations"],
  summary: "Backup sets and archives, newest first",
  responses: {
    200: { description: "OK", content: { "application/json": { schema: z.object({ items: z.array(BackupSet) }) } } },
    ...securedErrors,
  },
});

export function opsRoutes() {
  return createOpenApiApp()
    .openapi(metricsRoute, async (c) => {
      const s = deps(c);
      await refreshStoreGauges(s.metrics, s.db, s.redis, Date.now(), s.wal);
      return c.text(await s.metrics.registry.metrics(), 200, { "Content-Type": s.metrics.registry.contentType });
    })
    .openapi(backupsRoute, async (c) => c.json(await listBackupSets(deps(c).db), 200));
}
