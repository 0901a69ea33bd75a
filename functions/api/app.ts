import { createServices, type Services } from "@hitl/core/runtime";
import { loadConfig } from "../lib/config.js";
import { toErrorResponse } from "./http/errors.js";
import { authenticateBodies } from "./http/auth.js";
import { bodyGuards } from "./http/body-guards.js";
import { notFound } from "./http/not-found.js";
import { requestContext } from "./http/request-context.js";
import { withServices } from "./http/services.js";
import { auditTrail } from "./http/audit.js";
import { createOpenApiApp } from "./http/openapi.js";
import { ROUTE_GROUPS } from "./routes/index.js";
import { openApiRoute } from "./routes/ops.js";

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
  app.use("*", withServices({ provide: cached, onDeadline: (d) => (deadline = d) }));
  app.use("*", requestContext({ log: (c) => c.get("services").log, metrics: (c) => c.get("services").metrics }));
  app.use("*", auditTrail({ successStatus: declaredSuccess(app) }));
  app.use("*", authenticateBodies());
  app.use("*", bodyGuards({ maxBytes: (c) => c.get("services").config.maxBodyBytes }));
  // Every route group (routes/index.ts), mounted with its declarations: what the document lists.
  for (const group of ROUTE_GROUPS) app.route("/", group());
  // The document as `npm run openapi` wrote it (docs/openapi.json), loaded on its first request.
  app.openapi(openApiRoute, async (c) =>
    c.json((await import("../../docs/openapi.json", { with: { type: "json" } })).default as never, 200),
  );
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API key (`npm run keygen`), scoped bot, agent, reviewer or admin",
  });
  app.notFound(notFound(app));
  app.onError((err, c) => toErrorResponse(err, c));
  return Object.assign(app, { currentDeadline: () => deadline, currentServices: () => services });
}

/** The status each route answers on success: 201 where declared (`POST /v1/interactions`), else its lowest 2xx, read from the document's registry on first use. */
function declaredSuccess(app: ReturnType<typeof createOpenApiApp>) {
  let byRoute: Map<string, number> | undefined;
  return (method: string, route: string) => {
    byRoute ??= new Map(
      app.openAPIRegistry.definitions.flatMap((d) => {
        if (d.type !== "route") return [];
        const codes = Object.keys(d.route.responses).map(Number);
        // A route that creates answers 201 when it does (200 is then its replay); else its lowest 2xx.
        const ok = codes.includes(201) ? 201 : codes.filter((s) => s >= 200 && s < 300).sort((a, b) => a - b)[0];
        return ok === undefined ? [] : [[`${d.route.method.toUpperCase()} ${d.route.path}`, ok] as const];
      }),
    );
    return byRoute.get(`${method} ${route}`);
  };
}

/** The deployed app: configuration from the environment (and SST resources in Lambda), parsed once. */
export const app = createApp(async () => {
  const config = await loadConfig();
  return createServices(config, { deadline: () => app.currentDeadline() });
});
