import { z } from "@hono/zod-openapi";
import {
  ActiveProtocolQuery,
  SilencedUser,
  listActiveProtocols,
  AuditQuery,
  BatchBody,
  ProcessBody,
  QuarantineQuery,
  deleteQuarantined,
  listQuarantine,
  processOne,
  processQuarantined,
  protocolAudit,
  protocolStats,
} from "@hitl/core";
import { ConflictError, NotFoundError } from "@hitl/core";
import { deps } from "../http/deps.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";

const MessageParam = z.object({ message_id: z.string().min(1).max(64) });
const QuarantineItem = z
  .object({
    message_id: z.string(),
    user_id: z.string(),
    message_text: z.string(),
    chat_id: z.union([z.number(), z.string()]).nullable(),
    telegram_message_id: z.number().nullable(),
    telegram_date: z.string().nullable(),
    received_at: z.string(),
    expires_at: z.string(),
    processed: z.boolean(),
    processed_at: z.string().nullable(),
    processed_by: z.string().nullable(),
    nickname: z.string().nullable(),
    customer_status: z.string(),
    age_hours: z.number(),
    context: z
      .array(z.object({ id: z.number(), role: z.enum(["user", "assistant"]), content: z.string(), timestamp: z.string() }))
      .optional()
      .describe("With ?context=N: the user's last N history turns before the message arrived, oldest first"),
  })
  .openapi("QuarantineItem", { description: "A message held by the silence protocol" });
const ProtocolStats = z
  .object({
    active_protocols: z.number(),
    total_messages_quarantined: z.number(),
    total_cost_saved_usd: z.number(),
    messages_last_24h: z.number(),
    avg_messages_per_user: z.number().describe("Messages quarantined per silenced user"),
    avg_cost_saved_per_user_usd: z.number(),
    estimated_monthly_savings_usd: z.number().describe("The last 24 hours' quarantined messages x $0.000307 x 30"),
  })
  .openapi("ProtocolStats", { description: "Silence-protocol counters over ACTIVE protocols" });
const QuarantinePage = jsonContent(z.object({ items: z.array(QuarantineItem), next_cursor: z.string().nullable() }));
const Page = jsonContent(z.object({ items: z.array(z.record(z.string(), z.unknown())), next_cursor: z.string().nullable() }));

const list = securedRoute(["reviewer"], {
  method: "get",
  path: "/v1/quarantine",
  operationId: "listQuarantine",
  tags: ["protocol"],
  summary: "Quarantined messages, newest first",
  request: { query: QuarantineQuery },
  responses: { 200: QuarantinePage, ...securedErrors },
});
const processRoute = securedRoute(["reviewer"], {
  method: "post",
  path: "/v1/quarantine/{message_id}/process",
  operationId: "processQuarantined",
  tags: ["protocol"],
  summary: "Let one message through: back on the WAL queue, marked processed, audited ONE_TIME_PASS",
  request: { params: MessageParam, body: jsonBody(ProcessBody, false) },
  responses: {
    200: jsonContent(z.record(z.string(), z.unknown())),
    404: errorResponse("unknown message"),
    409: errorResponse("already processed"),
    ...securedErrors,
  },
});
const del = securedRoute(["reviewer"], {
  method: "delete",
  path: "/v1/quarantine/{message_id}",
  operationId: "deleteQuarantined",
  tags: ["protocol"],
  summary: "Delete a quarantined message",
  request: { params: MessageParam },
  responses: {
    200: jsonContent(z.object({ deleted: z.number() })),
    404: errorResponse("unknown message"),
    409: errorResponse("already processed (let through): not deleted"),
    ...securedErrors,
  },
});
const batch = securedRoute(["reviewer"], {
  method: "post",
  path: "/v1/quarantine/batch",
  operationId: "batchQuarantine",
  tags: ["protocol"],
  summary: "Process or delete up to 100 messages",
  request: { body: jsonBody(BatchBody) },
  responses: { 200: jsonContent(z.record(z.string(), z.unknown())), ...securedErrors },
});
const stats = securedRoute(["reviewer", "viewer"], {
  method: "get",
  path: "/v1/protocol/stats",
  operationId: "getProtocolStats",
  tags: ["protocol"],
  summary: "Active protocols, quarantine counters, savings",
  responses: { 200: jsonContent(ProtocolStats), ...securedErrors },
});
const active = securedRoute(["reviewer"], {
  method: "get",
  path: "/v1/protocol/active",
  operationId: "listActiveProtocols",
  tags: ["protocol"],
  summary: "The silenced users, most recently silenced first",
  request: { query: ActiveProtocolQuery },
  responses: {
    200: jsonContent(z.object({ items: z.array(SilencedUser), next_cursor: z.string().nullable() }).openapi("SilencedUserPage")),
    ...securedErrors,
  },
});
const audit = securedRoute(["reviewer"], {
  method: "get",
  path: "/v1/protocol/audit",
  operationId: "listProtocolAudit",
  tags: ["protocol"],
  summary: "Protocol audit rows, newest first",
  request: { query: AuditQuery },
  responses: { 200: Page, ...securedErrors },
});

export function quarantineRoutes() {
  return createOpenApiApp()
    .openapi(list, async (c) =>
      c.json(
        (await listQuarantine(deps(c).db, c.req.valid("query"))) as {
          items: z.infer<typeof QuarantineItem>[];
          next_cursor: string | null;
        },
        200,
      ),
    )
    .openapi(processRoute, async (c) =>
      c.json(
        await processOne(deps(c), c.req.valid("param").message_id, c.get("principal")!.id, c.req.valid("json").deactivate_protocol),
        200,
      ),
    )
    .openapi(del, async (c) => {
      const r = await deleteQuarantined(deps(c).db, [c.req.valid("param").message_id]);
      if (r.already_processed) throw new ConflictError("already processed: the message was let through, it cannot be deleted");
      if (!r.deleted) throw new NotFoundError("quarantined message not found");
      return c.json({ deleted: r.deleted }, 200);
    })
    .openapi(batch, async (c) => {
      const b = c.req.valid("json");
      if (b.action === "delete") return c.json(await deleteQuarantined(deps(c).db, b.message_ids), 200);
      const r = await processQuarantined(deps(c), b.message_ids, c.get("principal")!.id, false);
      return c.json({ processed: r.processed, not_found: r.not_found, already_processed: r.already_processed }, 200);
    })
    .openapi(stats, async (c) => c.json((await protocolStats(deps(c).db)) as z.infer<typeof ProtocolStats>, 200))
    .openapi(active, async (c) => c.json(await listActiveProtocols(deps(c).db, c.req.valid("query")), 200))
    .openapi(audit, async (c) => c.json(await protocolAudit(deps(c).db, c.req.valid("query")), 200));
}
