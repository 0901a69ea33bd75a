import { createTestDatabase, testEnv, testKeys } from "./stack.js";
import type { Scope } from "@hitl/core";

/** What the Lambda runtime sends back to the Function URL: the handler's result as JSON. */
export interface LambdaResult {
  statusCode: number;
  body: string;
  headers: Record<string, string>;
  isBase64Encoded?: boolean;
}

/** A Lambda Function URL (payload v2) event; `body` is sent as it stands when a string, else as JSON. */
export function functionUrlEvent(
  method: string,
  pathAndQuery: string,
  opts: { headers?: Record<string, string>; body?: unknown; isBase64Encoded?: boolean } = {},
) {
  const [rawPath, rawQueryString = ""] = pathAndQuery.split("?");
  const body = opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    headers: {
      host: "x.lambda-url.us-east-1.on.aws",
      ...(body !== undefined && !opts.headers?.["content-type"] ? { "content-type": "application/json" } : {}),
      ...opts.headers,
    },
    ...(body === undefined ? {} : { body }),
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
    isBase64Encoded: opts.isBase64Encoded ?? false,
  };
}

const lambdaContext = { getRemainingTimeInMillis: () => 60_000, awsRequestId: "req-1", functionName: "Api" };

/** The size of the response as the Lambda runtime serializes it (the limit applies to this). */
export const envelopeSize = (res: LambdaResult): number => Buffer.byteLength(JSON.stringify(res));

/**
 * The real API Lambda handler (functions/api/handler.ts) on a database of its own and the private
 * stack, configured through the environment as in Lambda. One per test file: the handler's app
 * and configuration are module singletons, as in a Lambda instance.
 */
export async function lambdaApi() {
  const { keys, entries } = testKeys();
  Object.assign(process.env, testEnv(await createTestDatabase(), JSON.stringify(entries)), { POWERTOOLS_METRICS_DISABLED: "true" });
  const { handler } = await import("../../functions/api/handler.js");
  const invoke = async (
    method: string,
    path: string,
    opts: { key?: Scope; body?: unknown; headers?: Record<string, string>; isBase64Encoded?: boolean } = {},
  ) => {
    const headers = { ...(opts.key ? { authorization: `Bearer ${keys[opts.key]}` } : {}), ...opts.headers };
    const res = await handler(
      functionUrlEvent(method, path, { headers, body: opts.body, isBase64Encoded: opts.isBase64Encoded }) as never,
      lambdaContext as never,
    );
    return res as unknown as LambdaResult;
  };
  return { invoke, keys };
}
