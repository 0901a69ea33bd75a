import { z } from "@hono/zod-openapi";
import {
  ApproveBody,
  ClaimReviewBody,
  Interaction,
  ListReviewsQuery,
  RejectBody,
  approveReview,
  cancelReview,
  claimReview,
  listPendingReviews,
  rejectReview,
  startReview,
} from "@hitl/core";
import { IdempotencyHeaders, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { IdParam } from "./interactions.js";
import { deps } from "../http/deps.js";

const PendingReview = Interaction.extend({ current_customer_status: z.string(), nickname: z.string().nullable() }).openapi("ReviewItem", {
  description: "An interaction waiting for review, with the user's current status and nickname",
});
const conflict = errorResponse("the review's state does not allow this (code conflict)");

const list = securedRoute(["reviewer", "viewer"], {
  method: "get",
  path: "/v1/reviews",
  operationId: "listReviews",
  tags: ["reviews"],
  summary: "Pending reviews, priority desc then oldest first",
  request: { query: ListReviewsQuery },
  responses: { 200: jsonContent(z.object({ items: z.array(PendingReview), next_cursor: z.string().nullable() })), ...securedErrors },
});
const claim = securedRoute(["reviewer"], {
  method: "post",
  path: "/v1/reviews/claim",
  operationId: "claimReview",
  tags: ["reviews"],
  summary: "Claim the highest-priority pending review",
  request: { headers: IdempotencyHeaders, body: jsonBody(ClaimReviewBody, false) },
  responses: { 200: jsonContent(Interaction), 204: { description: "nothing to review" }, ...securedErrors },
});
const transitionResponses = { 200: jsonContent(Interaction), 404: errorResponse("unknown id"), 409: conflict, ...securedErrors };
const start = securedRoute(["reviewer"], {
  method: "post",
  path: "/v1/reviews/{id}/start",
  operationId: "startReview",
  tags: ["reviews"],
  summary: "Start reviewing one item",
  request: { params: IdParam, body: jsonBody(ClaimReviewBody, false) },
  responses: transitionResponses,
});
const approve = securedRoute(["reviewer"], {
  method: "post",
  path: "/v1/reviews/{id}/approve",
  operationId: "approveReview",
  tags: ["reviews"],
  summary: "Approve (enters the outbox)",
  request: { params: IdParam, body: jsonBody(ApproveBody) },
  responses: transitionResponses,
});
const reject = securedRoute(["reviewer"], {
  method: "post",
  path: "/v1/reviews/{id}/reject",
  operationId: "rejectReview",
  tags: ["reviews"],
  summary: "Reject",
  request: { params: IdParam, body: jsonBody(RejectBody, false) },
  responses: transitionResponses,
});
const cancel = securedRoute(["reviewer"], {
  method: "post",
  path: "/v1/reviews/{id}/cancel",
  operationId: "cancelReview",
  tags: ["reviews"],
  summary: "Cancel a review in progress (back to pending)",
  request: { params: IdParam },
  responses: transitionResponses,
});

export function reviewRoutes() {
  const reviewer = (c: { get(k: "principal"): { id: string } | undefined }) => c.get("principal")!.id;
  return createOpenApiApp()
    .openapi(list, async (c) => c.json(await listPendingReviews(deps(c).db, c.req.valid("query")), 200))
    .openapi(claim, async (c) => {
      const item = await claimReview(deps(c), reviewer(c), c.req.valid("json").lease_seconds, idempotencyScope(c, "claimReview")?.key);
      return item ? c.json(item, 200) : c.body(null, 204);
    })
    .openapi(start, async (c) =>
      c.json(await startReview(deps(c), c.req.valid("param").id, reviewer(c), c.req.valid("json").lease_seconds), 200),
    )
    .openapi(approve, async (c) => c.json(await approveReview(deps(c), c.req.valid("param").id, reviewer(c), c.req.valid("json")), 200))
    .openapi(reject, async (c) =>
      c.json(await rejectReview(deps(c), c.req.valid("param").id, reviewer(c), c.req.valid("json").reviewer_notes), 200),
    )
    .openapi(cancel, async (c) => c.json(await cancelReview(deps(c), c.req.valid("param").id, reviewer(c)), 200));
}
