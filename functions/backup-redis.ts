import { createLogger, loadConfig } from "@hitl/core";
import { jobContext, runJob } from "@hitl/core/backup";
import { emfPublisher } from "./lib/emf.js";

/** Scheduled (EventBridge via sst CronV2): runs the backup-redis job once; see packages/core/src/backup. */
export async function handler(_event: unknown, context?: { getRemainingTimeInMillis?: () => number }) {
  const config = await loadConfig();
  const remaining = context?.getRemainingTimeInMillis?.();
  const ctx = jobContext(config, { deadline: remaining !== undefined ? Date.now() + remaining : undefined });
  try {
    const result = await runJob("backup-redis", ctx);
    createLogger(config.logLevel).info("job done", { job: "backup-redis", ...result });
    return result;
  } finally {
    await emfPublisher(ctx.services.metrics.registry).publish();
  }
}
