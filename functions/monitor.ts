import { backlogWarnings, createLogger, createServices, measureBacklog, recordBacklogGauges, type Services } from "@hitl/core";
import { loadConfig } from "./lib/config.js";
import { emfPublisher } from "./lib/emf.js";

let services: Services | undefined;

/**
 * The backlog monitor (every minute, infra/backlog-alarms.ts): measures the WAL, the review queue
 * and the unsent outbox, emits their gauges as EMF (the backlog alarms watch them: over the
 * threshold for 5 minutes), and records in Redis when each went over (the status page's warnings).
 * Read-only but for that one hash: a retried or overlapping run is harmless.
 */
export const handler = async () => {
  const config = await loadConfig();
  services ??= createServices(config, { log: createLogger(config.logLevel).child({ job: "backlog-monitor" }) });
  const levels = await measureBacklog(services);
  recordBacklogGauges(services.metrics, levels);
  const warnings = await backlogWarnings(services.redis, levels, config.backlog);
  if (warnings.length)
    services.log.warn("backlog over threshold", {
      warnings: warnings.map((w) => ({ queue: w.queue, depth: w.depth, threshold: w.threshold, sustained: w.sustained })),
    });
  await emfPublisher(services.metrics.registry).publish();
  return { levels, warnings: warnings.map((w) => w.queue) };
};
