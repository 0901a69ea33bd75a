import type { Secrets } from "./secrets";
import { RUNTIME, type AfterMigrations } from "./api";

/** The scheduled functions: EventBridge Scheduler (CronV2) with retries and a dead-letter queue. */
export const SCHEDULES = [
  { name: "BackupPostgres", handler: "functions/backup-postgres.handler", schedule: "cron(0 3 * * ? *)", copyMigrations: true },
  { name: "BackupRedis", handler: "functions/backup-redis.handler", schedule: "rate(6 hours)", copyMigrations: false },
  { name: "Archive", handler: "functions/archive.handler", schedule: "cron(30 4 * * ? *)", copyMigrations: false },
] as const;
/** Scheduler retries per invocation; a resumable backup also picks up on the next run. */
export const JOB_RETRIES = 2;

export function jobs(s: Secrets, bucket: sst.aws.Bucket, after?: AfterMigrations) {
  const dlq = new sst.aws.Queue("JobsDeadLetters");
  const link = [s.databaseUrl, s.upstashUrl, s.upstashToken, s.apiKeys, s.erasureHashKey, bucket];
  // `sst dev` runs no schedules: they would keep firing at the dev stub (run a job with `npm run job`).
  if ($dev) return { dlq, crons: [] };
  const crons = SCHEDULES.map((j) => new sst.aws.CronV2(j.name, {
    schedule: j.schedule,
    retries: JOB_RETRIES,
    dlq: dlq.arn,
    function: {
      handler: j.handler,
      runtime: RUNTIME,
      architecture: "arm64",
      memory: "1024 MB",
      // Lambda's ceiling; the Postgres backup checkpoints and resumes beyond it.
      timeout: "15 minutes",
      link,
      // The jobs stream: a small heap keeps them well inside the function's memory at any database size.
      environment: { NODE_OPTIONS: "--max-old-space-size=128 --max-semi-space-size=4" },
      ...(j.copyMigrations ? { copyFiles: [{ from: "packages/core/migrations", to: "migrations" }] } : {}),
    },
  }, after as never));
  return { dlq, crons };
}
