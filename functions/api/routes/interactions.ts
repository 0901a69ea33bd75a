import { z } from "@hono/zod-openapi";
import {
  CreateInteractionBody,
  Interaction,
  InteractionId,
  NotesBody,
  createInteraction,
  getInteraction,
  setReviewerNotes,
} from "@hitl/core";
import { IdempotencyHeaders, idempotencyErrors, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { deps } from "../http/deps.js";

export const IdParam = z.object({ id: InteractionId });

const create = securedRoute(["agent"], {
  method: "post",
  path: "/v1/interactions",
  operationId: "createInteraction",
  tags: ["interactions"],
  summary: "Store an interaction (idempotent on message_id) and append the user turn to the history",
  request: { headers: IdempotencyHeaders, body: jsonBody(CreateInteractionBody) },
  responses: {
    201: jsonContent(z.object({ id: z.string() }), "created"),
    200: jsonContent(z.object({ id: z.string() }), "already stored (same message_id)"),
    409: errorResponse(
      "the message_id belongs to another user (an interaction of another user holds it, or the queued message is another user's)",
    ),
    ...idempotencyErrors,
    ...securedErrors,
  },
});
const get = securedRoute(["agent", "reviewer", "viewer"], {
  method: "get",
  path: "/v1/interactions/{id}",
  operationId: "getInteraction",
  tags: ["interactions"],
  summary: "One interaction",
  request: { params: IdParam },
  responses: { 200: jsonContent(Interaction), ...securedErrors },
});
const notes = securedRoute(["reviewer"], {
  method: "patch",
  path: "/v1/interactions/{id}/notes",
  operationId: "setInteractionNotes",
  tags: ["interactions"],
  summary: "Set reviewer notes",
  request: { params: IdParam, body: jsonBody(NotesBody) },
  responses: { 200: jsonContent(Interaction), ...securedErrors },
});

export function interactionRoutes() {
  return createOpenApiApp()
    .openapi(create, async (c) => {
      const r = await createInteraction(deps(c), c.req.valid("json"), idempotencyScope(c, "createInteraction"));
      return c.json({ id: r.id }, r.created ? 201 : 200);
    })
    .openapi(get, async (c) => c.json(await getInteraction(deps(c).db, c.req.valid("param").id), 200))
    .openapi(notes, async (c) =>
      c.json(await setReviewerNotes(deps(c).db, c.req.valid("param").id, c.req.valid("json").reviewer_notes), 200),
    );
}
