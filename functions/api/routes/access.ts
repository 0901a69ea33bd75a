import { z } from "@hono/zod-openapi";
import {
  AccessAuditQuery,
  ApiKey,
  AuditEntry,
  CreateKeyBody,
  IssuedKey,
  KeyId,
  RotateKeyBody,
  createApiKey,
  listAudit,
  listKeys,
  revokeApiKey,
  rotateApiKey,
} from "@hitl/core";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { errorResponse, jsonBody, jsonContent, securedErrors } from "../http/schemas.js";
import type { AppEnv } from "../http/env.js";
import type { Context } from "hono";
import { deps } from "../http/deps.js";

const KeyParam = z.object({ id: KeyId });
const Key = ApiKey;
const Issued = IssuedKey;

const create = securedRoute(["admin"], {
  method: "post",
  path: "/v1/keys",
  operationId: "createApiKey",
  tags: ["access"],
  summary: "Create an API key: the answer shows the key once (only its SHA-256 is stored)",
  request: { body: jsonBody(CreateKeyBody) },
  responses: {
    201: jsonContent(Issued, "created"),
    409: errorResponse("a live key has this name (rotate or revoke it), or a bootstrap key does"),
    ...securedErrors,
  },
});
const list = securedRoute(["admin"], {
  method: "get",
  path: "/v1/keys",
  operationId: "listApiKeys",
  tags: ["access"],
  summary: "Stored API keys (never a key nor its hash)",
  request: { query: z.object({ include_revoked: z.enum(["true", "false"]).default("false") }) },
  responses: { 200: jsonContent(z.object({ items: z.array(Key) })), ...securedErrors },
});
const rotate = securedRoute(["admin"], {
  method: "post",
  path: "/v1/keys/{id}/rotate",
  operationId: "rotateApiKey",
  tags: ["access"],
  summary: "A new key for the same name, scopes, limit and expiry; the old one stays valid for the grace (default 24 h), then expires",
  request: { params: KeyParam, body: jsonBody(RotateKeyBody, false) },
  responses: {
    201: jsonContent(Issued.extend({ previous: Key }), "rotated"),
    409: errorResponse("the key was already rotated, is revoked or has expired"),
    ...securedErrors,
  },
});
const revoke = securedRoute(["admin"], {
  method: "post",
  path: "/v1/keys/{id}/revoke",
  operationId: "revokeApiKey",
  tags: ["access"],
  summary: "Revoke a key: refused by this instance at once, by every instance within API_KEY_MAX_AGE_MS (30 s); repeating it is harmless",
  request: { params: KeyParam },
  responses: { 200: jsonContent(Key), ...securedErrors },
});
const audit = securedRoute(["admin"], {
  method: "get",
  path: "/v1/audit",
  operationId: "listAudit",
  tags: ["access"],
  summary: "Audit: mutating requests, key events and counted authentication failures, newest first (90 days)",
  request: { query: AccessAuditQuery },
  responses: { 200: jsonContent(z.object({ items: z.array(AuditEntry), next_cursor: z.string().nullable() })), ...securedErrors },
});

const by = (c: Context<AppEnv>) => c.get("principal")!.id;

export function accessRoutes() {
  return createOpenApiApp()
    .openapi(create, async (c) => c.json(await createApiKey(deps(c), c.req.valid("json"), by(c)), 201))
    .openapi(list, async (c) =>
      c.json({ items: await listKeys(deps(c).db, { includeRevoked: c.req.valid("query").include_revoked === "true" }) }, 200),
    )
    .openapi(rotate, async (c) =>
      c.json(await rotateApiKey(deps(c), c.req.valid("param").id, c.req.valid("json").grace_seconds, by(c)), 201),
    )
    .openapi(revoke, async (c) => c.json(await revokeApiKey(deps(c), c.req.valid("param").id, by(c)), 200))
    .openapi(audit, async (c) => c.json(await listAudit(deps(c).db, c.req.valid("query")), 200));
}
