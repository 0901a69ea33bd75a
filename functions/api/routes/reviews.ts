import { z } from "@hono/zod-openapi";
import { ApproveBody, ClaimReviewBody, Interaction, ListReviewsQuery, RejectBody, listPendingReviews } from "@hitl/core";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { IdParam } from "./interactions.js";

const PendingReview = Interaction.extend({ current_customer_status: z.string(), nickname: z.string().nullable() });
const conflict = jsonContent(z.object({ error: z.object({ code: z.literal("conflict"), message: z.string() }) }), "the review's state does not allow this");

const list = securedRoute(["reviewer"], {
  method: "get", path: "/v1/reviews", tags: ["reviews"], summary: "Pending reviews, priority desc then oldest first",
  request: { query: ListReviewsQuery },
  responses: { 200: jsonContent(z.object({ items: z.array(PendingReview), next_cursor: z.string().nullable() })), ...securedErrors },
});
const claim = securedRoute(["reviewer"], {
  method: "post", path: "/v1/reviews/claim", tags: ["reviews"], summary: "Claim the highest-priority pending review",
  request: { body: jsonBody(ClaimReviewBody, false) },
  responses: { 200: jsonContent(Interaction), 204: { description: "nothing to review" }, ...securedErrors },
});
const transition = (path: string, summary: string, body?: z.ZodType) => securedRoute(["reviewer"], {
  method: "post", path, tags: ["reviews"], summary,
  request: { params: IdParam, ...(body ? { body: jsonBody(body, false) } : {}) },
  responses: { 200: jsonContent(Interaction), 404: jsonContent(z.any(), "unknown id"), 409: conflict, ...securedErrors },
});
const start = transition("/v1/reviews/{id}/start", "Start reviewing one item", ClaimReviewBody);
const approve = securedRoute(["reviewer"], {
  method: "post", path: "/v1/reviews/{id}/approve", tags: ["reviews"], summary: "Approve (enters the outbox)",
  request: { params: IdParam, body: jsonBody(ApproveBody) },
  responses: { 200: jsonContent(Interaction), 404: jsonContent(z.any(), "unknown id"), 409: conflict, ...securedErrors },
});
const reject = transition("/v1/reviews/{id}/reject", "Reject", RejectBody);
const cancel = transition("/v1/reviews/{id}/cancel", "Cancel a review in progress (back to pending)");

export function reviewRoutes() {
  const reviewer = (c: { get(k: "principal"): { id: string } | undefined }) => c.get("principal")!.id;
  return createOpenApiApp()
    .openapi(list, async (c) => c.json(await listPendingReviews(c.get("services").db, c.req.valid("query")), 200))
    .openapi(claim, async (c) => {
      const item = await c.get("services").reviews.claim(reviewer(c), c.req.valid("json").lease_seconds);
      return item ? c.json(item, 200) : c.body(null, 204);
    })
    .openapi(start, async (c) => {
      const body = (c.req.valid("json" as never) ?? {}) as { lease_seconds?: number };
      return c.json(await c.get("services").reviews.start(c.req.valid("param").id, reviewer(c), body.lease_seconds ?? 900), 200);
    })
    .openapi(approve, async (c) => c.json(await c.get("services").reviews.approve(c.req.valid("param").id, reviewer(c), c.req.valid("json")), 200))
    .openapi(reject, async (c) => {
      const body = (c.req.valid("json" as never) ?? {}) as { reviewer_notes?: string };
      return c.json(await c.get("services").reviews.reject(c.req.valid("param").id, reviewer(c), body.reviewer_notes), 200);
    })
    .openapi(cancel, async (c) => c.json(await c.get("services").reviews.cancel(c.req.valid("param").id, reviewer(c)), 200));
}
