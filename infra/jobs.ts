import type { Secrets } from "./secrets";
import { RUNTIME, secretLinks, type AfterMigrations } from "./api";
import { JOB_S3, s3Permissions } from "./permissions";
import { prebuilt } from "./bundles";

/** The scheduled functions: EventBridge Scheduler (CronV2) invoking each asynchronously; `bundle` is its dist/ directory. */
export const SCHEDULES = [
  { name: "BackupPostgres", bundle: "backup-postgres", schedule: "cron(0 3 * * ? *)" },
  { name: "BackupRedis", bundle: "backup-redis", schedule: "rate(6 hours)" },
  { name: "Archive", bundle: "archive", schedule: "cron(30 4 * * ? *)" },
  // Analytics rollups (issue 27): Postgres only, so no bucket grant.
  { name: "AnalyticsRollup", bundle: "analytics-rollup", schedule: "rate(5 minutes)" },
] as const;
/**
 * Retries of a failed job (Lambda's async invocation retries; each job is idempotent and resumes
 * its checkpoint). Then the event goes to the dead-letter queue, which alarms (infra/alarms.ts).
 */
export const JOB_RETRIES = 2;
/** An event older than this (throttled, retried) is dead-lettered rather than run late. */
export const JOB_MAX_EVENT_AGE_SECONDS = 6 * 3600;
/**
 * Concurrency reserved for each job: an API flood cannot starve the backups. Two: a run and
 * its continuation (or a duplicate delivery, which exits on the job's lease) may overlap briefly.
 */
export const JOB_RESERVED_CONCURRENCY = 2;
/** Dead letters are kept this long (SQS's default is 4 days, after which the alarm would clear by itself). */
export const DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400;

/** A job function's name: set, so that its own role can be granted invoking it (a continuation) before it exists. */
export const jobFunctionName = (job: string) => {
  const name = `${$app.name}-${$app.stage}-${job}Job`;
  if (name.length > 64) throw new Error(`function name ${name} is longer than Lambda's 64 characters: use a shorter stage name`);
  return name;
};

/**
 * Each job is its own function, invoked asynchronously by the scheduler. A failed invocation is
 * retried JOB_RETRIES times by Lambda, then sent to `JobsDeadLetters` (an on-failure destination).
 * Events the scheduler could not deliver at all go to the same queue. A Postgres backup longer than
 * one run re-invokes its own function with its checkpoint (functions/lib/job.ts), outside the retries.
 * Every grant is in SST's `permissions` (the role's inline policy, which SST owns): the bucket under
 * the job's own prefix, the dead-letter queue (the on-failure destination is sent with the
 * function's role) and invoking itself (a continuation).
 */
export function jobs(s: Secrets, bucket: sst.aws.Bucket, after?: AfterMigrations) {
  const dlq = new sst.aws.Queue("JobsDeadLetters", {
    transform: {
      queue: (args) => {
        args.messageRetentionSeconds = DEAD_LETTER_RETENTION_SECONDS;
      },
    },
  });
  const identity = aws.getCallerIdentityOutput();
  const region = aws.getRegionOutput().region;
  const functions = SCHEDULES.map((j) => {
    const name = jobFunctionName(j.name);
    const fn = new sst.aws.Function(
      `${j.name}Job`,
      {
        ...prebuilt(j.bundle),
        name,
        runtime: RUNTIME,
        architecture: "arm64",
        memory: "1024 MB",
        // Lambda's ceiling; the Postgres backup checkpoints and continues in a new invocation.
        timeout: "15 minutes",
        concurrency: { reserved: JOB_RESERVED_CONCURRENCY },
        link: secretLinks(s),
        permissions: [
          ...s3Permissions(bucket, JOB_S3[j.name]),
          { actions: ["sqs:SendMessage"], resources: [dlq.arn] },
          {
            actions: ["lambda:InvokeFunction"],
            resources: [$interpolate`arn:aws:lambda:${region}:${identity.accountId}:function:${name}`],
          },
        ],
        // The jobs stream: a small heap keeps them well inside the function's memory at any database size.
        environment: { S3_BUCKET: bucket.name, NODE_OPTIONS: "--max-old-space-size=128 --max-semi-space-size=4" },
        retries: JOB_RETRIES,
        transform: {
          eventInvokeConfig: (args) => {
            args.maximumEventAgeInSeconds = JOB_MAX_EVENT_AGE_SECONDS;
            args.destinationConfig = { onFailure: { destination: dlq.arn } };
          },
        },
      },
      after,
    );
    return { job: j, fn };
  });
  // `sst dev` runs no schedules: they would keep firing at the dev stub (run a job with `npm run job`).
  if ($dev) return { dlq, functions, crons: [] };
  const crons = functions.map(
    ({ job, fn }) =>
      new sst.aws.CronV2(job.name, {
        schedule: job.schedule,
        function: fn,
        // Delivery to the function (the scheduler's own retries): a failed run is Lambda's to retry.
        retries: JOB_RETRIES,
        dlq: dlq.arn,
      }),
  );
  return { dlq, functions, crons };
}
