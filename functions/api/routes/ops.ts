import { createRoute, z } from "@hono/zod-openapi";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { securedErrors } from "../http/schemas.js";

const metricsRoute = securedRoute(["admin"], {
  method: "get", path: "/metrics", summary: "Prometheus text exposition of this instance's metrics",
  responses: { 200: { description: "Prometheus text", content: { "text/plain": { schema: z.string() } } }, ...securedErrors },
});

export const openApiRoute = createRoute({
  method: "get", path: "/openapi.json", summary: "This document",
  responses: { 200: { description: "OpenAPI 3.1 document", content: { "application/json": { schema: z.object({}).passthrough() } } } },
});

export function opsRoutes() {
  return createOpenApiApp().openapi(metricsRoute, async (c) => {
    const { registry } = c.get("services").metrics;
    return c.text(await registry.metrics(), 200, { "Content-Type": registry.contentType });
  });
}
