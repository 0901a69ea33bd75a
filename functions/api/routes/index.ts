import { dashboardRoutes } from "./dashboard.js";
import { healthRoutes } from "./health.js";
import { interactionRoutes } from "./interactions.js";
import { memoryRoutes } from "./memory.js";
import { messageRoutes } from "./messages.js";
import { opsRoutes } from "./ops.js";
import { outboxRoutes } from "./outbox.js";
import { quarantineRoutes } from "./quarantine.js";
import { recoveryRoutes } from "./recovery.js";
import { reviewRoutes } from "./reviews.js";
import { statusRoutes } from "./status.js";
import { userRoutes } from "./users.js";
import { accessRoutes } from "./access.js";
import { customerRoutes } from "./customers.js";
import { coherenceRoutes } from "./coherence.js";
import { analyticsRoutes } from "./analytics.js";
import { exportRoutes } from "./exports.js";

/**
 * Every route group, in the order the document lists them. A route added to a group answers as
 * soon as the group declares it: the app mounts these as they are, nothing is generated first.
 * A new group is one line here.
 */
export const ROUTE_GROUPS = [
  healthRoutes,
  opsRoutes,
  messageRoutes,
  interactionRoutes,
  reviewRoutes,
  outboxRoutes,
  dashboardRoutes,
  memoryRoutes,
  userRoutes,
  quarantineRoutes,
  recoveryRoutes,
  statusRoutes,
  accessRoutes,
  customerRoutes,
  coherenceRoutes,
  analyticsRoutes,
  exportRoutes,
];
