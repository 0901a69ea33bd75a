import { z } from "@hono/zod-openapi";
import {
  MemoryReset,
  MemoryUser,
  MemoryUsersQuery,
  listMemoryUsers,
  resetMemory,
  AppendHistoryBody,
  MemoryQuery,
  MemoryStats,
  MemoryView,
  PatchContextBody,
  UserId,
  globalMemoryStats,
  userMemoryStats,
  appendMemoryHistory,
  getMemory,
  patchMemoryContext,
} from "@hitl/core";
import { IdempotencyHeaders, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { deps } from "../http/deps.js";

const UserParam = z.object({ id: UserId });

const get = securedRoute(["agent", "reviewer"], {
  method: "get",
  path: "/v1/users/{id}/memory",
  operationId: "getMemory",
  tags: ["memory"],
  summary: "Context, recent messages, temporal summary of older ones, and the anti-interrogation flag",
  request: { params: UserParam, query: MemoryQuery },
  responses: { 200: jsonContent(MemoryView), ...securedErrors },
});
const patch = securedRoute(["agent"], {
  method: "patch",
  path: "/v1/users/{id}/memory/context",
  operationId: "patchMemoryContext",
  tags: ["memory"],
  summary: "Merge into the context; over 100 KB the compression levels apply in turn",
  request: { params: UserParam, body: jsonBody(PatchContextBody) },
  responses: {
    200: jsonContent(z.object({ context: z.record(z.string(), z.unknown()), compression_level: z.number().int().min(0).max(3) })),
    ...securedErrors,
  },
});
const append = securedRoute(["agent", "bot"], {
  method: "post",
  path: "/v1/users/{id}/memory/history",
  operationId: "appendMemoryHistory",
  tags: ["memory"],
  summary: "Append one message to the history",
  request: { headers: IdempotencyHeaders, params: UserParam, body: jsonBody(AppendHistoryBody) },
  responses: { 201: jsonContent(z.object({ total_messages: z.number() }), "appended"), ...securedErrors },
});
const stats = securedRoute(["reviewer", "agent", "viewer"], {
  method: "get",
  path: "/v1/users/{id}/memory/stats",
  operationId: "getMemoryStats",
  tags: ["memory"],
  summary: "Sizes and limits of one user's memory",
  request: { params: UserParam },
  responses: { 200: jsonContent(MemoryStats), ...securedErrors },
});
const allStats = securedRoute(["viewer"], {
  method: "get",
  path: "/v1/memory/stats",
  operationId: "getAllMemoryStats",
  tags: ["memory"],
  summary: "Totals across users, largest contexts, compression levels",
  responses: { 200: jsonContent(z.record(z.string(), z.unknown())), ...securedErrors },
});

const reset = securedRoute(["admin"], {
  method: "delete",
  path: "/v1/users/{id}/memory",
  operationId: "resetMemory",
  tags: ["memory"],
  summary: "Reset the user's memory (context, history and its summary, caches); the interactions stay. Audited",
  request: { params: UserParam },
  responses: { 200: jsonContent(MemoryReset), ...securedErrors },
});
const users = securedRoute(["admin"], {
  method: "get",
  path: "/v1/memory/users",
  operationId: "listMemoryUsers",
  tags: ["memory"],
  summary: "Users with a stored context, largest first",
  request: { query: MemoryUsersQuery },
  responses: {
    200: jsonContent(z.object({ items: z.array(MemoryUser), next_cursor: z.string().nullable() }).openapi("MemoryUserPage")),
    ...securedErrors,
  },
});

export function memoryRoutes() {
  return createOpenApiApp()
    .openapi(get, async (c) => c.json(await getMemory(deps(c), c.req.valid("param").id, c.req.valid("query").recent), 200))
    .openapi(patch, async (c) => c.json(await patchMemoryContext(deps(c), c.req.valid("param").id, c.req.valid("json").updates), 200))
    .openapi(append, async (c) => {
      const r = await appendMemoryHistory(deps(c), c.req.valid("param").id, c.req.valid("json"), idempotencyScope(c, "appendHistory")?.key);
      return c.json({ total_messages: r.total_messages }, 201);
    })
    .openapi(stats, async (c) => c.json(await userMemoryStats(deps(c).db, c.req.valid("param").id), 200))
    .openapi(allStats, async (c) => c.json(await globalMemoryStats(deps(c).db), 200))
    .openapi(reset, async (c) => c.json(await resetMemory(deps(c), c.req.valid("param").id, c.get("principal")!.id), 200))
    .openapi(users, async (c) => c.json(await listMemoryUsers(deps(c).db, c.req.valid("query")), 200));
}
