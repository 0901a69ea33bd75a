import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUNCTIONS } from "../scripts/build.js";
import { HISTORY_COLUMNS, HISTORY_QUERIES } from "@hitl/core/analytics/history-queries";
import { EXPORT_EXPIRY_DAYS } from "@hitl/core";

interface Declared {
  kind: string;
  name: string;
  args: Record<string, any>;
  opts?: Record<string, any>;
  self?: unknown;
}
const declared: Declared[] = [];
const g = globalThis as any;

/** Recording stand-ins for SST's globals: every construct records its kind, name and arguments. */
function recorder(kind: string) {
  return class {
    name: string;
    url: string;
    arn: string;
    id: string;
    bucket: string;
    value: string;
    nodes: Record<string, { name: string }>;
    constructor(name: string, args: Record<string, any> = {}, opts?: Record<string, any>) {
      declared.push({ kind, name, args, opts, self: this });
      this.name = `${name}-name`;
      this.url = `https://${name}.lambda-url`;
      this.arn = `arn:${name}`;
      this.id = `${name}-id`;
      this.bucket = `${name}-bucket`;
      this.value = `${name}-value`;
      this.nodes = { role: { name: `${name}-role` }, queue: { name: `${name}-queue` } };
    }
  };
}

beforeAll(() => {
  g.$config = (c: unknown) => c;
  g.$app = { name: "hitl-data-layer", stage: "test" };
  g.$dev = false;
  g.$cli = { paths: { root: process.cwd() } };
  // The stage's secrets, as SST hands them to the program.
  process.env.SST_SECRET_BackupReplicaRegion = "none";
  g.sst = {
    Secret: recorder("sst.Secret"),
    aws: {
      Function: recorder("sst.aws.Function"),
      Bucket: recorder("sst.aws.Bucket"),
      CronV2: recorder("sst.aws.CronV2"),
      Queue: recorder("sst.aws.Queue"),
      SnsTopic: recorder("sst.aws.SnsTopic"),
    },
  };
  g.aws = {
    s3: {
      BucketServerSideEncryptionConfiguration: recorder("aws.s3.Encryption"),
      BucketLifecycleConfiguration: recorder("aws.s3.Lifecycle"),
      Bucket: recorder("aws.s3.Bucket"),
      BucketVersioning: recorder("aws.s3.Versioning"),
      BucketReplicationConfig: recorder("aws.s3.Replication"),
      BucketPublicAccessBlock: recorder("aws.s3.PublicAccessBlock"),
    },
    kms: { Key: recorder("aws.kms.Key") },
    lambda: { Invocation: recorder("aws.lambda.Invocation"), FunctionEventInvokeConfig: recorder("aws.lambda.FunctionEventInvokeConfig") },
    getRegionOutput: () => ({ region: "eu-central-1" }),
    getCallerIdentityOutput: () => ({ accountId: "123456789012" }),
    sns: { TopicSubscription: recorder("aws.sns.TopicSubscription") },
    iam: { Role: recorder("aws.iam.Role"), RolePolicy: recorder("aws.iam.RolePolicy") },
    cloudwatch: { MetricAlarm: recorder("aws.cloudwatch.MetricAlarm"), Dashboard: recorder("aws.cloudwatch.Dashboard") },
    Provider: recorder("aws.Provider"),
    glue: { CatalogDatabase: recorder("aws.glue.CatalogDatabase"), CatalogTable: recorder("aws.glue.CatalogTable") },
    athena: { Workgroup: recorder("aws.athena.Workgroup"), NamedQuery: recorder("aws.athena.NamedQuery") },
  };
  g.$interpolate = (strings: TemplateStringsArray, ...v: unknown[]) =>
    strings.reduce((a, s, i) => a + s + (i < v.length ? String(v[i]) : ""), "");
  g.$jsonStringify = JSON.stringify;
});
afterAll(() => {
  for (const k of ["$config", "$app", "$dev", "$cli", "sst", "aws", "$interpolate", "$jsonStringify"]) delete g[k];
  delete process.env.SST_SECRET_BackupReplicaRegion;
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

  it("alarms only on metrics the code emits: no pool alarm; store errors, timeouts, breaker openings, backup ages", () => {
    const alarms = byKind("aws.cloudwatch.MetricAlarm");
    expect(alarms.map((a) => a.name)).toEqual([
      "PostgresConnectionErrors",
      "PostgresTimeouts",
      "RedisTimeouts",
      "PostgresBreakerOpened",
      "RedisBreakerOpened",
      "RedisHighLatency",
      "MemoryCompressionFailure",
      "PostgresBackupMissed",
      "RedisSnapshotMissed",
      "DeadLetterGrowth",
      "JobsDeadLettered",
      "WalBacklog",
      "ReviewQueueBacklog",
      "OutboxBacklog",
    ]);
    // Every metric and label an alarm watches is one the registry defines (and so the EMF publisher sends).
    const registry =
      readFileSync("packages/core/src/metrics/registry.ts", "utf8") + readFileSync("packages/core/src/backup/jobs.ts", "utf8");
    for (const a of alarms.filter((x) => x.args.namespace === "HitlDataLayer")) {
      expect(registry, a.name).toContain(`"${a.args.metricName}"`);
      expect(a.args.metricName).not.toMatch(/^pool_size/);
    }
    expect(readFileSync("packages/core/src/resilience/store-breaker.ts", "utf8")).toMatch(/transitions\?\.inc\(\{ to \}\)/);
    const dl = alarms.find((a) => a.name === "JobsDeadLettered")!.args;
    expect(dl).toMatchObject({
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: "JobsDeadLetters-queue" },
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      alarmActions: ["arn:Alerts"],
    });
    expect(alarms.find((a) => a.name === "PostgresBreakerOpened")!.args).toMatchObject({
      metricName: "postgres_breaker_transitions_total",
      dimensions: { service: "hitl-data-layer", to: "open" },
    });
    const [dash] = byKind("aws.cloudwatch.Dashboard");
    const widgets = JSON.parse(dash!.args.dashboardBody).widgets;
    expect(new Set(widgets.map((w: any) => w.properties.region))).toEqual(new Set(["eu-central-1"]));
    expect(JSON.stringify(widgets)).not.toContain("pool_size");
    expect(byKind("sst.aws.SnsTopic").map((t) => t.name)).toEqual(["Alerts"]);
  });

  it("starts every alarm OK on a fresh deploy (no data is never breaching); the backup ages are published by Migrate and every job", async () => {
    const alarms = byKind("aws.cloudwatch.MetricAlarm");
    for (const a of alarms) expect(a.args.treatMissingData, a.name).toBe("notBreaching");
    expect(readFileSync("functions/migrate.ts", "utf8")).toMatch(/publishBackupAges/);
    // The Postgres window fits a whole continuation chain: schedule + MAX_RUNS x 15 min + retries.
    const { MAX_RUNS } = await import("../functions/lib/job.js");
    const pg = alarms.find((a) => a.name === "PostgresBackupMissed")!.args;
    expect(pg.metricName).toBe("postgres_backup_age_seconds");
    expect(pg.threshold).toBeGreaterThan((24 + MAX_RUNS * 0.25 + 2 * 0.25) * 3600);
    // Published at least every 6 h (the Redis job): each period holds one, so an overdue backup stays in ALARM.
    expect(pg.period).toBeGreaterThan(6 * 3600);
    expect(pg.period).toBeLessThanOrEqual(86_400);
  });

  it("updates the API and the jobs only after this deploy's migrations ran", () => {
    const [invocation] = byKind("aws.lambda.Invocation");
    expect(invocation!.args.functionName).toBe("Migrate-name");
    const dependents = byKind("sst.aws.Function").filter((f) => f.name !== "Migrate");
    expect(dependents.map((d) => d.name).sort()).toEqual([
      "AnalyticsRollupJob",
      "Api",
      "ArchiveJob",
      "BacklogMonitor",
      "BackupPostgresJob",
      "BackupRedisJob",
      "ExportJob",
    ]);
    for (const d of dependents) expect(d.opts?.dependsOn, d.name).toEqual([invocation!.self]);
    expect(byKind("sst.aws.Function").find((f) => f.name === "Migrate")!.opts?.dependsOn).toBeUndefined();
  });

  it("grants every job permission in SST's `permissions` (its role's inline policy, which SST owns): no RolePolicy beside it", () => {
    expect(byKind("aws.iam.RolePolicy")).toEqual([]);
    const [dlq] = byKind("sst.aws.Queue");
    expect(dlq!.args.transform.queue).toBeTypeOf("function");
    const queueArgs: Record<string, unknown> = {};
    dlq!.args.transform.queue(queueArgs);
    expect(queueArgs.messageRetentionSeconds).toBe(14 * 86_400);
    for (const job of ["BackupPostgres", "BackupRedis", "Archive", "AnalyticsRollup"]) {
      const fn = byKind("sst.aws.Function").find((f) => f.name === `${job}Job`)!;
      const name = `hitl-data-layer-test-${job}Job`;
      expect(fn.args.name).toBe(name);
      expect(fn.args.permissions).toEqual(
        expect.arrayContaining([
          { actions: ["sqs:SendMessage"], resources: [`arn:${dlq!.name}`] },
          { actions: ["lambda:InvokeFunction"], resources: [`arn:aws:lambda:eu-central-1:123456789012:function:${name}`] },
        ]),
      );
      // Retries and the on-failure destination through SST's own event invoke config.
      expect(fn.args.retries).toBe(2);
      const config: Record<string, any> = {};
      fn.args.transform.eventInvokeConfig(config);
      expect(config).toEqual({ maximumEventAgeInSeconds: 6 * 3600, destinationConfig: { onFailure: { destination: `arn:${dlq!.name}` } } });
      expect(fn.args.concurrency).toEqual({ reserved: 2 });
    }
    expect(byKind("aws.lambda.FunctionEventInvokeConfig")).toEqual([]);
    expect(byKind("sst.aws.Function").find((f) => f.name === "Migrate")!.args.concurrency).toEqual({ reserved: 1 });
    expect(byKind("sst.aws.Function").find((f) => f.name === "Api")!.args.concurrency).toBeUndefined();
  });

  it("grants S3 by prefix: the API lists erasures/ only and writes erasure records only; each job reads, writes and deletes under its own prefix", () => {
    const fns = byKind("sst.aws.Function");
    for (const f of fns)
      expect(
        f.args.link.map((l: any) => l.name),
        f.name,
      ).not.toContain("Backups-name");
    const s3 = (name: string) =>
      (
        (fns.find((f) => f.name === name)!.args.permissions ?? []) as { actions: string[]; resources: string[]; conditions?: unknown[] }[]
      ).filter((g) => g.actions.some((a) => a.startsWith("s3:")));
    expect(s3("Migrate")).toEqual([]);
    expect(s3("AnalyticsRollupJob")).toEqual([]); // Postgres only
    expect(s3("Api")).toEqual([
      {
        actions: ["s3:ListBucket"],
        resources: ["arn:Backups"],
        conditions: [{ test: "StringLike", variable: "s3:prefix", values: ["erasures/", "erasures/*"] }],
      },
      { actions: ["s3:PutObject"], resources: ["arn:Backups/erasures/*"] },
      // Exports: a presigned GET (signed by the API's role) and an erasure's delete, under exports/ only.
      { actions: ["s3:GetObject", "s3:DeleteObject"], resources: ["arn:Backups/exports/*"] },
    ]);
    // The export function reads archived months and writes exports; it lists erasures/ only (the
    // training datasets' erased users) and changes no archive.
    expect(s3("ExportJob")).toEqual([
      {
        actions: ["s3:ListBucket"],
        resources: ["arn:Backups"],
        conditions: [{ test: "StringLike", variable: "s3:prefix", values: ["erasures/", "erasures/*"] }],
      },
      { actions: ["s3:GetObject"], resources: ["arn:Backups/archives/*"] },
      { actions: ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], resources: ["arn:Backups/exports/*"] },
    ]);
    const own = { BackupPostgresJob: "backups/postgres/", BackupRedisJob: "backups/redis/", ArchiveJob: "archives/" };
    for (const [job, prefix] of Object.entries(own)) {
      for (const g of s3(job)) {
        if (g.actions.includes("s3:ListBucket"))
          expect(g).toEqual({
            actions: ["s3:ListBucket"],
            resources: ["arn:Backups"],
            conditions: [{ test: "StringLike", variable: "s3:prefix", values: [prefix, `${prefix}*`] }],
          });
        else expect(g.resources, job).toEqual([`arn:Backups/${prefix}*`]);
      }
    }
    expect(s3("ArchiveJob").flatMap((g) => g.actions)).not.toContain("s3:DeleteObject");
    for (const f of fns)
      for (const g of s3(f.name))
        for (const a of g.actions) {
          expect(a, f.name).not.toMatch(/\*|DeleteObjectVersion|Policy|PutBucket|PutLifecycle|PutReplication/);
          if (f.name === "Api" && g.resources[0] !== "arn:Backups/exports/*") expect(a).not.toMatch(/Delete|GetObject/);
        }
    // The API invokes the export function (and nothing else), named in its environment.
    const apiFn = fns.find((f) => f.name === "Api")!;
    const exportFn = fns.find((f) => f.name === "ExportJob")!;
    expect(apiFn.args.permissions.filter((g: { actions: string[] }) => g.actions.includes("lambda:InvokeFunction"))).toEqual([
      { actions: ["lambda:InvokeFunction"], resources: ["arn:ExportJob"] },
    ]);
    expect(apiFn.args.environment.EXPORT_FUNCTION_NAME).toBe(exportFn.args.name);
    expect(exportFn.args).toMatchObject({ timeout: "15 minutes", retries: 2 });
    // The bucket's name reaches the functions through the environment instead.
    for (const f of fns.filter((f) => f.name !== "Migrate")) expect(f.args.environment.S3_BUCKET, f.name).toBe("Backups-name");
    // The health check lists exactly the prefix the API may list.
    expect(readFileSync("packages/core/src/storage/fetch-blob.ts", "utf8")).toContain('HEALTH_PREFIX = "erasures/"');
  });

  it("autodeploys main to production only, building the bundles first; CORS off; the alerts reach the AlertEmail secret; no crons under sst dev", async () => {
    const config = (await import(/* @vite-ignore */ path.resolve("sst.config.ts"))).default as any;
    const target = config.console.autodeploy.target;
    expect(target({ type: "branch", branch: "main", action: "pushed" })).toEqual({ stage: "production" });
    expect(target({ type: "branch", branch: "feature", action: "pushed" })).toBeUndefined();
    expect(target({ type: "pull_request", number: 3, action: "pushed" })).toBeUndefined();
    const ran: string[] = [];
    const $ = (parts: TemplateStringsArray) => {
      ran.push(parts.join(""));
      return Promise.resolve();
    };
    await config.console.autodeploy.workflow({ $, event: { type: "branch", action: "pushed" } });
    expect(ran).toEqual(["npm ci --no-audit --no-fund", "npm run build", "npx sst deploy"]);
    expect(byKind("sst.aws.Function").find((f) => f.name === "Api")!.args.url).toEqual({ cors: false });
    expect(byKind("sst.aws.Bucket").find((b) => b.name === "Backups")!.args.cors).toBe(false);
    expect(byKind("aws.sns.TopicSubscription").map((t) => t.args)).toEqual([
      { topic: "arn:Alerts", protocol: "email", endpoint: "AlertEmail-value" },
    ]);
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

  it("declares the secrets, deploy-time settings among them", () => {
    expect(
      byKind("sst.Secret")
        .map((d) => d.name)
        .sort(),
    ).toEqual(["AlertEmail", "ApiKeys", "BackupReplicaRegion", "DatabaseUrl", "ErasureHashKey", "UpstashToken", "UpstashUrl"]);
  });

  it("fails a deploy without the replica-region setting with one line naming it, instead of tearing replication down", async () => {
    const { backupBucket } = await import(/* @vite-ignore */ path.resolve("infra/storage.ts"));
    const recorded = declared.length;
    delete process.env.SST_SECRET_BackupReplicaRegion;
    try {
      expect(() => backupBucket()).toThrow(/^Set a value for BackupReplicaRegion with `sst secret set BackupReplicaRegion <value>`$/);
    } finally {
      process.env.SST_SECRET_BackupReplicaRegion = "none";
      declared.splice(recorded);
    }
    // No shell variable decides anything any more.
    for (const f of ["infra/storage.ts", "infra/alarms.ts", "infra/jobs.ts", "infra/api.ts", "sst.config.ts"]) {
      expect(readFileSync(f, "utf8"), f).not.toMatch(/process\.env\.(?!SST_SECRET)/);
    }
  });

  it("schedules the job functions with CronV2 (delivery retries and the same dead-letter queue)", async () => {
    const crons = byKind("sst.aws.CronV2").filter((c) => c.name !== "BacklogMonitor");
    expect(crons.map((c) => [c.name, c.args.schedule])).toEqual([
      ["BackupPostgres", "cron(0 3 * * ? *)"],
      ["BackupRedis", "rate(6 hours)"],
      ["Archive", "cron(30 4 * * ? *)"],
      ["AnalyticsRollup", "rate(5 minutes)"],
    ]);
    const [dlq] = byKind("sst.aws.Queue");
    for (const c of crons) {
      expect(c.args).toMatchObject({ retries: 2, dlq: dlq && `arn:${dlq.name}` });
      const fn = byKind("sst.aws.Function").find((f) => f.self === c.args.function)!;
      expect(fn.name).toBe(`${c.name}Job`);
    }
  });

  it("replicates SSE-KMS objects with Bucket Keys (bucket-ARN context, kms:Decrypt on the replica key), with metrics and alarms, and retains the replica and its key", async () => {
    process.env.SST_SECRET_BackupReplicaRegion = "eu-west-1";
    const recorded = declared.length;
    try {
      const { backupBucket } = await import(/* @vite-ignore */ path.resolve("infra/storage.ts"));
      const { alarms } = await import(/* @vite-ignore */ path.resolve("infra/alarms.ts"));
      const { versioning, replication } = backupBucket();
      const [rep] = byKind("aws.s3.Replication");
      const key = byKind("aws.kms.Key")[0]!;
      expect(rep!.args.rules[0]).toMatchObject({
        id: "all",
        status: "Enabled",
        destination: {
          bucket: "arn:BackupsReplica",
          encryptionConfiguration: { replicaKmsKeyId: "arn:BackupsReplicaKey" },
          metrics: { status: "Enabled" },
        },
        sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
        deleteMarkerReplication: { status: "Disabled" },
      });
      const replicaVersioning = byKind("aws.s3.Versioning").find((v) => v.name === "BackupsReplicaVersioning")!;
      const role = byKind("aws.iam.Role").find((r) => r.name === "BackupsReplicationRole")!;
      expect(rep!.opts!.dependsOn).toEqual([versioning, replicaVersioning.self, role.self]);
      expect(byKind("aws.iam.RolePolicy")).toEqual([]);
      const statements = JSON.parse(role.args.inlinePolicies[0].policy).Statement as {
        Action: string[];
        Resource: string;
        Condition?: any;
      }[];
      const decrypt = statements.find((st) => st.Action.includes("kms:Decrypt") && st.Resource === "*")!;
      expect(decrypt.Condition).toEqual({
        StringEquals: { "kms:ViaService": "s3.eu-central-1.amazonaws.com" },
        StringLike: { "kms:EncryptionContext:aws:s3:arn": ["arn:Backups", "arn:Backups/*"] },
      });
      const replicaKey = statements.find((st) => st.Resource === "arn:BackupsReplicaKey")!;
      expect(replicaKey.Action).toEqual(["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"]);
      expect(replicaKey.Condition.StringLike).toEqual({
        "kms:EncryptionContext:aws:s3:arn": ["arn:BackupsReplica", "arn:BackupsReplica/*"],
      });
      // Retained: a later deploy with `none`, or a removal, never schedules the key for deletion.
      expect(key.opts).toMatchObject({ retainOnDelete: true });
      expect(byKind("aws.s3.Bucket").find((b) => b.name === "BackupsReplica")!.opts).toMatchObject({ retainOnDelete: true });
      const replicaLife = byKind("aws.s3.Lifecycle").find((l) => l.name === "BackupsReplicaLifecycle")!;
      expect(replicaLife.args.rules.map((r: any) => r.id)).toEqual([
        "abort-stale-multipart",
        "expire-noncurrent",
        "backups-safety-expiry",
        "athena-results-expiry",
        "exports-expiry",
      ]);
      expect(byKind("aws.Provider")[0]!.args).toEqual({ region: "eu-west-1" });
      // The replication metrics feed two alarms.
      alarms({ nodes: { queue: { name: "q" } } }, { value: "ops@example.org" }, replication);
      const repAlarms = byKind("aws.cloudwatch.MetricAlarm").filter((a) => a.args.namespace === "AWS/S3");
      expect(repAlarms.map((a) => [a.name, a.args.metricName])).toEqual([
        ["ReplicationFailed", "OperationsFailedReplication"],
        ["ReplicationLate", "ReplicationLatency"],
      ]);
      for (const a of repAlarms)
        expect(a.args.dimensions).toEqual({ SourceBucket: "Backups-name", DestinationBucket: "BackupsReplica-bucket", RuleId: "all" });
    } finally {
      process.env.SST_SECRET_BackupReplicaRegion = "none";
      declared.splice(recorded);
    }
  });

  it("deploys every function from the bundle `npm run build` wrote, as it is: no SST build, no plugin, no copyFiles", () => {
    const fns = byKind("sst.aws.Function");
    const dirs: Record<string, string> = {
      Api: "api",
      Migrate: "migrate",
      BackupPostgresJob: "backup-postgres",
      BackupRedisJob: "backup-redis",
      ArchiveJob: "archive",
      AnalyticsRollupJob: "analytics-rollup",
      BacklogMonitor: "monitor",
      ExportJob: "export",
    };
    expect(fns.map((f) => f.name).sort()).toEqual(Object.keys(dirs).sort());
    expect(Object.values(dirs).sort()).toEqual(Object.keys(FUNCTIONS).sort());
    for (const f of fns) {
      expect(f.args.bundle, f.name).toBe(path.resolve("dist", dirs[f.name]!));
      expect(f.args.handler, f.name).toBe("index.handler");
      expect(existsSync(path.join(f.args.bundle, "index.mjs")), f.name).toBe(true);
      // Nothing of SST's own build: no nodejs options (plugins, esbuild, minify), no files copied by SST.
      expect(f.args.nodejs, f.name).toBeUndefined();
      expect(f.args.copyFiles, f.name).toBeUndefined();
      expect(f.args.link.map((l: any) => l.name).sort()).toEqual([
        "ApiKeys-name",
        "DatabaseUrl-name",
        "ErasureHashKey-name",
        "UpstashToken-name",
        "UpstashUrl-name",
      ]);
    }
    // What the build put beside the entries goes with them: the API's chunks, the migrations.
    expect(existsSync("dist/api/chunks")).toBe(true);
    for (const d of ["migrate", "backup-postgres"]) expect(existsSync(`dist/${d}/migrations/0001_schema.sql`), d).toBe(true);
    // Minified: no line of the entry is an ordinary source line.
    const entry = readFileSync("dist/api/index.mjs", "utf8");
    expect(entry.split("\n").length).toBeLessThan(20);
  });

  it("refuses a deploy from a stale or missing build with one line", async () => {
    const { assertFreshBuild } = await import(/* @vite-ignore */ path.resolve("infra/bundles.ts"));
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const root = mkdtempSync(path.join(tmpdir(), "stale-"));
    try {
      expect(() => assertFreshBuild(root)).toThrow(/^no dist\/build\.json: run `npm run build`/);
      mkdirSync(path.join(root, "dist"));
      writeFileSync(path.join(root, "src.ts"), "a");
      const { createHash } = await import("node:crypto");
      writeFileSync(
        path.join(root, "dist/build.json"),
        JSON.stringify({ functions: [], inputs: { "src.ts": createHash("sha256").update("a").digest("hex") } }),
      );
      expect(() => assertFreshBuild(root)).not.toThrow();
      writeFileSync(path.join(root, "src.ts"), "b");
      expect(() => assertFreshBuild(root)).toThrow(/^dist\/ is stale \(src\.ts changed since `npm run build`\)/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("monitors the WAL, review and outbox backlogs every minute, alarming at the reference's 100 / 150 / 50 for 5 minutes", () => {
    const cron = byKind("sst.aws.CronV2").find((c) => c.name === "BacklogMonitor")!;
    const fn = byKind("sst.aws.Function").find((f) => f.name === "BacklogMonitor")!;
    expect(cron.args).toMatchObject({ schedule: "rate(1 minute)", function: fn.self });
    expect(fn.args.environment).toMatchObject({
      BACKLOG_WAL_THRESHOLD: "100",
      BACKLOG_REVIEW_THRESHOLD: "150",
      BACKLOG_OUTBOX_THRESHOLD: "50",
    });
    const alarms = Object.fromEntries(byKind("aws.cloudwatch.MetricAlarm").map((a) => [a.name, a.args]));
    for (const [name, metric, threshold] of [
      ["WalBacklog", "backlog_wal_pending", 100],
      ["ReviewQueueBacklog", "backlog_review_queue", 150],
      ["OutboxBacklog", "backlog_outbox_unsent", 50],
    ] as const) {
      expect(alarms[name]).toMatchObject({
        metricName: metric,
        threshold,
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        alarmActions: ["arn:Alerts"],
      });
    }
  });

  it("runs migrations on every deploy through an invocation of the migrate function", () => {
    const inv = byKind("aws.lambda.Invocation");
    expect(inv).toHaveLength(1);
    expect(inv[0]!.args.functionName).toBe("Migrate-name");
  });

  it("makes the backup bucket versioned, encrypted, and abort stale multipart uploads, with S3's current (not deprecated) resources", () => {
    const [bucket] = byKind("sst.aws.Bucket");
    expect(bucket!.name).toBe("Backups");
    expect(byKind("aws.s3.Versioning").find((v) => v.name === "BackupsVersioning")!.args.versioningConfiguration).toEqual({
      status: "Enabled",
    });
    const [enc] = byKind("aws.s3.Encryption");
    expect(enc!.args.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm).toBe("aws:kms");
    const [life] = byKind("aws.s3.Lifecycle");
    const abort = life!.args.rules.find((r: any) => r.abortIncompleteMultipartUpload);
    expect(abort).toMatchObject({ status: "Enabled", abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } });
    // Exports expire after the days the API reports them expired after (packages/core/src/exports/api.ts).
    expect(life!.args.rules.find((r: any) => r.id === "exports-expiry")).toEqual({
      id: "exports-expiry",
      status: "Enabled",
      filter: { prefix: "exports/" },
      expiration: { days: EXPORT_EXPIRY_DAYS },
    });
  });

  it("puts Athena over the archive: a Glue table with partition projection over the Parquet months (no crawler), an enforced workgroup, the named queries over history", () => {
    const [db] = byKind("aws.glue.CatalogDatabase");
    expect(db!.args.name).toBe("hitl_data_layer_test");
    const [table] = byKind("aws.glue.CatalogTable");
    expect(table!.args).toMatchObject({
      databaseName: "HistoryDatabase-name",
      name: "interactions",
      tableType: "EXTERNAL_TABLE",
      partitionKeys: [{ name: "month", type: "string" }],
      parameters: {
        "projection.enabled": "true",
        "projection.month.type": "date",
        "projection.month.format": "yyyy-MM",
        "projection.month.range": expect.stringMatching(/^\d{4}-\d{2},NOW$/),
        "projection.month.interval.unit": "MONTHS",
        // Exactly where the archive job writes a month (archivePrefix: archives/interactions/month=YYYY-MM/).
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's projection placeholder, not a JS template
        "storage.location.template": "s3://Backups-name/archives/interactions/month=${month}/",
      },
      storageDescriptor: {
        location: "s3://Backups-name/archives/interactions/",
        inputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        serDeInfo: { serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" },
      },
    });
    // The columns are the archive's (test/analytics-history.test.ts checks those against Postgres).
    expect(table!.args.storageDescriptor.columns).toEqual(HISTORY_COLUMNS);
    expect(declared.filter((d) => /crawler/i.test(d.kind))).toEqual([]);
    const [wg] = byKind("aws.athena.Workgroup");
    expect(wg!.args.configuration).toMatchObject({
      enforceWorkgroupConfiguration: true,
      bytesScannedCutoffPerQuery: expect.any(Number),
      resultConfiguration: { outputLocation: "s3://Backups-name/athena-results/" },
    });
    const [life] = byKind("aws.s3.Lifecycle");
    expect(life!.args.rules).toContainEqual(
      expect.objectContaining({ status: "Enabled", filter: { prefix: "athena-results/" }, expiration: { days: expect.any(Number) } }),
    );
    const named = byKind("aws.athena.NamedQuery");
    expect(named.map((q) => [q.args.name, q.args.query, q.args.workgroup, q.args.database])).toEqual(
      HISTORY_QUERIES.map((q) => [q.name, q.sql, "History-name", "HistoryDatabase-name"]),
    );
  });
});
