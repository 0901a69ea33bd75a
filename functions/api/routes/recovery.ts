import { z } from "@hono/zod-openapi";
import {
  CreateOperationBody,
  HighWaterQuery,
  USER_FIELDS_NOTE,
  OPERATION_STATUSES,
  OPERATION_TYPES,
  ListQuery,
  OperationsQuery,
  PatchOperationBody,
  PutCursorBody,
  UserId,
  RecoveredMessage,
  RecoveredQuery,
  RecoveryStatus,
  listRecoveredMessages,
  recoveryStatus,
  createOperation,
  getCursor,
  highWater,
  listCursors,
  listOperations,
  putCursor,
  recoveryStats,
  updateOperation,
} from "@hitl/core";
import { IdempotencyHeaders, idempotencyErrors, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { deps } from "../http/deps.js";

const Any = jsonContent(z.record(z.string(), z.unknown()));
const Cursor = z
  .object({
    user_id: z.string(),
    last_processed_telegram_id: z.number(),
    last_processed_telegram_date: z.string(),
    last_recovery_check: z.string(),
    total_recovered_messages: z.number(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Cursor", { description: "How far a user's messages were processed (never moves backwards)" });
const RecoveryOperation = z
  .object({
    id: z.string(),
    operation_type: z.enum(OPERATION_TYPES),
    started_at: z.string(),
    completed_at: z.string().nullable(),
    users_checked: z.number(),
    messages_recovered: z.number(),
    messages_skipped: z.number(),
    errors_encountered: z.number(),
    status: z.enum(OPERATION_STATUSES),
    error_details: z.unknown().nullable(),
    metadata: z.unknown().nullable(),
    duration_seconds: z.number().nullable().describe("completed_at - started_at (null while running)"),
    messages_per_user: z.number().nullable().describe("messages_recovered / users_checked (null when no user was checked)"),
  })
  .openapi("RecoveryOperation", {
    description: `A recovery run after downtime, with its counters. \`metadata\` and \`error_details\`: ${USER_FIELDS_NOTE}`,
  });

/** Rows as the SQL selects them (CURSOR_COLUMNS, OPERATION_COLUMNS): the schemas above document them. */
type Rows<T extends z.ZodType> = { items: z.infer<T>[]; next_cursor: string | null };
const page = <T extends z.ZodType>(item: T) => jsonContent(z.object({ items: z.array(item), next_cursor: z.string().nullable() }));
const UserParam = z.object({ user_id: UserId });
const OpParam = z.object({ id: z.uuid() });
const notFound = { 404: errorResponse("not found") };

const routes = {
  cursors: securedRoute(["bot", "admin"], {
    method: "get",
    path: "/v1/recovery/cursors",
    operationId: "listCursors",
    tags: ["recovery"],
    summary: "All cursors, least recently checked first",
    request: { query: ListQuery },
    responses: { 200: page(Cursor), ...securedErrors },
  }),
  cursor: securedRoute(["bot"], {
    method: "get",
    path: "/v1/recovery/cursors/{user_id}",
    operationId: "getCursor",
    tags: ["recovery"],
    summary: "One cursor",
    request: { params: UserParam },
    responses: { 200: jsonContent(Cursor), ...notFound, ...securedErrors },
  }),
  putCursor: securedRoute(["bot"], {
    method: "put",
    path: "/v1/recovery/cursors/{user_id}",
    operationId: "putCursor",
    tags: ["recovery"],
    summary: "Advance a cursor (never backwards)",
    request: { headers: IdempotencyHeaders, params: UserParam, body: jsonBody(PutCursorBody) },
    responses: { 200: jsonContent(Cursor), ...idempotencyErrors, ...securedErrors },
  }),
  highWater: securedRoute(["bot"], {
    method: "get",
    path: "/v1/recovery/high-water",
    operationId: "getHighWater",
    tags: ["recovery"],
    summary: "Newest stored Telegram message per user",
    request: { query: HighWaterQuery },
    responses: { 200: jsonContent(z.object({ items: z.array(Any.content["application/json"].schema) })), ...securedErrors },
  }),
  createOp: securedRoute(["bot"], {
    method: "post",
    path: "/v1/recovery/operations",
    operationId: "createRecoveryOperation",
    tags: ["recovery"],
    summary: "Start a recovery operation",
    description: `\`metadata\`: ${USER_FIELDS_NOTE}`,
    request: { headers: IdempotencyHeaders, body: jsonBody(CreateOperationBody) },
    responses: { 201: jsonContent(z.object({ id: z.string() }), "created"), ...idempotencyErrors, ...securedErrors },
  }),
  patchOp: securedRoute(["bot"], {
    method: "patch",
    path: "/v1/recovery/operations/{id}",
    operationId: "updateRecoveryOperation",
    tags: ["recovery"],
    summary: "Update counters or finish an operation",
    description: `\`error_details\`: ${USER_FIELDS_NOTE}`,
    request: { params: OpParam, body: jsonBody(PatchOperationBody) },
    responses: { 200: jsonContent(RecoveryOperation), ...notFound, ...securedErrors },
  }),
  ops: securedRoute(["bot", "admin"], {
    method: "get",
    path: "/v1/recovery/operations",
    operationId: "listRecoveryOperations",
    tags: ["recovery"],
    summary: "Operations, newest first",
    request: { query: OperationsQuery },
    responses: { 200: page(RecoveryOperation), ...securedErrors },
  }),
  recovered: securedRoute(["bot", "admin", "viewer"], {
    method: "get",
    path: "/v1/recovery/recovered-messages",
    operationId: "listRecoveredMessages",
    tags: ["recovery"],
    summary: "Recovered messages, newest Telegram date first, with their delay in hours",
    request: { query: RecoveredQuery },
    responses: { 200: page(RecoveredMessage), ...securedErrors },
  }),
  status: securedRoute(["bot", "admin", "viewer"], {
    method: "get",
    path: "/v1/recovery/status",
    operationId: "getRecoveryStatus",
    tags: ["recovery"],
    summary: "The last operation, hours since it, stale cursors, and a health verdict with its thresholds",
    responses: { 200: jsonContent(RecoveryStatus), ...securedErrors },
  }),
  stats: securedRoute(["bot", "admin", "viewer"], {
    method: "get",
    path: "/v1/recovery/stats",
    operationId: "getRecoveryStats",
    tags: ["recovery"],
    summary: "Recovered totals and recent operations",
    responses: { 200: Any, ...securedErrors },
  }),
};

export function recoveryRoutes() {
  return createOpenApiApp()
    .openapi(routes.cursors, async (c) => c.json((await listCursors(deps(c).db, c.req.valid("query"))) as Rows<typeof Cursor>, 200))
    .openapi(routes.cursor, async (c) => c.json((await getCursor(deps(c).db, c.req.valid("param").user_id)) as z.infer<typeof Cursor>, 200))
    .openapi(routes.putCursor, async (c) =>
      c.json(
        (await putCursor(deps(c).db, c.req.valid("param").user_id, c.req.valid("json"), idempotencyScope(c, "putCursor"))) as z.infer<
          typeof Cursor
        >,
        200,
      ),
    )
    .openapi(routes.highWater, async (c) => c.json(await highWater(deps(c).db, c.req.valid("query").user_ids), 200))
    .openapi(routes.createOp, async (c) =>
      c.json(await createOperation(deps(c).db, c.req.valid("json"), idempotencyScope(c, "createRecoveryOperation")), 201),
    )
    .openapi(routes.patchOp, async (c) =>
      c.json((await updateOperation(deps(c).db, c.req.valid("param").id, c.req.valid("json"))) as z.infer<typeof RecoveryOperation>, 200),
    )
    .openapi(routes.ops, async (c) =>
      c.json((await listOperations(deps(c).db, c.req.valid("query"))) as Rows<typeof RecoveryOperation>, 200),
    )
    .openapi(routes.stats, async (c) => c.json(await recoveryStats(deps(c).db), 200))
    .openapi(routes.recovered, async (c) => c.json(await listRecoveredMessages(deps(c).db, c.req.valid("query")), 200))
    .openapi(routes.status, async (c) => c.json(await recoveryStatus(deps(c).db), 200));
}
