import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface Declared { kind: string; name: string; args: Record<string, any>; opts?: Record<string, any>; self?: unknown }
const declared: Declared[] = [];
const g = globalThis as any;

/** Recording stand-ins for SST's globals: every construct records its kind, name and arguments. */
function recorder(kind: string) {
  return class {
    name: string; url: string; arn: string; id: string; nodes: Record<string, { name: string }>;
    constructor(name: string, args: Record<string, any> = {}, opts?: Record<string, any>) {
      declared.push({ kind, name, args, opts, self: this });
      this.name = `${name}-name`; this.url = `https://${name}.lambda-url`; this.arn = `arn:${name}`; this.id = `${name}-id`;
      this.nodes = { role: { name: `${name}-role` }, queue: { name: `${name}-queue` } };
    }
  };
}

beforeAll(() => {
  g.$config = (c: unknown) => c;
  g.$app = { name: "hitl-data-layer", stage: "test" };
  g.$dev = false;
  process.env.ALERT_EMAIL = "ops@example.org";
  g.sst = { Secret: recorder("sst.Secret"), aws: { Function: recorder("sst.aws.Function"), Bucket: recorder("sst.aws.Bucket"), CronV2: recorder("sst.aws.CronV2"), Queue: recorder("sst.aws.Queue"), SnsTopic: recorder("sst.aws.SnsTopic") } };
  g.aws = {
    s3: { BucketServerSideEncryptionConfiguration: recorder("aws.s3.Encryption"), BucketLifecycleConfiguration: recorder("aws.s3.Lifecycle"),
      Bucket: recorder("aws.s3.Bucket"), BucketVersioning: recorder("aws.s3.Versioning"), BucketReplicationConfig: recorder("aws.s3.Replication"),
      BucketPublicAccessBlock: recorder("aws.s3.PublicAccessBlock") },
    kms: { Key: recorder("aws.kms.Key") },
    lambda: { Invocation: recorder("aws.lambda.Invocation"), FunctionEventInvokeConfig: recorder("aws.lambda.FunctionEventInvokeConfig") },
    getRegionOutput: () => ({ region: "eu-central-1" }),
    sns: { TopicSubscription: recorder("aws.sns.TopicSubscription") },
    iam: { Role: recorder("aws.iam.Role"), RolePolicy: recorder("aws.iam.RolePolicy") },
    cloudwatch: { MetricAlarm: recorder("aws.cloudwatch.MetricAlarm"), Dashboard: recorder("aws.cloudwatch.Dashboard") },
    Provider: recorder("aws.Provider"),
  };
  g.$interpolate = (strings: TemplateStringsArray, ...v: unknown[]) => strings.reduce((a, s, i) => a + s + (i < v.length ? String(v[i]) : ""), "");
  g.$jsonStringify = JSON.stringify;
});
afterAll(() => {
  for (const k of ["$config", "$app", "$dev", "sst", "aws", "$interpolate", "$jsonStringify"]) delete g[k];
  delete process.env.ALERT_EMAIL;
});

const byKind = (kind: string) => declared.filter((d) => d.kind === kind);

describe("sst.config.ts", () => {
  it("declares the app with production protected and retained", async () => {
    // Imported by path at run time: SST's globals have no types outside an `sst` project checkout.
    const configPath = path.resolve("sst.config.ts");
    const config = (await import(/* @vite-ignore */ configPath)).default as any;
    expect(config.app({ stage: "production" })).toMatchObject({ name: "hitl-data-layer", home: "aws", removal: "retain", protect: true });
    expect(config.app({ stage: "dev" })).toMatchObject({ removal: "remove", protect: false });
    const out = await config.run();
    expect(out.api).toMatch(/lambda-url/);
  });

  it("declares the alarms, the jobs' dead-letter alarm and a dashboard in the deployment's region", () => {
    const alarms = byKind("aws.cloudwatch.MetricAlarm");
    expect(alarms.map((a) => a.name)).toEqual(["DatabasePoolExhaustion", "RedisHighLatency",
      "MemoryCompressionFailure", "PostgresBackupMissed", "RedisSnapshotMissed", "DeadLetterGrowth", "JobsDeadLettered"]);
    const dl = alarms.find((a) => a.name === "JobsDeadLettered")!.args;
    expect(dl).toMatchObject({ namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: "JobsDeadLetters-queue" },
      comparisonOperator: "GreaterThanThreshold", threshold: 0, alarmActions: ["arn:Alerts"] });
    // Labelled counters are dimensions of one metric (functions/lib/emf.ts), not one metric name each.
    expect(alarms.find((a) => a.name === "PostgresBackupMissed")!.args).toMatchObject({ metricName: "backup_runs_total",
      dimensions: { service: "hitl-data-layer", kind: "postgres", outcome: "success" } });
    const [dash] = byKind("aws.cloudwatch.Dashboard");
    const widgets = JSON.parse(dash!.args.dashboardBody).widgets;
    expect(new Set(widgets.map((w: any) => w.properties.region))).toEqual(new Set(["eu-central-1"]));
    expect(byKind("sst.aws.SnsTopic").map((t) => t.name)).toEqual(["Alerts"]);
  });

  it("updates the API and the jobs only after this deploy's migrations ran", () => {
    const [invocation] = byKind("aws.lambda.Invocation");
    expect(invocation!.args.functionName).toBe("Migrate-name");
    const dependents = byKind("sst.aws.Function").filter((f) => f.name !== "Migrate");
    expect(dependents.map((d) => d.name).sort()).toEqual(["AnalyticsRollupJob", "Api", "ArchiveJob", "BackupPostgresJob", "BackupRedisJob"]);
    for (const d of dependents) expect(d.opts?.dependsOn, d.name).toEqual([invocation!.self]);
    expect(byKind("sst.aws.Function").find((f) => f.name === "Migrate")!.opts?.dependsOn).toBeUndefined();
  });

  it("retries each failed job through Lambda's async config, then sends it to the dead-letter queue, with the permissions this needs", () => {
    const [dlq] = byKind("sst.aws.Queue");
    const configs = byKind("aws.lambda.FunctionEventInvokeConfig");
    expect(configs.map((c) => c.args.functionName).sort()).toEqual(["AnalyticsRollupJob-name", "ArchiveJob-name", "BackupPostgresJob-name", "BackupRedisJob-name"]);
    for (const c of configs) expect(c.args).toMatchObject({ maximumRetryAttempts: 2, destinationConfig: { onFailure: { destination: `arn:${dlq!.name}` } } });
    const policies = byKind("aws.iam.RolePolicy").filter((p) => p.name.endsWith("JobAsync"));
    expect(policies).toHaveLength(4);
    for (const p of policies) {
      const job = p.name.replace(/Async$/, "");
      expect(p.args.role).toBe(`${job}-role`);
      expect(JSON.parse(p.args.policy).Statement).toEqual([
        { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: `arn:${dlq!.name}` },
        { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: `arn:${job}` },
      ]);
    }
  });

  it("grants S3 by prefix: the API never deletes and never touches backups/; only the jobs write and expire backups; nothing is linked to the bucket", () => {
    const fns = byKind("sst.aws.Function");
    for (const f of fns) expect(f.args.link.map((l: any) => l.name), f.name).not.toContain("Backups-name");
    const actions = (name: string) => (fns.find((f) => f.name === name)!.args.permissions ?? []) as { actions: string[]; resources: string[] }[];
    expect(actions("Migrate")).toEqual([]);
    expect(actions("AnalyticsRollupJob")).toEqual([]); // Postgres only
    expect(actions("Api")).toEqual([
      { actions: ["s3:ListBucket"], resources: ["arn:Backups"] },
      { actions: ["s3:PutObject"], resources: ["arn:Backups/erasures/*"] },
      { actions: ["s3:GetObject", "s3:PutObject"], resources: ["arn:Backups/archives/*"] },
    ]);
    for (const job of ["BackupPostgresJob", "BackupRedisJob", "ArchiveJob"]) {
      const grants = actions(job);
      expect(grants.flatMap((g) => g.resources)).toContain("arn:Backups/backups/*");
      expect(grants.flatMap((g) => g.actions)).toContain("s3:DeleteObject");
    }
    for (const f of fns) for (const g of actions(f.name)) for (const a of g.actions) {
      expect(a, f.name).not.toMatch(/\*|DeleteObjectVersion|Policy|PutBucket|PutLifecycle|PutReplication/);
      if (f.name === "Api") expect(a).not.toMatch(/Delete/);
    }
    // The bucket's name reaches the functions through the environment instead.
    for (const f of fns.filter((f) => f.name !== "Migrate")) expect(f.args.environment.S3_BUCKET, f.name).toBe("Backups-name");
  });

  it("autodeploys main to production only; CORS off; the alerts reach ALERT_EMAIL; no crons under sst dev", async () => {
    const config = (await import(/* @vite-ignore */ path.resolve("sst.config.ts"))).default as any;
    const target = config.console.autodeploy.target;
    expect(target({ type: "branch", branch: "main", action: "pushed" })).toEqual({ stage: "production" });
    expect(target({ type: "branch", branch: "feature", action: "pushed" })).toBeUndefined();
    expect(target({ type: "pull_request", number: 3, action: "pushed" })).toBeUndefined();
    expect(byKind("sst.aws.Function").find((f) => f.name === "Api")!.args.url).toEqual({ cors: false });
    expect(byKind("sst.aws.Bucket").find((b) => b.name === "Backups")!.args.cors).toBe(false);
    expect(byKind("aws.sns.TopicSubscription").map((t) => t.args)).toEqual([{ topic: "arn:Alerts", protocol: "email", endpoint: "ops@example.org" }]);
    g.$dev = true;
    const recorded = declared.length;
    try {
      const { jobs } = await import(/* @vite-ignore */ path.resolve("infra/jobs.ts"));
      const before = byKind("sst.aws.CronV2").length;
      expect(jobs({}, {}).crons).toEqual([]);
      expect(byKind("sst.aws.CronV2")).toHaveLength(before);
    } finally {
      g.$dev = false;
      declared.splice(recorded);
    }
  });

  it("declares the five secrets", () => {
    expect(byKind("sst.Secret").map((d) => d.name).sort()).toEqual(["ApiKeys", "DatabaseUrl", "ErasureHashKey", "UpstashToken", "UpstashUrl"]);
  });

  it("schedules the job functions with CronV2 (delivery retries and the same dead-letter queue)", async () => {
    const crons = byKind("sst.aws.CronV2");
    expect(crons.map((c) => [c.name, c.args.schedule])).toEqual([
      ["BackupPostgres", "cron(0 3 * * ? *)"], ["BackupRedis", "rate(6 hours)"], ["Archive", "cron(30 4 * * ? *)"], ["AnalyticsRollup", "rate(5 minutes)"]]);
    const [dlq] = byKind("sst.aws.Queue");
    for (const c of crons) {
      expect(c.args).toMatchObject({ retries: 2, dlq: dlq && `arn:${dlq.name}` });
      const fn = byKind("sst.aws.Function").find((f) => f.self === c.args.function)!;
      expect(fn.name).toBe(`${c.name}Job`);
      const file = path.resolve(fn.args.handler.replace(/\.[^.]+$/, "") + ".ts");
      expect(typeof (await import(file)).handler).toBe("function");
    }
  });

  it("replicates SSE-KMS objects to another region only when BACKUP_REPLICA_REGION is set, after versioning, with its own key and lifecycle", async () => {
    expect(byKind("aws.s3.Replication")).toHaveLength(0);
    process.env.BACKUP_REPLICA_REGION = "eu-west-1";
    try {
      const { backupBucket } = await import(/* @vite-ignore */ path.resolve("infra/storage.ts"));
      const { versioning } = backupBucket();
      const [rep] = byKind("aws.s3.Replication");
      const [key] = byKind("aws.kms.Key");
      expect(rep!.args.rules[0]).toMatchObject({ status: "Enabled", destination: { bucket: "arn:BackupsReplica", encryptionConfiguration: { replicaKmsKeyId: "arn:BackupsReplicaKey" } },
        sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } }, deleteMarkerReplication: { status: "Disabled" } });
      const replicaVersioning = byKind("aws.s3.Versioning").find((v) => v.name === "BackupsReplicaVersioning")!;
      const policy = byKind("aws.iam.RolePolicy").find((p) => p.name === "BackupsReplicationPolicy")!;
      expect(rep!.opts!.dependsOn).toEqual([versioning, replicaVersioning.self, policy.self]);
      const statements = JSON.parse(policy.args.policy).Statement as { Action: string[]; Resource: string; Condition?: any }[];
      expect(statements.find((st) => st.Action.includes("kms:Decrypt"))!.Condition.StringLike).toEqual({
        "kms:ViaService": "s3.eu-central-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": "arn:Backups/*" });
      expect(statements.find((st) => st.Action.includes("kms:Encrypt"))!.Resource).toBe((key!.self as { arn: string }).arn);
      const replicaLife = byKind("aws.s3.Lifecycle").find((l) => l.name === "BackupsReplicaLifecycle")!;
      expect(replicaLife.args.rules.map((r: any) => r.id)).toEqual(["abort-stale-multipart", "expire-noncurrent", "backups-safety-expiry"]);
      expect(byKind("aws.s3.PublicAccessBlock")).toHaveLength(1);
      expect(byKind("aws.Provider")[0]!.args).toEqual({ region: "eu-west-1" });
    } finally { delete process.env.BACKUP_REPLICA_REGION; }
  });

  it("points every function at a handler file that exists and exports it", async () => {
    const fns = byKind("sst.aws.Function");
    expect(fns.map((f) => f.name).sort()).toEqual(["AnalyticsRollupJob", "Api", "ArchiveJob", "BackupPostgresJob", "BackupRedisJob", "Migrate"]);
    for (const f of fns) {
      const [file, exported] = [f.args.handler.replace(/\.[^.]+$/, ""), f.args.handler.split(".").pop()];
      const source = path.resolve(`${file}.ts`);
      expect(existsSync(source), source).toBe(true);
      expect(typeof (await import(source))[exported]).toBe("function");
      expect(f.args.link.map((l: any) => l.name).sort()).toEqual(["ApiKeys-name", "DatabaseUrl-name", "ErasureHashKey-name", "UpstashToken-name", "UpstashUrl-name"]);
    }
    const api = fns.find((f) => f.name === "Api")!;
    expect(api.args.url).toBeTruthy();
    // SST bundles each function with the plugins and externals `npm run build` measures.
    for (const f of fns) {
      expect(f.args.nodejs, f.name).toMatchObject({ plugins: "infra/esbuild-plugins.mjs", esbuild: { external: expect.arrayContaining(["ws"]) } });
      expect(existsSync(f.args.nodejs.plugins)).toBe(true);
      // Only the API is split into chunks loaded on first use; the jobs read files beside their bundle.
      expect(f.args.nodejs.splitting === true, f.name).toBe(f.name === "Api");
    }
  });

  it("runs migrations on every deploy through an invocation of the migrate function", () => {
    const inv = byKind("aws.lambda.Invocation");
    expect(inv).toHaveLength(1);
    expect(inv[0]!.args.functionName).toBe("Migrate-name");
    const migrate = byKind("sst.aws.Function").find((f) => f.name === "Migrate")!;
    expect(migrate.args.copyFiles).toEqual([{ from: "packages/core/migrations", to: "migrations" }]);
    expect(existsSync(migrate.args.copyFiles[0].from)).toBe(true);
  });

  it("makes the backup bucket versioned, encrypted, and abort stale multipart uploads, with S3's current (not deprecated) resources", () => {
    const [bucket] = byKind("sst.aws.Bucket");
    expect(bucket!.name).toBe("Backups");
    expect(byKind("aws.s3.Versioning").find((v) => v.name === "BackupsVersioning")!.args.versioningConfiguration).toEqual({ status: "Enabled" });
    const [enc] = byKind("aws.s3.Encryption");
    expect(enc!.args.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm).toBe("aws:kms");
    const [life] = byKind("aws.s3.Lifecycle");
    const abort = life!.args.rules.find((r: any) => r.abortIncompleteMultipartUpload);
    expect(abort).toMatchObject({ status: "Enabled", abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } });
  });
});
