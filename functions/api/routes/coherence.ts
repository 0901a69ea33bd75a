import { z } from "@hono/zod-openapi";
import {
  ActiveCommitment,
  ActiveQuery,
  AnalysesQuery,
  CoherenceAnalysis,
  Commitment,
  CommitmentListQuery,
  ConflictQuery,
  CreateAnalysisBody,
  CreateCommitmentBody,
  CreateRotationBody,
  PatchCommitmentBody,
  PromptRotation,
  RotationQuery,
  UserId,
  checkCommitmentConflicts,
  createCommitment,
  listActiveCommitments,
  listAnalyses,
  listRotations,
  listUserCommitments,
  recordAnalysis,
  recordRotation,
  updateCommitmentStatus,
} from "@hitl/core";
import { IdempotencyHeaders, idempotencyScope } from "../http/idempotency.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import { deps } from "../http/deps.js";

const UserParam = z.object({ id: UserId });
const IdParam = z.object({ id: z.uuid() });
const page = <T extends z.ZodType>(item: T, name: string) =>
  jsonContent(z.object({ items: z.array(item), next_cursor: z.string().nullable() }).openapi(name));
const Conflicts = z
  .object({
    user_id: z.string(),
    start: z.string(),
    end: z.string(),
    has_conflict: z.boolean(),
    truncated: z.boolean().describe("More commitments fell in the window than the answer lists (at most 100)"),
    conflicts: z.array(Commitment),
  })
  .openapi("CommitmentConflicts", { description: "The user's active commitments due within the window" });
const tags: ["coherence"] = ["coherence"];

const routes = {
  create: securedRoute(["agent"], {
    method: "post",
    path: "/v1/users/{id}/commitments",
    operationId: "createCommitment",
    tags,
    summary: "Record a commitment the assistant made (optionally from an interaction of the user)",
    request: { headers: IdempotencyHeaders, params: UserParam, body: jsonBody(CreateCommitmentBody) },
    responses: {
      201: jsonContent(Commitment, "created"),
      200: jsonContent(Commitment, "a repeat of the same Idempotency-Key"),
      ...securedErrors,
    },
  }),
  list: securedRoute(["agent", "reviewer"], {
    method: "get",
    path: "/v1/users/{id}/commitments",
    operationId: "listUserCommitments",
    tags,
    summary: "A user's commitments, soonest due first (overdue ones are expired first)",
    request: { params: UserParam, query: CommitmentListQuery },
    responses: { 200: page(Commitment, "CommitmentPage"), ...securedErrors },
  }),
  conflicts: securedRoute(["agent", "reviewer"], {
    method: "get",
    path: "/v1/users/{id}/commitments/conflicts",
    operationId: "checkCommitmentConflicts",
    tags,
    summary: "Active commitments of the user due within [start, end] (at most 31 days)",
    request: { params: UserParam, query: ConflictQuery },
    responses: { 200: jsonContent(Conflicts), ...securedErrors },
  }),
  active: securedRoute(["agent", "reviewer"], {
    method: "get",
    path: "/v1/commitments/active",
    operationId: "listActiveCommitments",
    tags,
    summary: "Active commitments across users, soonest due first, with hours remaining and urgency",
    request: { query: ActiveQuery },
    responses: { 200: page(ActiveCommitment, "ActiveCommitmentPage"), ...securedErrors },
  }),
  patch: securedRoute(["agent", "reviewer"], {
    method: "patch",
    path: "/v1/commitments/{id}",
    operationId: "updateCommitmentStatus",
    tags,
    summary: "Fulfil, cancel or expire an active commitment (the same status again answers 200)",
    request: { params: IdParam, body: jsonBody(PatchCommitmentBody) },
    responses: {
      200: jsonContent(Commitment),
      409: errorResponse("the commitment is already final with another status"),
      ...securedErrors,
    },
  }),
  analyze: securedRoute(["agent"], {
    method: "post",
    path: "/v1/interactions/{id}/coherence",
    operationId: "recordCoherenceAnalysis",
    tags,
    summary: "Record the coherence analysis of an interaction",
    request: { headers: IdempotencyHeaders, params: IdParam, body: jsonBody(CreateAnalysisBody) },
    responses: {
      201: jsonContent(CoherenceAnalysis, "created"),
      200: jsonContent(CoherenceAnalysis, "a repeat of the same Idempotency-Key"),
      ...securedErrors,
    },
  }),
  analyses: securedRoute(["agent", "reviewer"], {
    method: "get",
    path: "/v1/interactions/{id}/coherence",
    operationId: "listCoherenceAnalyses",
    tags,
    summary: "The coherence analyses of an interaction, oldest first",
    request: { params: IdParam, query: AnalysesQuery },
    responses: { 200: page(CoherenceAnalysis, "CoherenceAnalysisPage"), ...securedErrors },
  }),
  rotate: securedRoute(["agent"], {
    method: "post",
    path: "/v1/users/{id}/prompt-rotations",
    operationId: "recordPromptRotation",
    tags,
    summary: "Record a persona prompt rotation for a user",
    request: { headers: IdempotencyHeaders, params: UserParam, body: jsonBody(CreateRotationBody) },
    responses: {
      201: jsonContent(PromptRotation, "created"),
      200: jsonContent(PromptRotation, "a repeat of the same Idempotency-Key"),
      ...securedErrors,
    },
  }),
  rotations: securedRoute(["agent", "reviewer"], {
    method: "get",
    path: "/v1/users/{id}/prompt-rotations",
    operationId: "listPromptRotations",
    tags,
    summary: "A user's prompt rotations, newest first",
    request: { params: UserParam, query: RotationQuery },
    responses: { 200: page(PromptRotation, "PromptRotationPage"), ...securedErrors },
  }),
};

export function coherenceRoutes() {
  return createOpenApiApp()
    .openapi(routes.create, async (c) => {
      const r = await createCommitment(
        deps(c).db,
        c.req.valid("param").id,
        c.req.valid("json"),
        idempotencyScope(c, "createCommitment")?.key,
      );
      return r.created ? c.json(r.commitment, 201) : c.json(r.commitment, 200);
    })
    .openapi(routes.list, async (c) => c.json(await listUserCommitments(deps(c).db, c.req.valid("param").id, c.req.valid("query")), 200))
    .openapi(routes.conflicts, async (c) =>
      c.json(await checkCommitmentConflicts(deps(c).db, c.req.valid("param").id, c.req.valid("query")), 200),
    )
    .openapi(routes.active, async (c) => c.json(await listActiveCommitments(deps(c).db, c.req.valid("query")), 200))
    .openapi(routes.patch, async (c) =>
      c.json(await updateCommitmentStatus(deps(c).db, c.req.valid("param").id, c.req.valid("json").status), 200),
    )
    .openapi(routes.analyze, async (c) => {
      const r = await recordAnalysis(deps(c).db, c.req.valid("param").id, c.req.valid("json"), idempotencyScope(c, "recordAnalysis")?.key);
      return r.created ? c.json(r.analysis, 201) : c.json(r.analysis, 200);
    })
    .openapi(routes.analyses, async (c) => c.json(await listAnalyses(deps(c).db, c.req.valid("param").id, c.req.valid("query")), 200))
    .openapi(routes.rotate, async (c) => {
      const r = await recordRotation(deps(c).db, c.req.valid("param").id, c.req.valid("json"), idempotencyScope(c, "recordRotation")?.key);
      return r.created ? c.json(r.rotation, 201) : c.json(r.rotation, 200);
    })
    .openapi(routes.rotations, async (c) => c.json(await listRotations(deps(c).db, c.req.valid("param").id, c.req.valid("query")), 200));
}
