import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface Declared { kind: string; name: string; args: Record<string, any> }
const declared: Declared[] = [];
const g = globalThis as any;

/** Recording stand-ins for SST's globals: every construct records its kind, name and arguments. */
function recorder(kind: string) {
  return class {
    name: string; url: string; arn: string;
    constructor(name: string, args: Record<string, any> = {}) {
      declared.push({ kind, name, args });
      this.name = `${name}-name`; this.url = `https://${name}.lambda-url`; this.arn = `arn:${name}`;
    }
  };
}

beforeAll(() => {
  g.$config = (c: unknown) => c;
  g.$app = { name: "hitl-data-layer", stage: "test" };
  g.sst = { Secret: recorder("sst.Secret"), aws: { Function: recorder("sst.aws.Function"), Bucket: recorder("sst.aws.Bucket"), CronV2: recorder("sst.aws.CronV2") } };
  g.aws = {
    s3: { BucketServerSideEncryptionConfigurationV2: recorder("aws.s3.Encryption"), BucketLifecycleConfigurationV2: recorder("aws.s3.Lifecycle") },
    lambda: { Invocation: recorder("aws.lambda.Invocation") },
  };
});
afterAll(() => { for (const k of ["$config", "$app", "sst", "aws"]) delete g[k]; });

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

  it("declares the four secrets", () => {
    expect(byKind("sst.Secret").map((d) => d.name).sort()).toEqual(["ApiKeys", "DatabaseUrl", "UpstashToken", "UpstashUrl"]);
  });

  it("points every function at a handler file that exists and exports it", async () => {
    const fns = byKind("sst.aws.Function");
    expect(fns.map((f) => f.name).sort()).toEqual(["Api", "Migrate"]);
    for (const f of fns) {
      const [file, exported] = [f.args.handler.replace(/\.[^.]+$/, ""), f.args.handler.split(".").pop()];
      const source = path.resolve(`${file}.ts`);
      expect(existsSync(source), source).toBe(true);
      expect(typeof (await import(source))[exported]).toBe("function");
      expect(f.args.link.map((l: any) => l.name).sort()).toEqual(["ApiKeys-name", "Backups-name", "DatabaseUrl-name", "UpstashToken-name", "UpstashUrl-name"]);
    }
    const api = fns.find((f) => f.name === "Api")!;
    expect(api.args.url).toBe(true);
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
