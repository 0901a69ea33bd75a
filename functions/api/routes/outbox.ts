import { z } from "@hono/zod-openapi";
import { IsoDateTime, claimOutbox, markSent } from "@hitl/core";
import { IdempotencyHeaders, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { IdParam } from "./interactions.js";
import { deps } from "../http/deps.js";

const ClaimBody = z
  .object({
    max: z.number().int().min(1).max(50).default(10),
    lease_seconds: z.number().int().min(5).max(600).default(120),
    interaction_ids: z
      .array(z.uuid())
      .min(1)
      .max(50)
      .optional()
      .describe("Claim only these interactions' replies (e.g. the one you just approved), at most `max`. No other reply is leased."),
  })
  .strict();
const SentBody = z.object({ lease_token: z.string().min(1).max(64), sent_at: IsoDateTime.optional() }).strict();
const Item = z
  .object({
    interaction_id: z.string(),
    user_id: z.string(),
    chat_id: z.union([z.number(), z.string()]).nullable(),
    final_bubbles: z.array(z.string()),
    lease_token: z.string(),
  })
  .openapi("OutboxItem", { description: "An approved reply to send: mark it sent with its lease_token" });

const claim = securedRoute(["bot"], {
  method: "post",
  path: "/v1/outbox/claim",
  operationId: "claimOutbox",
  tags: ["outbox"],
  summary: "Claim approved, unsent replies (oldest approval first)",
  request: { headers: IdempotencyHeaders, body: jsonBody(ClaimBody, false) },
  responses: { 200: jsonContent(z.object({ items: z.array(Item) })), ...securedErrors },
});
const sent = securedRoute(["bot"], {
  method: "post",
  path: "/v1/outbox/{id}/sent",
  operationId: "markOutboxSent",
  tags: ["outbox"],
  summary: "Mark a reply sent (idempotent); appends the assistant turn",
  request: { params: IdParam, body: jsonBody(SentBody) },
  responses: {
    200: jsonContent(z.object({ interaction_id: z.string(), messages_sent_at: z.string(), already_sent: z.boolean() })),
    404: errorResponse("unknown id"),
    409: errorResponse("lease token does not match"),
    ...securedErrors,
  },
});

export function outboxRoutes() {
  return createOpenApiApp()
    .openapi(claim, async (c) => {
      const b = c.req.valid("json");
      return c.json(
        { items: await claimOutbox(deps(c).db, b.max, b.lease_seconds, idempotencyScope(c, "claimOutbox")?.key, b.interaction_ids) },
        200,
      );
    })
    .openapi(sent, async (c) => {
      const b = c.req.valid("json");
      return c.json(await markSent(deps(c), c.req.valid("param").id, b.lease_token, b.sent_at), 200);
    });
}
