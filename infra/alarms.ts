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
  /** Missing data is an alarm for "it did not happen" alarms (backups). */
  treatMissingData: "notBreaching" | "breaching";
  severity: "warning" | "critical";
}

/** The seed's three alerts, plus missed backups and dead-letter growth (ops/prometheus/alerts.yml has the same). */
export const ALARMS: AlarmSpec[] = [
  { name: "DatabasePoolExhaustion", metric: "pool_size_waiting", statistic: "Maximum", comparison: "GreaterThanThreshold", threshold: 5, periodSeconds: 60, evaluationPeriods: 5, treatMissingData: "notBreaching", severity: "warning" },
  { name: "RedisHighLatency", metric: "operation_latency_seconds", statistic: "Average", comparison: "GreaterThanThreshold", threshold: 0.01, periodSeconds: 60, evaluationPeriods: 5, treatMissingData: "notBreaching", severity: "warning" },
  { name: "MemoryCompressionFailure", metric: "compression_failures_total", statistic: "Sum", comparison: "GreaterThanThreshold", threshold: 10, periodSeconds: 300, evaluationPeriods: 1, treatMissingData: "notBreaching", severity: "critical" },
  { name: "PostgresBackupMissed", metric: "backup_runs_total", dimensions: { kind: "postgres", outcome: "success" }, statistic: "Sum", comparison: "LessThanThreshold", threshold: 1, periodSeconds: 7200, evaluationPeriods: 13, treatMissingData: "breaching", severity: "critical" },
  { name: "RedisSnapshotMissed", metric: "backup_runs_total", dimensions: { kind: "redis", outcome: "success" }, statistic: "Sum", comparison: "LessThanThreshold", threshold: 1, periodSeconds: 3600, evaluationPeriods: 7, treatMissingData: "breaching", severity: "warning" },
  { name: "DeadLetterGrowth", metric: "wal_dead_letters_total", statistic: "Sum", comparison: "GreaterThanThreshold", threshold: 0, periodSeconds: 900, evaluationPeriods: 1, treatMissingData: "notBreaching", severity: "warning" },
];

/** Jobs whose every retry failed land in this queue: one message is one lost job run. */
export const JOBS_DEAD_LETTER_ALARM = "JobsDeadLettered";

/**
 * CloudWatch alarms to an SNS topic (ALERT_EMAIL at deploy time subscribes an address), the jobs'
 * dead-letter queue alarm, and a dashboard with the key graphs in the deployment's own region.
 */
export function alarms(jobsDeadLetters: sst.aws.Queue) {
  const topic = new sst.aws.SnsTopic("Alerts");
  const email = process.env.ALERT_EMAIL;
  if (email) new aws.sns.TopicSubscription("AlertsEmail", { topic: topic.arn, protocol: "email", endpoint: email });
  const created = ALARMS.map((a) => new aws.cloudwatch.MetricAlarm(a.name, {
    name: `${$app.name}-${$app.stage}-${a.name}`,
    namespace: METRICS_NAMESPACE, metricName: a.metric, dimensions: { service: METRICS_SERVICE, ...a.dimensions },
    statistic: a.statistic, comparisonOperator: a.comparison, threshold: a.threshold,
    period: a.periodSeconds, evaluationPeriods: a.evaluationPeriods, datapointsToAlarm: a.evaluationPeriods,
    treatMissingData: a.treatMissingData, alarmActions: [topic.arn], okActions: [topic.arn],
    tags: { severity: a.severity },
  }));
  created.push(new aws.cloudwatch.MetricAlarm(JOBS_DEAD_LETTER_ALARM, {
    name: `${$app.name}-${$app.stage}-${JOBS_DEAD_LETTER_ALARM}`,
    alarmDescription: "A scheduled job failed all its retries (backup, snapshot or archive): see the JobsDeadLetters queue and the job's logs",
    namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: jobsDeadLetters.nodes.queue.name },
    statistic: "Maximum", comparisonOperator: "GreaterThanThreshold", threshold: 0,
    period: 300, evaluationPeriods: 1, treatMissingData: "notBreaching", alarmActions: [topic.arn], okActions: [topic.arn],
    tags: { severity: "critical" },
  }));
  const region = aws.getRegionOutput().region;
  const series = (m: string) => m.startsWith("backup_runs_total:")
    ? [METRICS_NAMESPACE, "backup_runs_total", "service", METRICS_SERVICE, "kind", m.split(":")[1]!, "outcome", "success"]
    : [METRICS_NAMESPACE, m, "service", METRICS_SERVICE];
  const graph = (title: string, metrics: string[], stat: string) => ({
    type: "metric", width: 12, height: 6,
    properties: { title, stat, period: 60, region, metrics: metrics.map(series) },
  });
  const dashboard = new aws.cloudwatch.Dashboard("Operations", {
    dashboardName: `${$app.name}-${$app.stage}`,
    dashboardBody: $jsonStringify({ widgets: [
      graph("HTTP requests", ["http_requests_total"], "Sum"),
      graph("Latency (s)", ["http_request_duration_seconds", "query_duration_seconds", "operation_latency_seconds"], "Average"),
      graph("WAL depth", ["wal_depth"], "Maximum"),
      graph("WAL flow", ["wal_ingested_total", "wal_claims_total", "wal_acks_total", "wal_dead_letters_total"], "Sum"),
      graph("Reviews", ["review_transitions_total", "outbox_sent_total"], "Sum"),
      graph("Postgres pool", ["pool_size_active", "pool_size_waiting", "connection_errors_total"], "Maximum"),
      graph("Memory compression", ["compression_events_total", "compression_failures_total", "memory_corruption_total"], "Sum"),
      graph("Backups (successful runs)", ["backup_runs_total:postgres", "backup_runs_total:redis", "backup_runs_total:archive"], "Sum"),
    ] }),
  });
  return { topic, alarms: created, dashboard };
}
