import { z } from "@hono/zod-openapi";
import { checkHealth, checkLiveness } from "@hitl/core/runtime";
import { createOpenApiApp, openRoute, securedRoute } from "../http/openapi.js";
import { deps } from "../http/deps.js";
import { jsonContent } from "../http/schemas.js";

/** The public answer is cached briefly per instance so a load balancer's polling costs no round trips. */
const LIVENESS_CACHE_MS = 2000;

const Liveness = z.object({ status: z.enum(["ok", "degraded"]) }).openapi("Liveness");
const Check = z.object({ ok: z.boolean(), latency_ms: z.number() });
const HealthReport = z
  .object({
    status: z.enum(["ok", "degraded"]),
    postgres: Check.extend({ breaker: z.enum(["closed", "open", "half_open"]) }),
    redis: Check.extend({ breaker: z.enum(["closed", "open", "half_open"]) }),
    storage: z.object({ ok: z.boolean() }),
  })
  .openapi("HealthReport");

const publicHealth = openRoute({
  method: "get",
  path: "/health",
  operationId: "getLiveness",
  tags: ["operations"],
  summary: "Liveness: 200 ok or 503 degraded, nothing else revealed",
  responses: { 200: jsonContent(Liveness), 503: jsonContent(Liveness, "a store is down") },
});

const detailedHealth = securedRoute(["admin"], {
  method: "get",
  path: "/v1/health",
  operationId: "getHealth",
  tags: ["operations"],
  summary: "Checks Postgres, Redis (through the breaker) and storage: 200 ok, 503 degraded (the same report)",
  responses: { 200: jsonContent(HealthReport), 503: jsonContent(HealthReport, "degraded: a store is down (the report says which)") },
});

export function healthRoutes() {
  let last: { at: number; ok: boolean } | undefined;
  return createOpenApiApp()
    .openapi(publicHealth, async (c) => {
      if (!last || Date.now() - last.at > LIVENESS_CACHE_MS) {
        last = { at: Date.now(), ok: await checkLiveness(deps(c)) };
      }
      return last.ok ? c.json({ status: "ok" as const }, 200) : c.json({ status: "degraded" as const }, 503);
    })
    .openapi(detailedHealth, async (c) => {
      const report = await checkHealth(deps(c));
      return report.status === "ok" ? c.json(report, 200) : c.json(report, 503);
    });
}
