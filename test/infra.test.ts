import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface Declared { kind: string; name: string; args: Record<string, any>; opts?: Record<string, any>; self?: unknown }
const declared: Declared[] = [];
const g = globalThis as any;

/** Recording stand-ins for SST's globals: every construct records its kind, name and arguments. */
function recorder(kind: string) {
  return class {
    name: string; url: string; arn: string; id: string;
    constructor(name: string, args: Record<string, any> = {}, opts?: Record<string, any>) {
      declared.push({ kind, name, args, opts, self: this });
      this.name = `${name}-name`; this.url = `https://${name}.lambda-url`; this.arn = `arn:${name}`; this.id = `${name}-id`;
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
    s3: { BucketServerSideEncryptionConfigurationV2: recorder("aws.s3.Encryption"), BucketLifecycleConfigurationV2: recorder("aws.s3.Lifecycle"),
      BucketV2: recorder("aws.s3.BucketV2"), BucketVersioningV2: recorder("aws.s3.Versioning"), BucketReplicationConfig: recorder("aws.s3.Replication") },
    lambda: { Invocation: recorder("aws.lambda.Invocation") },
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

  it("declares the alarms and the operations dashboard", () => {
    expect(byKind("aws.cloudwatch.MetricAlarm").map((a) => a.name)).toEqual(["DatabasePoolExhaustion", "RedisHighLatency",
      "MemoryCompressionFailure", "PostgresBackupMissed", "RedisSnapshotMissed", "DeadLetterGrowth"]);
    expect(byKind("aws.cloudwatch.Dashboard")).toHaveLength(1);
    expect(byKind("sst.aws.SnsTopic").map((t) => t.name)).toEqual(["Alerts"]);
  });

  it("updates the API and the jobs only after this deploy's migrations ran", () => {
    const [invocation] = byKind("aws.lambda.Invocation");
    expect(invocation!.args.functionName).toBe("Migrate-name");
    const dependents = [...byKind("sst.aws.Function").filter((f) => f.name === "Api"), ...byKind("sst.aws.CronV2")];
    expect(dependents).toHaveLength(4);
    for (const d of dependents) expect(d.opts?.dependsOn, d.name).toEqual([invocation!.self]);
    expect(byKind("sst.aws.Function").find((f) => f.name === "Migrate")!.opts?.dependsOn).toBeUndefined();
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
    try {
      const { jobs } = await import(/* @vite-ignore */ path.resolve("infra/jobs.ts"));
      const before = byKind("sst.aws.CronV2").length;
      expect(jobs({}, {}).crons).toEqual([]);
      expect(byKind("sst.aws.CronV2")).toHaveLength(before);
    } finally { g.$dev = false; }
  });

  it("declares the five secrets", () => {
    expect(byKind("sst.Secret").map((d) => d.name).sort()).toEqual(["ApiKeys", "DatabaseUrl", "ErasureHashKey", "UpstashToken", "UpstashUrl"]);
  });

  it("schedules the three jobs with CronV2, retries and a dead-letter queue, linked to the bucket", async () => {
    const crons = byKind("sst.aws.CronV2");
    expect(crons.map((c) => [c.name, c.args.schedule])).toEqual([
      ["BackupPostgres", "cron(0 3 * * ? *)"], ["BackupRedis", "rate(6 hours)"], ["Archive", "cron(30 4 * * ? *)"]]);
    const [dlq] = byKind("sst.aws.Queue");
    for (const c of crons) {
      expect(c.args).toMatchObject({ retries: 2, dlq: dlq && `arn:${dlq.name}` });
      expect(c.args.function.link.map((l: any) => l.name)).toContain("Backups-name");
      const file = path.resolve(c.args.function.handler.replace(/\.[^.]+$/, "") + ".ts");
      expect(typeof (await import(file)).handler).toBe("function");
    }
  });

  it("replicates the bucket to another region only when BACKUP_REPLICA_REGION is set", async () => {
    expect(byKind("aws.s3.Replication")).toHaveLength(0);
    process.env.BACKUP_REPLICA_REGION = "eu-west-1";
    try {
      const { backupBucket } = await import(/* @vite-ignore */ path.resolve("infra/storage.ts"));
      backupBucket();
      const [rep] = byKind("aws.s3.Replication");
      expect(rep!.args.rules[0]).toMatchObject({ status: "Enabled", destination: { bucket: "arn:BackupsReplica" } });
      expect(byKind("aws.Provider")[0]!.args).toEqual({ region: "eu-west-1" });
    } finally { delete process.env.BACKUP_REPLICA_REGION; }
  });

  it("points every function at a handler file that exists and exports it", async () => {
    const fns = byKind("sst.aws.Function");
    expect(fns.map((f) => f.name).sort()).toEqual(["Api", "Migrate"]);
    for (const f of fns) {
      const [file, exported] = [f.args.handler.replace(/\.[^.]+$/, ""), f.args.handler.split(".").pop()];
      const source = path.resolve(`${file}.ts`);
      expect(existsSync(source), source).toBe(true);
      expect(typeof (await import(source))[exported]).toBe("function");
      expect(f.args.link.map((l: any) => l.name).sort()).toEqual(["ApiKeys-name", "Backups-name", "DatabaseUrl-name", "ErasureHashKey-name", "UpstashToken-name", "UpstashUrl-name"]);
    }
    const api = fns.find((f) => f.name === "Api")!;
    expect(api.args.url).toBeTruthy();
  });

  it("runs migrations on every deploy through an invocation of the migrate function", () => {
    const inv = byKind("aws.lambda.Invocation");
    expect(inv).toHaveLength(1);
    expect(inv[0]!.args.functionName).toBe("Migrate-name");
    const migrate = byKind("sst.aws.Function").find((f) => f.name === "Migrate")!;
    expect(migrate.args.copyFiles).toEqual([{ from: "packages/core/migrations", to: "migrations" }]);
    expect(existsSync(migrate.args.copyFiles[0].from)).toBe(true);
  });

  it("makes the backup bucket versioned, encrypted, and abort stale multipart uploads", () => {
    const [bucket] = byKind("sst.aws.Bucket");
    expect(bucket).toMatchObject({ name: "Backups", args: { versioning: true } });
    const [enc] = byKind("aws.s3.Encryption");
    expect(enc!.args.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm).toBe("aws:kms");
    const [life] = byKind("aws.s3.Lifecycle");
    const abort = life!.args.rules.find((r: any) => r.abortIncompleteMultipartUpload);
    expect(abort).toMatchObject({ status: "Enabled", abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } });
  });
});
