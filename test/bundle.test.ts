import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, stack, testEnv, testKeys } from "./support/stack.js";

const BUNDLE = path.resolve("dist/api/index.mjs");

/** A Lambda Function URL (payload v2) event. */
function functionUrlEvent(method: string, rawPath: string, headers: Record<string, string> = {}) {
  return {
    version: "2.0", routeKey: "$default", rawPath, rawQueryString: "", headers: { host: "x.lambda-url.us-east-1.on.aws", ...headers },
    requestContext: {
      accountId: "anonymous", apiId: "x", domainName: "x.lambda-url.us-east-1.on.aws", domainPrefix: "x",
      http: { method, path: rawPath, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "test" },
      requestId: "req-1", routeKey: "$default", stage: "$default", time: "25/Nov/2026:00:00:00 +0000", timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}

const lambdaContext = { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-1", functionName: "Api" };

describe("built API bundle (npm run build)", () => {
  let handler: (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string; headers: Record<string, string> }>;
  let adminKey: string;

  beforeAll(async () => {
    expect(existsSync(BUNDLE), "run `npm run build` first (npm test does)").toBe(true);
    const { keys, entries } = testKeys();
    adminKey = keys.admin;
    Object.assign(process.env, testEnv(await createTestDatabase(), JSON.stringify(entries)));
    handler = (await import(pathToFileURL(BUNDLE).href)).handler;
  });

  it("does not contain the AWS SDK", () => {
    const code = readFileSync(BUNDLE, "utf8");
    expect(code).not.toMatch(/@aws-sdk\/|S3Client|client-s3/);
  });

  it("answers /health through a Function URL event", async () => {
    const res = await handler(functionUrlEvent("GET", "/health"), lambdaContext);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: "ok" });
  });

  it("checks the stores and auth inside the bundle", async () => {
    const res = await handler(functionUrlEvent("GET", "/v1/health", { authorization: `Bearer ${adminKey}` }), lambdaContext);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: "ok", redis: { ok: true, breaker: "closed" }, storage: { ok: true } });
    const denied = await handler(functionUrlEvent("GET", "/v1/health"), lambdaContext);
    expect(denied.statusCode).toBe(401);
    expect(stack().s3Bucket).toBeTruthy();
  });
});
