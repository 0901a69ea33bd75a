import { z } from "@hono/zod-openapi";
import {
  CtaOutcome,
  CtaResponseBody,
  FunnelRow,
  HistoryQuery,
  Transition,
  UserId,
  customerFunnel,
  recordCtaResponse,
  statusHistory,
} from "@hitl/core";
import { deps } from "../http/deps.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonBody, jsonContent, securedErrors } from "../http/schemas.js";

const InteractionParam = z.object({ id: z.uuid() });
const UserParam = z.object({ id: UserId });
const TransitionPage = z.object({ items: z.array(Transition), next_cursor: z.string().nullable() }).openapi("StatusTransitionPage");
const Funnel = z
  .object({ items: z.array(FunnelRow) })
  .openapi("CustomerFunnel", { description: "Every stage, in funnel order: PROSPECT, LEAD_QUALIFIED, CUSTOMER, CHURNED, LEAD_EXHAUSTED" });

const cta = securedRoute(["agent"], {
  method: "post",
  path: "/v1/interactions/{id}/cta-response",
  operationId: "recordCtaResponse",
  tags: ["users"],
  summary: "Record the user's CTA response; the reference's rules move the customer status in the same transaction",
  description:
    "Rules, first that applies: converted (or CONVERTED) -> CUSTOMER; POLITE_DECLINE with <= 3 CTAs sent -> LEAD_QUALIFIED; " +
    "RUDE_DECLINE or > 5 CTAs -> LEAD_EXHAUSTED; INTERESTED -> LEAD_QUALIFIED; otherwise the status stays. A change is recorded as an automated " +
    "transition. Idempotent: the response already recorded for the interaction applies nothing again (`repeated`).",
  request: { params: InteractionParam, body: jsonBody(CtaResponseBody) },
  responses: { 200: jsonContent(CtaOutcome), ...securedErrors },
});
const history = securedRoute(["reviewer", "agent"], {
  method: "get",
  path: "/v1/users/{id}/status/history",
  operationId: "getUserStatusHistory",
  tags: ["users"],
  summary: "The user's status transitions, newest first",
  request: { params: UserParam, query: HistoryQuery },
  responses: { 200: jsonContent(TransitionPage), ...securedErrors },
});
const funnel = securedRoute(["reviewer"], {
  method: "get",
  path: "/v1/customers/funnel",
  operationId: "getCustomerFunnel",
  tags: ["users"],
  summary: "The customer funnel: per status, users, average CTAs, conversions, LTV sum and average",
  responses: { 200: jsonContent(Funnel), ...securedErrors },
});

export function customerRoutes() {
  return createOpenApiApp()
    .openapi(cta, async (c) =>
      c.json(await recordCtaResponse(deps(c), c.req.valid("param").id, c.req.valid("json"), c.get("principal")!.id), 200),
    )
    .openapi(history, async (c) => c.json(await statusHistory(deps(c).db, c.req.valid("param").id, c.req.valid("query")), 200))
    .openapi(funnel, async (c) => c.json(await customerFunnel(deps(c).db), 200));
}
