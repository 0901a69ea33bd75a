import type { Secrets } from "./secrets";
import { RUNTIME, secretLinks, type AfterMigrations } from "./api";
import { prebuilt } from "./bundles";
import { METRICS_NAMESPACE, METRICS_SERVICE } from "./alarms";

/**
 * Backlog alarms (the reference alerted at 150 / 100 / 50): a queue's depth over its threshold for
 * 5 minutes (five 1-minute periods). Thresholds: BACKLOG_*_THRESHOLD at deploy time, else the
 * reference's; the same settings drive the status page's warnings (packages/core/src/monitoring/backlog.ts).
 */
export const BACKLOG_ALARMS = [
  { name: "WalBacklog", metric: "backlog_wal_pending", setting: "BACKLOG_WAL_THRESHOLD", threshold: 100 },
  { name: "ReviewQueueBacklog", metric: "backlog_review_queue", setting: "BACKLOG_REVIEW_THRESHOLD", threshold: 150 },
  { name: "OutboxBacklog", metric: "backlog_outbox_unsent", setting: "BACKLOG_OUTBOX_THRESHOLD", threshold: 50 },
] as const;
export const BACKLOG_PERIOD_SECONDS = 60;
export const BACKLOG_EVALUATION_PERIODS = 5;

const thresholdOf = (a: (typeof BACKLOG_ALARMS)[number]) => {
  const v = Number(process.env[a.setting] ?? a.threshold);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${a.setting} must be a non-negative integer`);
  return v;
};

/** The monitor function (emits the gauges every minute), its schedule, and one alarm per queue to the Alerts topic. */
export function backlogAlarms(s: Secrets, bucket: sst.aws.Bucket, topic: sst.aws.SnsTopic, after?: AfterMigrations) {
  const environment: Record<string, $util.Input<string>> = { S3_BUCKET: bucket.name };
  for (const a of BACKLOG_ALARMS) environment[a.setting] = String(thresholdOf(a));
  const fn = new sst.aws.Function(
    "BacklogMonitor",
    {
      ...prebuilt("monitor"),
      runtime: RUNTIME,
      architecture: "arm64",
      memory: "256 MB",
      timeout: "30 seconds",
      // One run a minute: one instance is all it needs, and an API flood cannot starve it.
      concurrency: { reserved: 1 },
      link: secretLinks(s),
      environment,
    },
    after,
  );
  // `sst dev` runs no schedules (invoke the handler by hand there).
  const cron = $dev ? undefined : new sst.aws.CronV2("BacklogMonitor", { schedule: "rate(1 minute)", function: fn });
  const alarms = BACKLOG_ALARMS.map(
    (a) =>
      new aws.cloudwatch.MetricAlarm(a.name, {
        name: `${$app.name}-${$app.stage}-${a.name}`,
        alarmDescription: `${a.metric} over ${thresholdOf(a)} for ${BACKLOG_EVALUATION_PERIODS} minutes`,
        namespace: METRICS_NAMESPACE,
        metricName: a.metric,
        dimensions: { service: METRICS_SERVICE },
        statistic: "Maximum",
        comparisonOperator: "GreaterThanThreshold",
        threshold: thresholdOf(a),
        period: BACKLOG_PERIOD_SECONDS,
        evaluationPeriods: BACKLOG_EVALUATION_PERIODS,
        datapointsToAlarm: BACKLOG_EVALUATION_PERIODS,
        treatMissingData: "notBreaching",
        alarmActions: [topic.arn],
        okActions: [topic.arn],
        tags: { severity: "warning" },
      }),
  );
  return { fn, cron, alarms };
}
