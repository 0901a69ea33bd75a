import { createLogger, type Config } from "@hitl/core";
import { loadConfig } from "./config.js";
import { jobContext, runJob, type JobContext, type JobName } from "@hitl/core/backup";
import { selfInvoke, type Continue, type JobEvent } from "./continuation.js";
import { emfPublisher } from "./emf.js";
import { randomUUID } from "node:crypto";

/** A chain of continuations longer than this (15 minutes each) is a backup that cannot finish. */
export const MAX_RUNS = 24;

export class JobIncompleteError extends Error {
  override name = "JobIncompleteError";
  constructor(job: string, id: string, runs: number) {
    super(`${job} ${id} still incomplete after ${runs} runs`);
  }
}

export class BackupUnverifiedError extends Error {
  override name = "BackupUnverifiedError";
  constructor(job: string, id: string) {
    super(`${job} ${id} failed its verification`);
  }
}

export interface JobRuntime {
  config?: () => Promise<Config>;
  /** How the next run is started (default: this Lambda function, invoked asynchronously). */
  continueWith?: Continue;
  /** Passed to the job (tests: a small margin and small objects). */
  tuning?: Pick<JobContext, "marginMs" | "backup">;
  /** Default MAX_RUNS. */
  maxRuns?: number;
}

/**
 * A scheduled function (EventBridge Scheduler via sst CronV2, invoked asynchronously): runs one job
 * with the invocation's remaining time as its deadline, logs the outcome and flushes the metrics.
 * - A backup that checkpointed before the time limit starts its next run (a new invocation carrying
 *   the set id and run number) and this one succeeds: resuming never spends Lambda's retries.
 * - A set that failed its read-back verification, a chain past MAX_RUNS, or any error fails the
 *   invocation: Lambda retries it (JOB_RETRIES), then dead-letters it, which alarms.
 */
export function jobHandler(name: JobName, runtime: JobRuntime = {}) {
  // The event is the scheduler's (no run number: run 1) or a continuation's ({ resume, run, lease }).
  return async (event: unknown, context?: { getRemainingTimeInMillis?: () => number; awsRequestId?: string }) => {
    const config = await (runtime.config ?? loadConfig)();
    const log = createLogger(config.logLevel).child({ job: name });
    const e = (event ?? {}) as JobEvent;
    const run = typeof e.run === "number" && Number.isInteger(e.run) && e.run > 0 ? e.run : 1;
    const remaining = context?.getRemainingTimeInMillis?.();
    // The lease's holder: a continuation's is its chain's; a scheduled run's is its request id,
    // which Lambda keeps across the retries of one event (a retry takes its own lease back),
    // while a duplicate delivery is another request and finds the lease held.
    const holder = typeof e.lease === "string" && e.lease ? e.lease : (context?.awsRequestId ?? randomUUID());
    const maxRuns = runtime.maxRuns ?? MAX_RUNS;
    const ctx = jobContext(config, { deadline: remaining !== undefined ? Date.now() + remaining : undefined, holder, ...runtime.tuning });
    ctx.continuing = () => run < maxRuns;
    try {
      const result = await runJob(name, ctx);
      const id = String(result.id);
      if (result.status === "skipped") {
        log.warn("job skipped", { run, reason: result.reason });
        return { ...result, run };
      }
      if (result.status === "incomplete") {
        if (run >= maxRuns) throw new JobIncompleteError(name, id, run);
        await (runtime.continueWith ?? selfInvoke())({ resume: id, run: run + 1, lease: holder });
        log.info("job continues", { ...result, run, next_run: run + 1 });
        return { ...result, run, continued: true };
      }
      if (result.verified === false) throw new BackupUnverifiedError(name, id);
      log.info("job done", { ...result, run });
      return { ...result, run };
    } catch (e) {
      log.error("job failed", { run, err: e instanceof Error ? e : new Error(String(e)) });
      throw e;
    } finally {
      await ctx.reader.end().catch(() => {});
      await emfPublisher(ctx.services.metrics.registry).publish();
    }
  };
}
