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

export const API_VERSION = "1.0.0";

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
  app.route("/", healthRoutes());
  app.route("/", opsRoutes());
  app.route("/", messageRoutes());
  app.route("/", interactionRoutes());
  app.route("/", reviewRoutes());
  app.route("/", outboxRoutes());
  app.route("/", dashboardRoutes());
  app.route("/", memoryRoutes());
  app.route("/", userRoutes());
  app.route("/", quarantineRoutes());
  app.route("/", recoveryRoutes());
  app.route("/", statusRoutes());
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer" });
  app.openapi(openApiRoute, (c) => c.json(app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: "HITL data & storage layer", version: API_VERSION },
  }) as never, 200));
  app.notFound(() => notFound());
  app.onError((err, c) => toErrorResponse(err, c));
  return Object.assign(app, { currentDeadline: () => deadline, currentServices: () => services });
}

/** The deployed app: configuration from the environment (and SST resources in Lambda), parsed once. */
export const app = createApp(async () => {
  const config = await loadConfig();
  return createServices(config, { deadline: () => app.currentDeadline() });
});
