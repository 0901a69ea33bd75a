import { z } from "@hono/zod-openapi";
import {
  CreateExportBody,
  DOWNLOAD_URL_SECONDS,
  EXPORT_EXPIRY_DAYS,
  ExportState,
  ListExportsQuery,
  createExport,
  getExport,
  listExports,
} from "@hitl/core";
import { IdempotencyHeaders, idempotencyErrors, idempotencyScope } from "../http/idempotency.js";
import { deps } from "../http/deps.js";
import { createOpenApiApp, securedRoute } from "../http/openapi.js";
import { jsonBody, jsonContent, securedErrors } from "../http/schemas.js";

const ExportItem = z
  .object({
    id: z.string(),
    dataset: z.string(),
    format: z.string(),
    filters: z.record(z.string(), z.unknown()),
    state: ExportState,
    rows_done: z.number(),
    rows_total: z.number().nullable(),
    bytes: z.number().nullable(),
    error: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    expires_at: z.string().nullable(),
    download_url: z.string().nullable().optional(),
    download_expires_at: z.string().nullable().optional(),
  })
  .openapi("Export", {
    description:
      `An export job. \`state\`: queued, running, done, failed (\`error\` says why), erased (a user in it was erased; its file is deleted) or expired ` +
      `(the bucket deletes exports ${EXPORT_EXPIRY_DAYS} days after they finish). Progress: \`rows_done\` of \`rows_total\` (an upper bound while ` +
      `archived months are read; exact when done).`,
  });
const IdParam = z.object({ id: z.uuid() });

const create = securedRoute(["admin"], {
  method: "post",
  path: "/v1/exports",
  operationId: "createExport",
  tags: ["exports"],
  summary: "Start an export of a dataset (filters as the browse filters) in csv, ndjson, xlsx or parquet; answers 202 with its id",
  description:
    "The export runs as a job (an asynchronous invocation of the export function; in-process under `npm start`), streaming live rows and archived " +
    "months into one S3 object under `exports/<id>/`. A format the dataset cannot be written in is a 400 (training datasets: ndjson only). " +
    "With an `Idempotency-Key` a retry answers the same export and starts nothing twice.",
  request: { headers: IdempotencyHeaders, body: jsonBody(CreateExportBody) },
  responses: { 202: jsonContent(ExportItem, "accepted: the export is queued or running"), ...idempotencyErrors, ...securedErrors },
});
const get = securedRoute(["admin"], {
  method: "get",
  path: "/v1/exports/{id}",
  operationId: "getExport",
  tags: ["exports"],
  summary: `State and progress of an export; when done, a presigned download URL valid ${DOWNLOAD_URL_SECONDS / 60} minutes`,
  request: { params: IdParam },
  responses: { 200: jsonContent(ExportItem), ...securedErrors },
});
const list = securedRoute(["admin"], {
  method: "get",
  path: "/v1/exports",
  operationId: "listExports",
  tags: ["exports"],
  summary: "Exports, newest first (keyset-paged; no download URLs: GET one for its URL)",
  request: { query: ListExportsQuery },
  responses: {
    200: jsonContent(z.object({ items: z.array(ExportItem), next_cursor: z.string().nullable() }).openapi("ExportPage")),
    ...securedErrors,
  },
});

export function exportRoutes() {
  return createOpenApiApp()
    .openapi(create, async (c) => {
      const body = c.req.valid("json");
      return c.json(await createExport(deps(c), body, c.get("principal")!.id, idempotencyScope(c, "createExport")), 202);
    })
    .openapi(get, async (c) => c.json(await getExport(deps(c), c.req.valid("param").id), 200))
    .openapi(list, async (c) => c.json(await listExports(deps(c).db, c.req.valid("query")), 200));
}
