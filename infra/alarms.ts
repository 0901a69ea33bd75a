import type { AfterMigrations } from "./api";
import { REPLICATION_LATE_SECONDS, type Replication } from "./storage";

/** Must match functions/lib/emf.ts: the namespace and service dimension the metrics are emitted under. */
export const METRICS_NAMESPACE = "HitlDataLayer";
export const METRICS_SERVICE = "hitl-data-layer";

export interface AlarmSpec {
  name: string;
  metric: string;
  /** Dimensions beside `service` (the labels of a labelled counter, functions/lib/emf.ts). */
  dimensions?: Record<string, string>;
  statistic: "Average" | "Maximum" | "Sum";
  comparison: "GreaterThanThreshold" | "LessThanThreshold";
  threshold: number;
  periodSeconds: number;
  evaluationPeriods: number;
  /**
   * Always `notBreaching`: every alarm starts OK on a fresh deploy. "It did not happen" is a value
   * the code publishes (the backup ages), not missing data; a scheduler that cannot invoke a job
   * dead-letters the event (JobsDeadLettered).
   */
  treatMissingData: "notBreaching";
  severity: "warning" | "critical";
}

/** Hours between two scheduled Postgres backups (infra/jobs.ts SCHEDULES: daily). */
export const POSTGRES_BACKUP_EVERY_HOURS = 24;
/** A continuation chain's length at most: MAX_RUNS (functions/lib/job.ts) runs of 15 minutes. */
export const POSTGRES_CHAIN_HOURS = 24 * 0.25;
/** Lambda's retries of a failed run (JOB_RETRIES, each up to 15 minutes plus its backoff), rounded up. */
const RETRY_HOURS = 1;
/**
 * The age of the newest verified Postgres set may reach: the next scheduled run's start, plus its
 * whole continuation chain, plus its retries, plus an hour's margin (33 h).
 */
export const POSTGRES_BACKUP_MAX_AGE_HOURS = POSTGRES_BACKUP_EVERY_HOURS + POSTGRES_CHAIN_HOURS + RETRY_HOURS + 2;
/** Redis snapshots: every 6 hours; a run missed (its retries included) alarms. */
export const REDIS_SNAPSHOT_MAX_AGE_HOURS = 6 + 1;
/**
 * The backup ages are published by every job run (the Redis job runs every 6 h) and every deploy's
 * Migrate: each 7-hour period holds at least one, so an overdue backup keeps the alarm in ALARM
 * until a newer set exists, without flapping between publications.
 */
const AGE_PERIOD_SECONDS = 7 * 3600;

/**
 * Alarms on what the code emits (packages/core/src/metrics/registry.ts via functions/lib/emf.ts).
 * The seed's "pool exhaustion" has no meaning on Neon's HTTP driver (no client pool to wait on):
 * what a full Neon pooler or a down database produces is connection errors, store timeouts and an
 * open Postgres breaker, and those are watched. (ops/prometheus/alerts.yml keeps the seed's names.)
 */
export const ALARMS: AlarmSpec[] = [
  {
    name: "PostgresConnectionErrors",
    metric: "connection_errors_total",
    dimensions: { store: "postgres" },
    statistic: "Sum",
    comparison: "GreaterThanThreshold",
    threshold: 10,
    periodSeconds: 300,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "critical",
  },
  {
    name: "PostgresTimeouts",
    metric: "store_timeouts_total",
    dimensions: { store: "postgres" },
    statistic: "Sum",
    comparison: "GreaterThanThreshold",
    threshold: 5,
    periodSeconds: 300,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "warning",
  },
  {
    name: "RedisTimeouts",
    metric: "store_timeouts_total",
    dimensions: { store: "redis" },
    statistic: "Sum",
    comparison: "GreaterThanThreshold",
    threshold: 5,
    periodSeconds: 300,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "warning",
  },
  {
    name: "PostgresBreakerOpened",
    metric: "postgres_breaker_transitions_total",
    dimensions: { to: "open" },
    statistic: "Sum",
    comparison: "GreaterThanThreshold",
    threshold: 0,
    periodSeconds: 300,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "critical",
  },
  {
    name: "RedisBreakerOpened",
    metric: "redis_breaker_transitions_total",
    dimensions: { to: "open" },
    statistic: "Sum",
    comparison: "GreaterThanThreshold",
    threshold: 0,
    periodSeconds: 300,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "critical",
  },
  {
    name: "RedisHighLatency",
    metric: "operation_latency_seconds",
    statistic: "Average",
    comparison: "GreaterThanThreshold",
    threshold: 0.01,
    periodSeconds: 60,
    evaluationPeriods: 5,
    treatMissingData: "notBreaching",
    severity: "warning",
  },
  {
    name: "MemoryCompressionFailure",
    metric: "compression_failures_total",
    statistic: "Sum",
    comparison: "GreaterThanThreshold",
    threshold: 10,
    periodSeconds: 300,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "critical",
  },
  {
    name: "PostgresBackupMissed",
    metric: "postgres_backup_age_seconds",
    statistic: "Maximum",
    comparison: "GreaterThanThreshold",
    threshold: POSTGRES_BACKUP_MAX_AGE_HOURS * 3600,
    periodSeconds: AGE_PERIOD_SECONDS,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "critical",
  },
  {
    name: "RedisSnapshotMissed",
    metric: "redis_backup_age_seconds",
    statistic: "Maximum",
    comparison: "GreaterThanThreshold",
    threshold: REDIS_SNAPSHOT_MAX_AGE_HOURS * 3600,
    periodSeconds: AGE_PERIOD_SECONDS,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "warning",
  },
  {
    name: "DeadLetterGrowth",
    metric: "wal_dead_letters_total",
    statistic: "Sum",
    comparison: "GreaterThanThreshold",
    threshold: 0,
    periodSeconds: 900,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    severity: "warning",
  },
];

/** Jobs whose every retry failed land in this queue: one message is one lost job run. */
export const JOBS_DEAD_LETTER_ALARM = "JobsDeadLettered";

/**
 * CloudWatch alarms to an SNS topic (the AlertEmail secret's address is subscribed), the jobs'
 * dead-letter queue alarm, S3 replication's alarms when replication is on, and a dashboard with
 * the key graphs in the deployment's own region. `after`: the deploy's migration invocation, which
 * publishes the backup ages before the alarms on them first evaluate.
 */
export function alarms(jobsDeadLetters: sst.aws.Queue, alertEmail: sst.Secret, replication?: Replication, after?: AfterMigrations) {
  const topic = new sst.aws.SnsTopic("Alerts");
  new aws.sns.TopicSubscription("AlertsEmail", { topic: topic.arn, protocol: "email", endpoint: alertEmail.value });
  const created = ALARMS.map(
    (a) =>
      new aws.cloudwatch.MetricAlarm(
        a.name,
        {
          name: `${$app.name}-${$app.stage}-${a.name}`,
          namespace: METRICS_NAMESPACE,
          metricName: a.metric,
          dimensions: { service: METRICS_SERVICE, ...a.dimensions },
          statistic: a.statistic,
          comparisonOperator: a.comparison,
          threshold: a.threshold,
          period: a.periodSeconds,
          evaluationPeriods: a.evaluationPeriods,
          datapointsToAlarm: a.evaluationPeriods,
          treatMissingData: a.treatMissingData,
          alarmActions: [topic.arn],
          okActions: [topic.arn],
          tags: { severity: a.severity },
        },
        after,
      ),
  );
  created.push(
    new aws.cloudwatch.MetricAlarm(JOBS_DEAD_LETTER_ALARM, {
      name: `${$app.name}-${$app.stage}-${JOBS_DEAD_LETTER_ALARM}`,
      alarmDescription:
        "A scheduled job failed all its retries (backup, snapshot or archive): see the JobsDeadLetters queue and the job's logs",
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: jobsDeadLetters.nodes.queue.name },
      statistic: "Maximum",
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      period: 300,
      evaluationPeriods: 1,
      treatMissingData: "notBreaching",
      alarmActions: [topic.arn],
      okActions: [topic.arn],
      tags: { severity: "critical" },
    }),
  );
  if (replication) created.push(...replicationAlarms(topic, replication));
  const region = aws.getRegionOutput().region;
  const series = (m: string) =>
    m.startsWith("backup_runs_total:")
      ? [METRICS_NAMESPACE, "backup_runs_total", "service", METRICS_SERVICE, "kind", m.split(":")[1]!, "outcome", "success"]
      : [METRICS_NAMESPACE, m, "service", METRICS_SERVICE];
  const graph = (title: string, metrics: string[], stat: string) => ({
    type: "metric",
    width: 12,
    height: 6,
    properties: { title, stat, period: 60, region, metrics: metrics.map(series) },
  });
  const dashboard = new aws.cloudwatch.Dashboard("Operations", {
    dashboardName: `${$app.name}-${$app.stage}`,
    dashboardBody: $jsonStringify({
      widgets: [
        graph("HTTP requests", ["http_requests_total"], "Sum"),
        graph("Latency (s)", ["http_request_duration_seconds", "query_duration_seconds", "operation_latency_seconds"], "Average"),
        graph("WAL depth", ["wal_depth"], "Maximum"),
        graph("WAL flow", ["wal_ingested_total", "wal_claims_total", "wal_acks_total", "wal_dead_letters_total"], "Sum"),
        graph("Reviews", ["review_transitions_total", "outbox_sent_total"], "Sum"),
        graph(
          "Store errors",
          ["connection_errors_total", "store_timeouts_total", "postgres_breaker_transitions_total", "redis_breaker_transitions_total"],
          "Sum",
        ),
        graph("Memory compression", ["compression_events_total", "compression_failures_total", "memory_corruption_total"], "Sum"),
        graph("Backups (successful runs)", ["backup_runs_total:postgres", "backup_runs_total:redis", "backup_runs_total:archive"], "Sum"),
        graph("Backup age (s)", ["postgres_backup_age_seconds", "redis_backup_age_seconds"], "Maximum"),
      ],
    }),
  });
  return { topic, alarms: created, dashboard };
}

/**
 * S3 replication metrics (on in infra/storage.ts): any failed replication operation, or objects
 * waiting longer than REPLICATION_LATE_SECONDS. No data means nothing was replicated: OK.
 */
function replicationAlarms(topic: sst.aws.SnsTopic, r: Replication) {
  const dimensions = { SourceBucket: r.sourceBucket, DestinationBucket: r.destinationBucket, RuleId: r.ruleId };
  const common = {
    namespace: "AWS/S3",
    dimensions,
    period: 300,
    evaluationPeriods: 1,
    treatMissingData: "notBreaching",
    alarmActions: [topic.arn],
    okActions: [topic.arn],
  };
  return [
    new aws.cloudwatch.MetricAlarm("ReplicationFailed", {
      ...common,
      name: `${$app.name}-${$app.stage}-ReplicationFailed`,
      alarmDescription: "S3 failed to replicate objects to the backup replica (permissions, KMS): see the replication configuration",
      metricName: "OperationsFailedReplication",
      statistic: "Sum",
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      tags: { severity: "critical" },
    }),
    new aws.cloudwatch.MetricAlarm("ReplicationLate", {
      ...common,
      name: `${$app.name}-${$app.stage}-ReplicationLate`,
      alarmDescription: "Objects wait to be replicated to the backup replica for longer than an hour",
      metricName: "ReplicationLatency",
      statistic: "Maximum",
      comparisonOperator: "GreaterThanThreshold",
      threshold: REPLICATION_LATE_SECONDS,
      tags: { severity: "warning" },
    }),
  ];
}
