import type { ApiApp } from "../http/openapi.js";

/**
 * The route groups a cold start does not load: each is imported, with its schemas, on the first
 * request to one of its routes (its own chunk in the Lambda bundle). Health, operations and
 * messages stay in the entry file: they are what a new instance is asked first. The router knows
 * these groups' paths from ./manifest.ts, which `npm run openapi` writes from the groups themselves.
 * In the order the API includes them.
 */
export const LAZY_GROUPS = {
  interactions: () => import("./interactions.js").then((m) => m.interactionRoutes()),
  reviews: () => import("./reviews.js").then((m) => m.reviewRoutes()),
  outbox: () => import("./outbox.js").then((m) => m.outboxRoutes()),
  dashboard: () => import("./dashboard.js").then((m) => m.dashboardRoutes()),
  memory: () => import("./memory.js").then((m) => m.memoryRoutes()),
  users: () => import("./users.js").then((m) => m.userRoutes()),
  quarantine: () => import("./quarantine.js").then((m) => m.quarantineRoutes()),
  recovery: () => import("./recovery.js").then((m) => m.recoveryRoutes()),
  status: () => import("./status.js").then((m) => m.statusRoutes()),
  analytics: () => import("./analytics.js").then((m) => m.analyticsRoutes()),
} satisfies Record<string, () => Promise<ApiApp>>;

export type LazyGroup = keyof typeof LAZY_GROUPS;
