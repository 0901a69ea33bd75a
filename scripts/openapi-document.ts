import "./openapi-zod.js";
import { OpenApiGeneratorV31, OpenAPIRegistry } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import type { ApiApp } from "../functions/api/http/openapi.js";
import { documentOnly } from "../functions/api/http/zod.js";

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
  { name: "protocol", description: "The silence protocol and its quarantine" },
  { name: "recovery", description: "Recovery cursors and operations after downtime" },
  { name: "analytics", description: "Browse and search interactions, reports over rollups, the analytics page, test-data cleanup and integrity" },
  { name: "operations", description: "Health, metrics, backups, this document and the status page" },
];

/**
 * The OpenAPI 3.1 document of `app`'s declared routes (lazily included groups loaded) (docs/openapi.json, which the API serves at
 * /openapi.json), made by zod-to-openapi from the routes' schemas.
 */
export async function openApiDocument(app: ApiApp) {
  if (z.ZodType.prototype.openapi === documentOnly) throw new Error("zod-to-openapi's .openapi() was installed after the API's schemas: import scripts/openapi-zod.js first");
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", description: "An API key (`npm run keygen`), scoped bot, agent, reviewer or admin" });
  for (const { middleware: _middleware, hide, ...route } of await app.declarations()) if (!hide) registry.registerPath(route);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "HITL data & storage layer", version: API_VERSION,
      description: "The storage API of a human-in-the-loop conversational AI: messages, reviews, outbox, memory, users, recovery and operations. Errors share one shape (`Error`); every write is safe to retry (see each operation).",
      license: { name: "UNLICENSED", url: "https://choosealicense.com/no-permission/" },
    },
    servers: [{ url: "http://127.0.0.1:8787", description: "npm start (local stack)" }, { url: "https://{functionUrl}", description: "the deployed Function URL (sst deploy prints it)", variables: { functionUrl: { default: "example.lambda-url.us-east-1.on.aws" } } }],
    tags: TAGS,
  });
}
