import type { Secrets } from "./secrets";
import { NODEJS, RUNTIME, secretLinks, type AfterMigrations } from "./api";
import { JOB_S3, s3Permissions } from "./permissions";

/** The scheduled functions: EventBridge Scheduler (CronV2) invoking each asynchronously. */
export const SCHEDULES = [
  { name: "BackupPostgres", handler: "functions/backup-postgres.handler", schedule: "cron(0 3 * * ? *)", copyMigrations: true, s3: true },
  { name: "BackupRedis", handler: "functions/backup-redis.handler", schedule: "rate(6 hours)", copyMigrations: false, s3: true },
  { name: "Archive", handler: "functions/archive.handler", schedule: "cron(30 4 * * ? *)", copyMigrations: false, s3: true },
  // Analytics rollups (issue 27): Postgres only, so no bucket grant.
  { name: "AnalyticsRollup", handler: "functions/analytics-rollup.handler", schedule: "rate(5 minutes)", copyMigrations: false, s3: false },
] as const;
/**
 * Retries of a failed job (Lambda's async invocation retries; each job is idempotent and resumes
 * its checkpoint). Then the event goes to the dead-letter queue, which alarms (infra/alarms.ts).
 */
export const JOB_RETRIES = 2;
/** An event older than this (throttled, retried) is dead-lettered rather than run late. */
export const JOB_MAX_EVENT_AGE_SECONDS = 6 * 3600;

/**
 * Each job is its own function, invoked asynchronously by the scheduler. A failed invocation is
 * retried JOB_RETRIES times by Lambda, then sent to `JobsDeadLetters` (an on-failure destination).
 * Events the scheduler could not deliver at all go to the same queue. A Postgres backup longer than
 * one run re-invokes its own function with its checkpoint (functions/lib/job.ts), outside the retries.
 */
export function jobs(s: Secrets, bucket: sst.aws.Bucket, after?: AfterMigrations) {
  const dlq = new sst.aws.Queue("JobsDeadLetters");
  const functions = SCHEDULES.map((j) => {
    const fn = new sst.aws.Function(`${j.name}Job`, {
      handler: j.handler,
      runtime: RUNTIME,
      architecture: "arm64",
      memory: "1024 MB",
      // Lambda's ceiling; the Postgres backup checkpoints and continues in a new invocation.
      timeout: "15 minutes",
      nodejs: NODEJS,
      link: secretLinks(s),
      permissions: j.s3 ? s3Permissions(bucket, JOB_S3) : [],
      // The jobs stream: a small heap keeps them well inside the function's memory at any database size.
      environment: { S3_BUCKET: bucket.name, NODE_OPTIONS: "--max-old-space-size=128 --max-semi-space-size=4" },
      ...(j.copyMigrations ? { copyFiles: [{ from: "packages/core/migrations", to: "migrations" }] } : {}),
    }, after);
    // The on-failure destination is sent with the function's own role; a continuing backup invokes
    // its own function. Both are granted here, after the function exists (its ARN is not known before).
    new aws.iam.RolePolicy(`${j.name}JobAsync`, {
      role: fn.nodes.role.name,
      policy: $jsonStringify({ Version: "2012-10-17", Statement: [
        { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: dlq.arn },
        { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: fn.arn },
      ] }),
    });
    new aws.lambda.FunctionEventInvokeConfig(`${j.name}JobInvokeConfig`, {
      functionName: fn.name,
      maximumRetryAttempts: JOB_RETRIES,
      maximumEventAgeInSeconds: JOB_MAX_EVENT_AGE_SECONDS,
      destinationConfig: { onFailure: { destination: dlq.arn } },
    });
    return { job: j, fn };
  });
  // `sst dev` runs no schedules: they would keep firing at the dev stub (run a job with `npm run job`).
  if ($dev) return { dlq, functions, crons: [] };
  const crons = functions.map(({ job, fn }) => new sst.aws.CronV2(job.name, {
    schedule: job.schedule,
    function: fn,
    // Delivery to the function (the scheduler's own retries): a failed run is Lambda's to retry.
    retries: JOB_RETRIES,
    dlq: dlq.arn,
  }));
  return { dlq, functions, crons };
}
