import { z } from "@hono/zod-openapi";
import {
  AckBody,
  AckResult,
  ClaimBody,
  ClaimedMessage,
  IngestBody,
  IngestResult,
  WalStats,
  ackMessages,
  claimMessages,
  ingestMessages,
  walStats,
} from "@hitl/core/runtime";
import { deps } from "../http/deps.js";
import { IdempotencyHeaders, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonBody, jsonContent, securedErrors } from "../http/schemas.js";

const ingest = securedRoute(["bot"], {
  method: "post",
  path: "/v1/messages",
  operationId: "ingestMessages",
  tags: ["messages"],
  summary: "Ingest one message or a batch of up to 100 into the WAL (or quarantine)",
  request: { headers: IdempotencyHeaders, body: jsonBody(IngestBody) },
  responses: { 202: jsonContent(z.object({ items: z.array(IngestResult) }), "accepted"), ...securedErrors },
});
const claim = securedRoute(["agent"], {
  method: "post",
  path: "/v1/messages/claim",
  operationId: "claimMessages",
  tags: ["messages"],
  summary: "Claim messages under a lease",
  request: { headers: IdempotencyHeaders, body: jsonBody(ClaimBody, false) },
  responses: { 200: jsonContent(z.object({ items: z.array(ClaimedMessage) })), ...securedErrors },
});
const ack = securedRoute(["agent"], {
  method: "post",
  path: "/v1/messages/ack",
  operationId: "ackMessages",
  tags: ["messages"],
  summary: "Acknowledge claimed messages",
  request: { body: jsonBody(AckBody) },
  responses: { 200: jsonContent(AckResult), ...securedErrors },
});
const stats = securedRoute(["agent", "viewer"], {
  method: "get",
  path: "/v1/messages/stats",
  operationId: "getMessageStats",
  tags: ["messages"],
  summary: "WAL depths",
  responses: { 200: jsonContent(WalStats), ...securedErrors },
});

export function messageRoutes() {
  return createOpenApiApp()
    .openapi(ingest, async (c) =>
      c.json(
        {
          items: await ingestMessages(deps(c), c.req.valid("json"), new Date(), idempotencyScope(c, "ingestMessages")?.key),
        },
        202,
      ),
    )
    .openapi(claim, async (c) => {
      const b = c.req.valid("json");
      const scope = idempotencyScope(c, "claimMessages");
      return c.json({ items: await claimMessages(deps(c), b, scope && { principal: c.get("principal")!.id, key: scope.key }) }, 200);
    })
    .openapi(ack, async (c) => c.json(await ackMessages(deps(c), c.req.valid("json").items), 200))
    .openapi(stats, async (c) => c.json(await walStats(deps(c)), 200));
}
