import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { coldStartFiles, firstUseFiles } from "../scripts/bundle.js";
import { createTestDatabase, stack, testEnv, testKeys } from "./support/stack.js";

const BUNDLE = path.resolve("dist/api/index.mjs");

/** A Lambda Function URL (payload v2) event. */
function functionUrlEvent(method: string, rawPath: string, headers: Record<string, string> = {}, body?: unknown) {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString: "",
    headers: { host: "x.lambda-url.us-east-1.on.aws", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    requestContext: {
      accountId: "anonymous",
      apiId: "x",
      domainName: "x.lambda-url.us-east-1.on.aws",
      domainPrefix: "x",
      http: { method, path: rawPath, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "test" },
      requestId: "req-1",
      routeKey: "$default",
      stage: "$default",
      time: "25/Nov/2026:00:00:00 +0000",
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
  };
}

const lambdaContext = { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-1", functionName: "Api" };

describe("built API bundle (npm run build)", () => {
  let handler: (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string; headers: Record<string, string> }>;
  let adminKey: string;
  let botKey: string;

  beforeAll(async () => {
    expect(existsSync(BUNDLE), "run `npm run build` first (npm test does)").toBe(true);
    const { keys, entries } = testKeys();
    adminKey = keys.admin;
    botKey = keys.bot;
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

  it("validates with zod inside the bundle: a message is queued, a bad one gets English issue details", async () => {
    const json = { authorization: `Bearer ${botKey}`, "content-type": "application/json" };
    const ok = await handler(
      functionUrlEvent("POST", "/v1/messages", json, { user_id: "bundle-user", text: "hello from the bundle" }),
      lambdaContext,
    );
    expect(ok.statusCode).toBe(202);
    expect(JSON.parse(ok.body).items[0]).toMatchObject({ status: "queued" });
    const bad = await handler(functionUrlEvent("POST", "/v1/messages", json, { user_id: 42, text: "hello" }), lambdaContext);
    expect(bad.statusCode).toBe(400);
    const error = JSON.parse(bad.body).error;
    expect(error.code).toBe("invalid_request");
    expect(error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ in: "json", path: "user_id", message: expect.stringMatching(/expected string/i) }),
      ]),
    );
  });

  it("serves the OpenAPI document from its lazily loaded chunk", async () => {
    const res = await handler(functionUrlEvent("GET", "/openapi.json"), lambdaContext);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual(JSON.parse(readFileSync("docs/openapi.json", "utf8")));
  });

  it("keeps what loads on first use out of what a cold start loads: the Neon driver, rate limiting, the document", () => {
    const coldStart = coldStartFiles(BUNDLE);
    const read = (files: string[]) => files.map((f) => readFileSync(f, "utf8")).join("\n");
    const startup = read(coldStart);
    const onFirstUse = read(firstUseFiles(BUNDLE));
    expect(coldStart.length, "the entry imports its shared chunks").toBeGreaterThan(1);
    // A string of each: the driver's package name, the limiter's cache option, the document's title.
    for (const marker of ["neondatabase", "ephemeralCache", "HITL data & storage layer"]) {
      expect(startup.includes(marker), `${marker} loaded at cold start`).toBe(false);
      expect(onFirstUse.includes(marker), `${marker} in a chunk loaded on first use`).toBe(true);
    }
    // What the hot routes need is there from the start.
    for (const marker of ["One incoming Telegram message", "A message claimed under a lease"])
      expect(startup.includes(marker), marker).toBe(true);
  });

  it("serves every route group from the bundle: interactions and quarantine", async () => {
    const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
    const unknown = await handler(functionUrlEvent("GET", "/v1/interactions/00000000-0000-4000-8000-000000000000", auth), lambdaContext);
    expect(unknown.statusCode).toBe(404);
    expect(JSON.parse(unknown.body).error.code).toBe("not_found");
    const bad = await handler(functionUrlEvent("GET", "/v1/interactions/not-a-uuid", auth), lambdaContext);
    expect(bad.statusCode).toBe(400);
    const page = await handler(functionUrlEvent("GET", "/v1/quarantine", auth), lambdaContext);
    expect(page.statusCode).toBe(200);
    expect(JSON.parse(page.body)).toEqual({ items: [], next_cursor: null });
  });
});
