/** Must match functions/lib/emf.ts: the namespace and service dimension the metrics are emitted under. */
export const METRICS_NAMESPACE = "HitlDataLayer";
export const METRICS_SERVICE = "hitl-data-layer";

export interface AlarmSpec {
  name: string;
  metric: string;
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
  { name: "PostgresBackupMissed", metric: "backup_runs_total__kind_postgres__outcome_success", statistic: "Sum", comparison: "LessThanThreshold", threshold: 1, periodSeconds: 7200, evaluationPeriods: 13, treatMissingData: "breaching", severity: "critical" },
  { name: "RedisSnapshotMissed", metric: "backup_runs_total__kind_redis__outcome_success", statistic: "Sum", comparison: "LessThanThreshold", threshold: 1, periodSeconds: 3600, evaluationPeriods: 7, treatMissingData: "breaching", severity: "warning" },
  { name: "DeadLetterGrowth", metric: "wal_dead_letters_total", statistic: "Sum", comparison: "GreaterThanThreshold", threshold: 0, periodSeconds: 900, evaluationPeriods: 1, treatMissingData: "notBreaching", severity: "warning" },
];

/** CloudWatch alarms to an SNS topic, and a dashboard with the key graphs. */
export function alarms() {
  const topic = new sst.aws.SnsTopic("Alerts");
  // Someone must receive the alarms: ALERT_EMAIL at deploy time subscribes that address.
  const email = process.env.ALERT_EMAIL;
  if (email) new aws.sns.TopicSubscription("AlertsEmail", { topic: topic.arn, protocol: "email", endpoint: email });
  const dimensions = { service: METRICS_SERVICE };
  const created = ALARMS.map((a) => new aws.cloudwatch.MetricAlarm(a.name, {
    name: `${$app.name}-${$app.stage}-${a.name}`,
    namespace: METRICS_NAMESPACE, metricName: a.metric, dimensions,
    statistic: a.statistic, comparisonOperator: a.comparison, threshold: a.threshold,
    period: a.periodSeconds, evaluationPeriods: a.evaluationPeriods, datapointsToAlarm: a.evaluationPeriods,
    treatMissingData: a.treatMissingData, alarmActions: [topic.arn], okActions: [topic.arn],
    tags: { severity: a.severity },
  }));
  const graph = (title: string, metrics: string[], stat: string) => ({
    type: "metric", width: 12, height: 6,
    properties: { title, stat, period: 60, region: $app.providers?.aws?.region ?? "us-east-1", metrics: metrics.map((m) => [METRICS_NAMESPACE, m, "service", METRICS_SERVICE]) },
  });
  const dashboard = new aws.cloudwatch.Dashboard("Operations", {
    dashboardName: `${$app.name}-${$app.stage}`,
    dashboardBody: JSON.stringify({ widgets: [
      graph("HTTP requests", ["http_requests_total"], "Sum"),
      graph("Latency (s)", ["http_request_duration_seconds", "query_duration_seconds", "operation_latency_seconds"], "Average"),
      graph("WAL depth", ["wal_depth"], "Maximum"),
      graph("WAL flow", ["wal_ingested_total", "wal_claims_total", "wal_acks_total", "wal_dead_letters_total"], "Sum"),
      graph("Reviews", ["review_transitions_total", "outbox_sent_total"], "Sum"),
      graph("Postgres pool", ["pool_size_active", "pool_size_waiting", "connection_errors_total"], "Maximum"),
      graph("Memory compression", ["compression_events_total", "compression_failures_total", "memory_corruption_total"], "Sum"),
      graph("Backups", ["backup_runs_total__kind_postgres__outcome_success", "backup_runs_total__kind_redis__outcome_success", "backup_runs_total__kind_archive__outcome_success"], "Sum"),
    ] }),
  });
  return { topic, alarms: created, dashboard };
}
