import type { ApiApp } from "../functions/api/http/openapi.js";

/** The API's version, in the document's `info`. */
export const API_VERSION = "1.0.0";

/** The tags of the document, in the order a reader meets them in a conversation turn. */
export const TAGS = [
  { name: "messages", description: "The WAL queue: ingest, claim under a lease, acknowledge" },
  { name: "interactions", description: "A drafted reply with its message, models and costs" },
  { name: "reviews", description: "The human review lifecycle, the edit taxonomy and the dashboard" },
  { name: "outbox", description: "Approved replies on their way to Telegram" },
  { name: "users", description: "Customer status, nickname and GDPR erasure" },
  { name: "memory", description: "Conversation memory: context, history, compression" },
  { name: "coherence", description: "Commitments the assistant made, coherence analyses and prompt rotations" },
  { name: "protocol", description: "The silence protocol and its quarantine" },
  { name: "recovery", description: "Recovery cursors and operations after downtime" },
  {
    name: "analytics",
    description: "Browse and search interactions, reports over rollups, the analytics page, test-data cleanup and integrity",
  },
  {
    name: "exports",
    description: "Exports as jobs: a dataset in csv, ndjson, xlsx or parquet, written to S3, downloaded by a presigned URL",
  },
  { name: "operations", description: "Health, metrics, backups, this document and the status page" },
  { name: "access", description: "API keys stored in Postgres (create, rotate, revoke) and the audit of who did what" },
];

/**
 * The OpenAPI 3.1 document of `app`'s routes (docs/openapi.json, which the API serves at
 * /openapi.json), made by @hono/zod-openapi from the routes' schemas as the app registered them.
 */
export function openApiDocument(app: ApiApp) {
  return app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "HITL data & storage layer",
      version: API_VERSION,
      description:
        "The storage API of a human-in-the-loop conversational AI: messages, reviews, outbox, memory, users, recovery and operations. Errors share one shape (`Error`); every write is safe to retry (see each operation).",
      license: { name: "UNLICENSED", url: "https://choosealicense.com/no-permission/" },
    },
    servers: [
      { url: "http://127.0.0.1:8787", description: "npm start (local stack)" },
      {
        url: "https://{functionUrl}",
        description: "the deployed Function URL (sst deploy prints it)",
        variables: { functionUrl: { default: "example.lambda-url.us-east-1.on.aws" } },
      },
    ],
    tags: TAGS,
  });
}
