import { createServices, loadConfig, type Services } from "@hitl/core";
import { toErrorResponse } from "./http/errors.js";
import { bodyGuards, notFound, requestContext, withServices } from "./http/middleware.js";
import { createOpenApiApp } from "./http/openapi.js";
import { healthRoutes } from "./routes/health.js";
import { openApiRoute, opsRoutes } from "./routes/ops.js";
import { messageRoutes } from "./routes/messages.js";
import { interactionRoutes } from "./routes/interactions.js";
import { reviewRoutes } from "./routes/reviews.js";
import { outboxRoutes } from "./routes/outbox.js";
import { dashboardRoutes } from "./routes/dashboard.js";
import { memoryRoutes } from "./routes/memory.js";
import { userRoutes } from "./routes/users.js";
import { quarantineRoutes } from "./routes/quarantine.js";
import { recoveryRoutes } from "./routes/recovery.js";
import { statusRoutes } from "./routes/status.js";

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
  app.use("*", bodyGuards());
  for (const group of [healthRoutes, opsRoutes, messageRoutes, interactionRoutes, reviewRoutes, outboxRoutes, dashboardRoutes, memoryRoutes,
    userRoutes, quarantineRoutes, recoveryRoutes, statusRoutes]) app.include(group());
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
