import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createTestContext, type TestContext } from "./support/stack.js";
import { emfPublisher } from "../functions/lib/emf.js";

/** The seed addendum's metric names (Monitoring & Alerting), plus the project's own. */
const SEED_METRICS = [
  "pool_size_active",
  "pool_size_waiting",
  "query_duration_seconds",
  "connection_errors_total",
  "connection_pool_hits",
  "connection_pool_misses",
  "operation_latency_seconds",
  "memory_usage_bytes",
  "context_size_bytes",
  "compression_events_total",
  "compression_duration_seconds",
];
const PROJECT_METRICS = [
  "wal_depth",
  "wal_dead_letters_total",
  "redis_breaker_state",
  "backup_age_seconds",
  "backup_runs_total",
  "memory_corruption_total",
  "compression_failures_total",
];

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
  // Exercise the paths that observe each metric.
  await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "obs", text: "hi" } });
  await t.call("GET", "/v1/messages/stats", { key: t.keys.agent });
  await t.call("PATCH", "/v1/users/obs/memory/context", { key: t.keys.agent, body: { updates: { name: "O", notes: "n".repeat(5000) } } });
  t.services.metrics.backupRuns.inc({ kind: "postgres", outcome: "success" });
});

describe("metrics, both ways", () => {
  it("serves every seed and project metric as Prometheus text", async () => {
    const text = await (await t.call("GET", "/metrics", { key: t.keys.admin })).text();
    for (const name of [...SEED_METRICS, ...PROJECT_METRICS]) expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    expect(text).toMatch(/^memory_usage_bytes [1-9]\d*$/m);
  });

  it("emits every seed metric as CloudWatch EMF through Powertools", async () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    (process.stdout as { write: unknown }).write = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    try {
      await emfPublisher(t.services.metrics.registry).publish();
    } finally {
      (process.stdout as { write: unknown }).write = write;
    }
    const docs = lines
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const names = docs.flatMap((d) => d._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name));
    for (const name of SEED_METRICS.filter((n) => !n.includes("seconds") && n !== "context_size_bytes"))
      expect(names, name).toContain(name);
    // Histograms go out when they observed something in the flush window.
    for (const name of ["query_duration_seconds", "operation_latency_seconds", "context_size_bytes", "compression_duration_seconds"])
      expect(names, name).toContain(name);
    // Labelled counters: one metric name, the labels as dimensions (a bounded set of custom metrics).
    const backups = docs.filter((d) => d._aws.CloudWatchMetrics[0].Dimensions[0].includes("kind"));
    expect(backups.map((d) => [d._aws.CloudWatchMetrics[0].Dimensions[0], d.kind, d.outcome, d.backup_runs_total])).toContainEqual([
      ["service", "kind", "outcome"],
      "postgres",
      "success",
      1,
    ]);
    expect(names.filter((n: string) => n.includes("__"))).toEqual([]);
    expect(docs[0]._aws.CloudWatchMetrics[0].Namespace).toBe("HitlDataLayer");
    expect(docs[0].service).toBe("hitl-data-layer");
  });
});

describe("EMF after the first flush", () => {
  it("sends only what moved: counters that grew, histograms that observed, gauges away from zero (or just back to it)", async () => {
    const { createMetrics } = await import("@hitl/core");
    const m = createMetrics();
    const publisher = emfPublisher(m.registry);
    const flush = async () => {
      const lines: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      (process.stdout as { write: unknown }).write = (chunk: string | Uint8Array) => {
        lines.push(String(chunk));
        return true;
      };
      try {
        await publisher.publish();
      } finally {
        (process.stdout as { write: unknown }).write = write;
      }
      const docs = lines
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      return { docs, names: docs.flatMap((d) => d._aws.CloudWatchMetrics[0].Metrics.map((x: { Name: string }) => x.Name)) as string[] };
    };
    const first = await flush();
    expect(first.names).toEqual(expect.arrayContaining(["connection_errors_total", "pool_size_waiting", "redis_breaker_state"]));
    m.httpRequests.inc({ method: "POST", route: "/v1/messages", status: "202" });
    m.walIngested.inc({ status: "queued" });
    m.breakerState.set(2);
    const second = await flush();
    expect(second.names.sort()).toEqual([
      "http_requests_total",
      "http_requests_total",
      "redis_breaker_state",
      "wal_ingested_total",
      "wal_ingested_total",
    ]);
    const byRoute = second.docs.find((d) => d.route === "/v1/messages");
    expect(byRoute).toMatchObject({ status: "202", http_requests_total: 1 });
    expect(byRoute._aws.CloudWatchMetrics[0].Dimensions[0]).toEqual(["service", "route", "status"]);
    // A breaker held open is sent every flush; once closed, its zero is sent once.
    expect((await flush()).names).toEqual(["redis_breaker_state"]);
    m.breakerState.set(0);
    expect((await flush()).names).toEqual(["redis_breaker_state"]);
    expect((await flush()).names).toEqual([]);
  });
});

describe("alerts", () => {
  const declared: { kind: string; name: string; args: any }[] = [];
  const g = globalThis as any;
  beforeAll(() => {
    const rec = (kind: string) =>
      class {
        name: string;
        arn: string;
        constructor(name: string, args: any = {}) {
          declared.push({ kind, name, args });
          this.name = name;
          this.arn = `arn:${name}`;
        }
      };
    g.$app = { name: "hitl", stage: "test" };
    g.sst = { aws: { SnsTopic: rec("topic") } };
    g.aws = {
      cloudwatch: { MetricAlarm: rec("alarm"), Dashboard: rec("dashboard") },
      sns: { TopicSubscription: rec("subscription") },
      getRegionOutput: () => ({ region: "eu-west-1" }),
    };
    g.$jsonStringify = JSON.stringify;
  });
  afterAll(() => {
    for (const k of ["$app", "sst", "aws", "$jsonStringify"]) delete g[k];
  });

  it("declares the seed's alarms that mean something on Neon with its thresholds, store-error, backup-age and dead-letter alarms, to an SNS topic", async () => {
    const { alarms } = await import(/* @vite-ignore */ path.resolve("infra/alarms.ts"));
    alarms({ nodes: { queue: { name: "jobs-dlq" } } }, { value: "ops@example.org" });
    const by = Object.fromEntries(declared.filter((d) => d.kind === "alarm").map((d) => [d.name, d.args]));
    // The seed's pool alarm watched a gauge no Neon HTTP instance moves: connection errors, timeouts and breakers instead (README).
    expect(by.DatabasePoolExhaustion).toBeUndefined();
    expect(by.PostgresConnectionErrors).toMatchObject({
      metricName: "connection_errors_total",
      dimensions: { service: "hitl-data-layer", store: "postgres" },
    });
    expect(by.RedisHighLatency).toMatchObject({
      metricName: "operation_latency_seconds",
      threshold: 0.01,
      statistic: "Average",
      period: 60,
      evaluationPeriods: 5,
    });
    expect(by.MemoryCompressionFailure).toMatchObject({
      metricName: "compression_failures_total",
      threshold: 10,
      statistic: "Sum",
      period: 300,
      evaluationPeriods: 1,
    });
    expect(by.PostgresBackupMissed).toMatchObject({
      metricName: "postgres_backup_age_seconds",
      treatMissingData: "notBreaching",
      comparisonOperator: "GreaterThanThreshold",
      threshold: 33 * 3600,
    });
    expect(by.RedisSnapshotMissed).toMatchObject({ metricName: "redis_backup_age_seconds", threshold: 7 * 3600 });
    expect(by.DeadLetterGrowth).toMatchObject({ metricName: "wal_dead_letters_total", threshold: 0 });
    // The status page's "backup overdue" marks use the same windows as these alarms.
    const { BACKUP_ALERT_AFTER_HOURS } = await import("@hitl/core");
    expect(by.PostgresBackupMissed.threshold).toBe(BACKUP_ALERT_AFTER_HOURS.postgres * 3600);
    expect(by.RedisSnapshotMissed.threshold).toBe(BACKUP_ALERT_AFTER_HOURS.redis * 3600);
    for (const a of Object.values(by)) expect((a as any).alarmActions).toEqual(["arn:Alerts"]);
    const dash = declared.find((d) => d.kind === "dashboard")!;
    expect(JSON.parse(dash.args.dashboardBody).widgets.length).toBeGreaterThanOrEqual(6);
  });

  it("ships the same alerts as Prometheus rules", () => {
    const rules = parse(readFileSync("ops/prometheus/alerts.yml", "utf8")).groups[0].rules as {
      alert: string;
      expr: string;
      for?: string;
      labels: { severity: string };
    }[];
    const by = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(by.DatabasePoolExhaustion).toMatchObject({
      expr: expect.stringContaining('increase(connection_errors_total{store="postgres"}[5m])) > 10'),
      for: "5m",
      labels: { severity: "warning" },
    });
    expect(by.RedisHighLatency).toMatchObject({ expr: expect.stringMatching(/operation_latency_seconds.*> 0\.01$/), for: "5m" });
    expect(by.MemoryCompressionFailure).toMatchObject({
      expr: expect.stringContaining("increase(compression_failures_total[5m])) > 10"),
      labels: { severity: "critical" },
    });
    expect(by.PostgresBackupMissed!.expr).toContain("> 26 * 3600");
    expect(by.RedisSnapshotMissed!.expr).toContain("> 7 * 3600");
    expect(by.DeadLetterGrowth!.expr).toContain("wal_dead_letters_total");
  });
});
