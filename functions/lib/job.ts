import { createLogger, loadConfig } from "@hitl/core";
import { jobContext, runJob, type JobName } from "@hitl/core/backup";
import { emfPublisher } from "./emf.js";

export class JobIncompleteError extends Error {
  override name = "JobIncompleteError";
  constructor(job: string, id: string) { super(`${job} ${id} checkpointed before the time limit; the retry resumes it`); }
}

export class BackupUnverifiedError extends Error {
  override name = "BackupUnverifiedError";
  constructor(job: string, id: string) { super(`${job} ${id} failed its verification`); }
}

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
      // Checkpointed but not finished (the 15-minute limit): failing makes Lambda's async retry
      // invoke again at once, and that invocation resumes where this one stopped.
      if (result.status === "incomplete") throw new JobIncompleteError(name, String(result.id));
      // A set that failed its read-back verification is not a backup: the invocation fails (retried,
      // then dead-lettered and alarmed) instead of returning normally.
      if (result.verified === false) throw new BackupUnverifiedError(name, String(result.id));
      return result;
    } finally {
      await ctx.reader.end().catch(() => {});
      await emfPublisher(ctx.services.metrics.registry).publish();
    }
  };
}
