import { z } from "@hono/zod-openapi";
import { CreateOperationBody, HighWaterQuery, ListQuery, OperationsQuery, PatchOperationBody, PutCursorBody, UserId,
  createOperation, getCursor, highWater, listCursors, listOperations, putCursor, recoveryStats, updateOperation } from "@hitl/core";
import { IdempotencyHeaders, requestKey } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonBody, jsonContent, securedErrors } from "../http/schemas.js";

const Any = jsonContent(z.record(z.string(), z.unknown()));
const Page = jsonContent(z.object({ items: z.array(z.record(z.string(), z.unknown())), next_cursor: z.string().nullable() }));
const UserParam = z.object({ user_id: UserId });
const OpParam = z.object({ id: z.uuid() });
const notFound = { 404: jsonContent(z.any(), "not found") };

const routes = {
  cursors: securedRoute(["bot", "admin"], { method: "get", path: "/v1/recovery/cursors", tags: ["recovery"], summary: "All cursors, least recently checked first", request: { query: ListQuery }, responses: { 200: Page, ...securedErrors } }),
  cursor: securedRoute(["bot"], { method: "get", path: "/v1/recovery/cursors/{user_id}", tags: ["recovery"], summary: "One cursor", request: { params: UserParam }, responses: { 200: Any, ...notFound, ...securedErrors } }),
  putCursor: securedRoute(["bot"], { method: "put", path: "/v1/recovery/cursors/{user_id}", tags: ["recovery"], summary: "Advance a cursor (never backwards)", request: { headers: IdempotencyHeaders, params: UserParam, body: jsonBody(PutCursorBody) }, responses: { 200: Any, ...securedErrors } }),
  highWater: securedRoute(["bot"], { method: "get", path: "/v1/recovery/high-water", tags: ["recovery"], summary: "Newest stored Telegram message per user", request: { query: HighWaterQuery }, responses: { 200: jsonContent(z.object({ items: z.array(Any.content["application/json"].schema) })), ...securedErrors } }),
  createOp: securedRoute(["bot"], { method: "post", path: "/v1/recovery/operations", tags: ["recovery"], summary: "Start a recovery operation", request: { headers: IdempotencyHeaders, body: jsonBody(CreateOperationBody) }, responses: { 201: jsonContent(z.object({ id: z.string() }), "created"), ...securedErrors } }),
  patchOp: securedRoute(["bot"], { method: "patch", path: "/v1/recovery/operations/{id}", tags: ["recovery"], summary: "Update counters or finish an operation", request: { params: OpParam, body: jsonBody(PatchOperationBody) }, responses: { 200: Any, ...notFound, ...securedErrors } }),
  ops: securedRoute(["bot", "admin"], { method: "get", path: "/v1/recovery/operations", tags: ["recovery"], summary: "Operations, newest first", request: { query: OperationsQuery }, responses: { 200: Page, ...securedErrors } }),
  stats: securedRoute(["bot", "admin"], { method: "get", path: "/v1/recovery/stats", tags: ["recovery"], summary: "Recovered totals and recent operations", responses: { 200: Any, ...securedErrors } }),
};

export function recoveryRoutes() {
  const db = (c: { get(k: "services"): import("@hitl/core").Services }) => c.get("services").db;
  return createOpenApiApp()
    .openapi(routes.cursors, async (c) => c.json(await listCursors(db(c), c.req.valid("query")), 200))
    .openapi(routes.cursor, async (c) => c.json(await getCursor(db(c), c.req.valid("param").user_id), 200))
    .openapi(routes.putCursor, async (c) => c.json(await putCursor(db(c), c.req.valid("param").user_id, c.req.valid("json"), requestKey(c)), 200))
    .openapi(routes.highWater, async (c) => c.json(await highWater(db(c), c.req.valid("query").user_ids), 200))
    .openapi(routes.createOp, async (c) => c.json(await createOperation(db(c), c.req.valid("json"), requestKey(c)), 201))
    .openapi(routes.patchOp, async (c) => c.json(await updateOperation(db(c), c.req.valid("param").id, c.req.valid("json")), 200))
    .openapi(routes.ops, async (c) => c.json(await listOperations(db(c), c.req.valid("query")), 200))
    .openapi(routes.stats, async (c) => c.json(await recoveryStats(db(c)), 200));
}
