import { lambdaBodyProblem } from "@hitl/core/runtime";
import { handle } from "hono/aws-lambda";
import { emfPublisher } from "../lib/emf.js";
import { app } from "./app.js";

const base = handle(app);
let publisher: ReturnType<typeof emfPublisher> | undefined;

/**
 * The API Lambda: Hono's adapter, then this instance's metrics flushed as EMF after every
 * invocation. An event whose body cannot be read as bytes at all (marked base64 but not base64,
 * or text with a lone surrogate, which the adapter would turn into U+FFFD) is answered 400 in the
 * API's error shape here: the adapter would answer a plain-text 500 or change the text.
 */
export const handler: typeof base = async (event, context) => {
  try {
    const problem = lambdaBodyProblem(event as { body?: string | null; isBase64Encoded?: boolean });
    if (problem) return unreadableBody(problem, "multiValueHeaders" in event) as Awaited<ReturnType<typeof base>>;
    return await base(event, context);
  } finally {
    const services = app.currentServices();
    if (services) await (publisher ??= emfPublisher(services.metrics.registry)).publish().catch(() => {});
  }
};

function unreadableBody(message: string, multiValue: boolean) {
  const headers = { "content-type": "application/json", "x-request-id": crypto.randomUUID() };
  return {
    statusCode: 400,
    isBase64Encoded: false,
    headers,
    ...(multiValue ? { multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])) } : {}),
    body: JSON.stringify({ error: { code: "invalid_request", message } }),
  };
}
