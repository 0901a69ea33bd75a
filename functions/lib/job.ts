import { createLogger, loadConfig } from "@hitl/core";
import { jobContext, runJob, type JobName } from "@hitl/core/backup";
import { emfPublisher } from "./emf.js";

/**
 * A scheduled function (EventBridge Scheduler via sst CronV2): runs one job with the invocation's
 * remaining time as its deadline, logs the outcome and flushes the metrics as EMF.
 */
export function jobHandler(name: JobName) {
  return async (_event: unknown, context?: { getRemainingTimeInMillis?: () => number }) => {
    const config = await loadConfig();
    const remaining = context?.getRemainingTimeInMillis?.();
    const ctx = jobContext(config, { deadline: remaining !== undefined ? Date.now() + remaining : undefined });
    try {
      const result = await runJob(name, ctx);
      createLogger(config.logLevel).info("job done", { job: name, ...result });
      return result;
    } finally {
      await emfPublisher(ctx.services.metrics.registry).publish();
    }
  };
}
