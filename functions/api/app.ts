import { createServices, loadConfig, type Services } from "@hitl/core/runtime";
import { toErrorResponse } from "./http/errors.js";
import { bodyGuards, notFound, requestContext, withServices } from "./http/middleware.js";
import { auditTrail } from "./http/audit.js";
import { createOpenApiApp } from "./http/openapi.js";
import { healthRoutes } from "./routes/health.js";
import { openApiRoute, opsRoutes } from "./routes/ops.js";
import { messageRoutes } from "./routes/messages.js";
import { LAZY_GROUPS } from "./routes/lazy.js";
import { ROUTE_MANIFEST } from "./routes/manifest.js";

/**
 * The Hono app, testable in-process with `app.request()`. `provide` returns the instance's
 * services; the first call builds them (cold start), later calls reuse them.
 */
export function createApp(provide: () => Promise<Services>) {
  let deadline: number | undefined;
  let services: Services | undefined;
  const cached = async () => {
    if (services) {
      services.metrics.poolHits.inc();
      return services;
    }
    services = await provide();
    services.metrics.poolMisses.inc();
    return services;
  };
  const app = createOpenApiApp();
  app.use("*", withServices(cached, (d) => (deadline = d)));
  app.use("*", requestContext());
  app.use("*", auditTrail());
  app.use("*", bodyGuards());
  for (const group of [healthRoutes, opsRoutes, messageRoutes]) app.include(group());
  // The other groups are loaded on their first request (routes/lazy.ts).
  for (const [name, load] of Object.entries(LAZY_GROUPS)) app.includeLazily(ROUTE_MANIFEST[name as keyof typeof LAZY_GROUPS], load);
  // The document as `npm run openapi` wrote it (docs/openapi.json), loaded on its first request.
  app.openapi(openApiRoute, async (c) => c.json((await import("../../docs/openapi.json", { with: { type: "json" } })).default as never, 200));
  app.notFound(() => notFound());
  app.onError((err, c) => toErrorResponse(err, c));
  return Object.assign(app, { currentDeadline: () => deadline, currentServices: () => services });
}

/** The deployed app: configuration from the environment (and SST resources in Lambda), parsed once. */
export const app = createApp(async () => {
  const config = await loadConfig();
  return createServices(config, { deadline: () => app.currentDeadline() });
});
