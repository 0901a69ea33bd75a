import { z } from "@hono/zod-openapi";
import {
  PutNicknameBody,
  PutProtocolBody,
  PutStatusBody,
  UserId,
  UserStatus,
  eraseUser,
  getProtocol,
  USER_FIELDS_NOTE,
  OWN_USER_DATA_NOTE,
  getUserStatus,
  setNickname,
  setProtocol,
  setUserStatus,
} from "@hitl/core";
import { deps } from "../http/deps.js";
import { IdempotencyHeaders, idempotencyErrors, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonBody, jsonContent, securedErrors } from "../http/schemas.js";

const UserParam = z.object({ id: UserId });
const Protocol = z
  .object({
    user_id: z.string(),
    status: z.enum(["ACTIVE", "INACTIVE"]),
    activated_by: z.string().nullable(),
    activated_at: z.string().nullable(),
    reason: z.string().nullable(),
    messages_quarantined: z.number(),
    cost_saved_usd: z.number(),
    last_message_at: z.string().nullable(),
  })
  .openapi("Protocol", { description: "A user's silence-protocol status" });
const Erasure = z.object({
  user_id: z.string(),
  deleted: z.object({
    postgres: z.record(z.string(), z.number()),
    redis_keys: z.number(),
    wal_messages: z.number(),
    archives_rewritten: z.number(),
  }),
});

const getStatus = securedRoute(["reviewer", "agent", "viewer"], {
  method: "get",
  path: "/v1/users/{id}/status",
  operationId: "getUserStatus",
  tags: ["users"],
  summary: "Customer status, LTV and nickname (PROSPECT/0/null when unknown)",
  request: { params: UserParam },
  responses: { 200: jsonContent(UserStatus), ...securedErrors },
});
const putStatus = securedRoute(["reviewer"], {
  method: "put",
  path: "/v1/users/{id}/status",
  operationId: "setUserStatus",
  tags: ["users"],
  summary: "Set the customer status; LTV grows only on CUSTOMER; a change is recorded as a manual transition",
  description:
    "`ltv_amount` (US dollars, 0..10000) is added to the lifetime value when `customer_status` is CUSTOMER. Amounts are whole cents, the precision of the column " +
    "(numeric(20,2)): an amount with more than 2 decimal places (0.005, 5e-324) is refused with 400, never rounded. With an `Idempotency-Key` the amount is added once, " +
    "however many retries run at once; the same key with a different body answers 422.",
  request: { headers: IdempotencyHeaders, params: UserParam, body: jsonBody(PutStatusBody) },
  responses: { 200: jsonContent(UserStatus), ...idempotencyErrors, ...securedErrors },
});
const putNickname = securedRoute(["reviewer"], {
  method: "put",
  path: "/v1/users/{id}/nickname",
  operationId: "setUserNickname",
  tags: ["users"],
  summary: "Set the nickname",
  request: { params: UserParam, body: jsonBody(PutNicknameBody) },
  responses: { 200: jsonContent(UserStatus), ...securedErrors },
});
const getProto = securedRoute(["reviewer", "agent"], {
  method: "get",
  path: "/v1/users/{id}/protocol",
  operationId: "getProtocol",
  tags: ["protocol"],
  summary: "Silence-protocol status",
  request: { params: UserParam },
  responses: { 200: jsonContent(Protocol), ...securedErrors },
});
const putProto = securedRoute(["reviewer"], {
  method: "put",
  path: "/v1/users/{id}/protocol",
  operationId: "setProtocol",
  tags: ["protocol"],
  summary: "Activate or deactivate; audited with the true previous status",
  request: { headers: IdempotencyHeaders, params: UserParam, body: jsonBody(PutProtocolBody) },
  responses: { 200: jsonContent(Protocol), ...idempotencyErrors, ...securedErrors },
});
const erase = securedRoute(["admin"], {
  method: "delete",
  path: "/v1/users/{id}",
  operationId: "eraseUser",
  tags: ["users"],
  summary: "GDPR erasure from every tier (recorded in the erasure log)",
  description: `Deletes every row, cache key and queued message of the user. Recovery operations' \`metadata\` and \`error_details\`: ${USER_FIELDS_NOTE} Interactions' \`cta_data\` and the memory context: ${OWN_USER_DATA_NOTE}`,
  request: { params: UserParam },
  responses: { 200: jsonContent(Erasure), ...securedErrors },
});

export function userRoutes() {
  return createOpenApiApp()
    .openapi(getStatus, async (c) => c.json(await getUserStatus(deps(c), c.req.valid("param").id), 200))
    .openapi(putStatus, async (c) =>
      c.json(
        await setUserStatus(
          deps(c),
          c.req.valid("param").id,
          c.req.valid("json"),
          idempotencyScope(c, "setUserStatus"),
          c.get("principal")!.id,
        ),
        200,
      ),
    )
    .openapi(putNickname, async (c) => c.json(await setNickname(deps(c), c.req.valid("param").id, c.req.valid("json").nickname), 200))
    .openapi(getProto, async (c) => c.json(await getProtocol(deps(c), c.req.valid("param").id), 200))
    .openapi(putProto, async (c) => {
      const b = c.req.valid("json");
      return c.json(
        await setProtocol(deps(c), c.req.valid("param").id, b.status, c.get("principal")!.id, b.reason, idempotencyScope(c, "setProtocol")),
        200,
      );
    })
    .openapi(erase, async (c) => c.json(await eraseUser(deps(c), c.req.valid("param").id, c.get("principal")!.id), 200));
}
