import { describe, expect, it } from "vitest";
import { ConfigError, LOCAL_ERASURE_KEY, hashKey, parseConfig } from "@hitl/core";

const keys = JSON.stringify([{ id: "admin", scopes: ["admin"], sha256: hashKey("k") }]);
const cloud = {
  DATABASE_URL: "postgres://u:p@ep-x.neon.tech/db?sslmode=require",
  UPSTASH_REDIS_REST_URL: "https://x.upstash.io",
  UPSTASH_REDIS_REST_TOKEN: "t",
  API_KEYS: keys,
  S3_BUCKET: "bucket",
  ERASURE_HASH_KEY: "k".repeat(32),
};

const failure = (src: Record<string, string | undefined>) => {
  try {
    parseConfig(src);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("config", () => {
  it("parses a complete cloud configuration with the seed defaults", () => {
    const c = parseConfig(cloud);
    expect(c.mode).toBe("cloud");
    expect(c.breaker).toEqual({ failureThreshold: 3, cooldownMs: 60_000 });
    expect(c.postgres).toEqual({
      connectAttempts: 3,
      backoffBaseMs: 1000,
      timeoutMs: 5000,
      connectTimeoutMs: 5000,
      bulkStatementTimeoutMs: 300_000,
      breaker: { failureThreshold: 3, cooldownMs: 60_000 },
    });
    expect([c.redis.timeoutMs, c.s3.timeoutMs, c.lambdaMarginMs]).toEqual([1000, 10_000, 1000]);
    expect(c.redis.prefix).toBe("hitl:");
    expect(c.apiKeys[0]!.id).toBe("admin");
  });

  it("puts S3 in the function's own region unless S3_REGION says otherwise", () => {
    expect(parseConfig(cloud).s3.region).toBe("us-east-1");
    expect(parseConfig({ ...cloud, AWS_REGION: "eu-central-1" }).s3.region).toBe("eu-central-1");
    expect(parseConfig({ ...cloud, AWS_REGION: "eu-central-1", S3_REGION: "eu-west-1" }).s3.region).toBe("eu-west-1");
  });

  it("names a missing setting in one line", () => {
    const msg = failure({ ...cloud, DATABASE_URL: undefined });
    expect(msg).toBe("invalid configuration: DATABASE_URL is required");
    expect(msg).not.toContain("\n");
  });

  it("needs an erasure hash key of 32+ characters outside local mode; local mode has a fixed one", () => {
    expect(failure({ ...cloud, ERASURE_HASH_KEY: undefined })).toMatch(
      /^invalid configuration: ERASURE_HASH_KEY is required outside local mode/,
    );
    expect(failure({ ...cloud, ERASURE_HASH_KEY: "short" })).toMatch(
      /^invalid configuration: ERASURE_HASH_KEY must be at least 32 characters/,
    );
    expect(parseConfig(cloud).erasureHashKey).toBe("k".repeat(32));
    expect(
      parseConfig({ ...cloud, ERASURE_HASH_KEY: undefined, HITL_MODE: "local", LOCAL_NEON_PROXY_URL: "http://127.0.0.1:1" }).erasureHashKey,
    ).toBe(LOCAL_ERASURE_KEY);
  });

  it("names a malformed API_KEYS", () => {
    expect(failure({ ...cloud, API_KEYS: "not json" })).toMatch(/^invalid configuration: API_KEYS is not valid JSON$/);
    expect(failure({ ...cloud, API_KEYS: JSON.stringify([{ id: "a", scopes: ["root"], sha256: hashKey("k") }]) })).toMatch(
      /^invalid configuration: API_KEYS /,
    );
    expect(failure({ ...cloud, API_KEYS: JSON.stringify([{ id: "a", scopes: ["bot"], sha256: "abc" }]) })).toMatch(/API_KEYS .*sha-256/);
  });

  it("refuses plain-text transports outside local mode", () => {
    expect(failure({ ...cloud, UPSTASH_REDIS_REST_URL: "http://x.upstash.io" })).toMatch(/UPSTASH_REDIS_REST_URL must be https/);
    expect(failure({ ...cloud, DATABASE_URL: "postgres://u:p@h/db" })).toMatch(/DATABASE_URL must use TLS/);
    expect(failure({ ...cloud, UPSTASH_REDIS_REST_TOKEN: "" })).toMatch(/UPSTASH_REDIS_REST_TOKEN/);
  });

  it("accepts loopback plain text in local mode, which needs the proxy URL", () => {
    const local = {
      ...cloud,
      HITL_MODE: "local",
      DATABASE_URL: "postgres://u:p@127.0.0.1:5/db",
      UPSTASH_REDIS_REST_URL: "http://127.0.0.1:6",
    };
    expect(failure(local)).toMatch(/LOCAL_NEON_PROXY_URL is required/);
    expect(parseConfig({ ...local, LOCAL_NEON_PROXY_URL: "http://127.0.0.1:7" }).mode).toBe("local");
  });

  it("rejects a non-numeric tuning value by name", () => {
    expect(failure({ ...cloud, BREAKER_COOLDOWN_MS: "soon" })).toMatch(/^invalid configuration: BREAKER_COOLDOWN_MS /);
  });
});

describe("where configuration is read", () => {
  it("core never reads sst/resource: functions/lib/config.ts maps SST's links and secrets onto the settings", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    const files = readdirSync("packages/core/src", { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    const readers = files.filter((f) => /from\s+["']sst|import\(["']sst/.test(readFileSync(`packages/core/src/${f}`, "utf8")));
    expect(readers).toEqual([]);
    expect(readFileSync("functions/lib/config.ts", "utf8")).toContain('import("sst/resource")');
  });
});
