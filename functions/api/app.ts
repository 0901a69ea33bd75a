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
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", description: "An API key (`npm run keygen`), scoped bot, agent, reviewer or admin" });
  let document: unknown;
  app.openapi(openApiRoute, (c) => c.json((document ??= openApiDocument(app)) as never, 200));
  app.notFound(() => notFound());
  app.onError((err, c) => toErrorResponse(err, c));
  return Object.assign(app, { currentDeadline: () => deadline, currentServices: () => services });
}

/** The tags of the document, in the order a reader meets them in a conversation turn. */
export const TAGS = [
  { name: "messages", description: "The WAL queue: ingest, claim under a lease, acknowledge" },
  { name: "interactions", description: "A drafted reply with its message, models and costs" },
  { name: "reviews", description: "The human review lifecycle, the edit taxonomy and the dashboard" },
  { name: "outbox", description: "Approved replies on their way to Telegram" },
  { name: "users", description: "Customer status, nickname and GDPR erasure" },
  { name: "memory", description: "Conversation memory: context, history, compression" },
  { name: "protocol", description: "The silence protocol and its quarantine" },
  { name: "recovery", description: "Recovery cursors and operations after downtime" },
  { name: "operations", description: "Health, metrics, backups, this document and the status page" },
];

/** The OpenAPI 3.1 document of `app` (served at /openapi.json; docs/openapi.json is a copy). */
export function openApiDocument(app: ReturnType<typeof createOpenApiApp>) {
  return app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "HITL data & storage layer", version: API_VERSION,
      description: "The storage API of a human-in-the-loop conversational AI: messages, reviews, outbox, memory, users, recovery and operations. Errors share one shape (`Error`); every write is safe to retry (see each operation).",
      license: { name: "UNLICENSED", url: "https://choosealicense.com/no-permission/" },
    },
    servers: [{ url: "http://127.0.0.1:8787", description: "npm start (local stack)" }, { url: "https://{functionUrl}", description: "the deployed Function URL (sst deploy prints it)", variables: { functionUrl: { default: "example.lambda-url.us-east-1.on.aws" } } }],
    tags: TAGS,
  });
}

/** The deployed app: configuration from the environment (and SST resources in Lambda), parsed once. */
export const app = createApp(async () => {
  const config = await loadConfig();
  return createServices(config, { deadline: () => app.currentDeadline() });
});
