import { randomUUID } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { z } from "zod";
import type { Db } from "../db/db.js";
import { CursorPart, PAGE_BYTE_BUDGET, budgetedPage, decodeCursor, keysetPage, rowBytes } from "../db/keyset.js";
import { NotFoundError, UnavailableError } from "../errors.js";
import { claimCte, repeatOf, type IdempotencyScope } from "../idempotency/keys.js";
import type { Logger } from "../log.js";
import { withDeadline } from "../resilience/deadline.js";
import { DATASET_FORMATS, exportObjectKey } from "./formats.js";
import { ExportDataset, ExportFilters, ExportFormat } from "./source.js";

/** Exports expire this long after they finish (the bucket's lifecycle rule on exports/, infra/storage.ts). */
export const EXPORT_EXPIRY_DAYS = 7;
/** A download URL's validity. */
export const DOWNLOAD_URL_SECONDS = 900;

export const CreateExportBody = z
  .object({
    dataset: ExportDataset,
    format: ExportFormat,
    filters: ExportFilters.default({}),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (!DATASET_FORMATS[b.dataset].includes(b.format))
      ctx.addIssue({
        code: "custom",
        path: ["format"],
        message: `the ${b.dataset} dataset is written as ${DATASET_FORMATS[b.dataset].join(", ")} only`,
      });
    const f = b.filters;
    if (f.quality_min !== undefined && f.quality_max !== undefined && f.quality_min > f.quality_max)
      ctx.addIssue({ code: "custom", path: ["filters", "quality_min"], message: "must not exceed quality_max" });
    if (f.from && f.to && Date.parse(f.from) >= Date.parse(f.to))
      ctx.addIssue({ code: "custom", path: ["filters", "from"], message: "must be before to" });
  });
export type CreateExportBody = z.output<typeof CreateExportBody>;

export const ExportState = z.enum(["queued", "running", "done", "failed", "erased", "expired"]);

export interface ExportView {
  id: string;
  dataset: string;
  format: string;
  filters: Record<string, unknown>;
  state: z.infer<typeof ExportState>;
  rows_done: number;
  rows_total: number | null;
  bytes: number | null;
  error: string | null;
  created_by: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** When the file is (or was) deleted by the bucket's lifecycle rule; null until done. */
  expires_at: string | null;
  /** A presigned GET of the file, valid DOWNLOAD_URL_SECONDS: only on GET of one done export. */
  download_url?: string | null;
  download_expires_at?: string | null;
}

const COLUMNS = `id, dataset, format, filters, state, rows_done::float8 AS rows_done, rows_total::float8 AS rows_total, bytes::float8 AS bytes,
  error, created_by, created_at, started_at, finished_at, object_key, created_at::text AS cursor_created`;

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

function view(r: Record<string, unknown>, now = Date.now()): ExportView {
  const finished = r.finished_at ? new Date(r.finished_at as string) : null;
  const expires = finished && r.state === "done" ? new Date(finished.getTime() + EXPORT_EXPIRY_DAYS * 86_400_000) : null;
  const state = r.state === "done" && expires && expires.getTime() <= now ? "expired" : (r.state as ExportView["state"]);
  return {
    id: String(r.id),
    dataset: String(r.dataset),
    format: String(r.format),
    filters: (r.filters ?? {}) as Record<string, unknown>,
    state,
    rows_done: Number(r.rows_done ?? 0),
    rows_total: r.rows_total === null || r.rows_total === undefined ? null : Number(r.rows_total),
    bytes: r.bytes === null || r.bytes === undefined ? null : Number(r.bytes),
    error:
      state === "expired" ? `the file expired ${EXPORT_EXPIRY_DAYS} days after the export finished` : ((r.error as string | null) ?? null),
    created_by: String(r.created_by),
    created_at: iso(r.created_at)!,
    started_at: iso(r.started_at),
    finished_at: iso(r.finished_at),
    expires_at: expires?.toISOString() ?? null,
  };
}

/** Starts an export's job: an asynchronous Lambda invocation, or a run in this process (`npm start`, tests). */
export interface ExportStarter {
  start(id: string): Promise<void>;
}

export class ExportStartFailedError extends Error {
  override name = "ExportStartFailedError";
  constructor(status: number) {
    super(`the export function refused the invocation: HTTP ${status}`);
  }
}

/**
 * In Lambda: `Event` invocation of the export function (Lambda queues it and answers 202; its
 * retries are at-least-once, which runExport's lease makes harmless), signed with aws4fetch like
 * the jobs' continuations (functions/lib/continuation.ts): the API bundle carries no AWS SDK.
 */
export function lambdaExportStarter(opts: {
  functionName: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  timeoutMs?: number;
}): ExportStarter {
  const aws = new AwsClient({ ...opts.credentials, region: opts.region, service: "lambda", retries: 0 });
  return {
    async start(id) {
      const res = await withDeadline({ timeoutMs: opts.timeoutMs ?? 5_000 }, (signal) =>
        aws.fetch(`https://lambda.${opts.region}.amazonaws.com/2015-03-31/functions/${encodeURIComponent(opts.functionName)}/invocations`, {
          method: "POST",
          body: JSON.stringify({ export_id: id }),
          headers: { "X-Amz-Invocation-Type": "Event" },
          signal,
        }),
      );
      await res.body?.cancel();
      if (res.status !== 202) throw new ExportStartFailedError(res.status);
    },
  };
}

export interface ExportApiDeps {
  db: Db;
  /** Starts the export's job (Lambda: an asynchronous invocation; `npm start`: in-process). */
  exportStarter?: ExportStarter;
  log?: Logger;
}

/**
 * POST /v1/exports: records the export (queued) and starts its job. With an Idempotency-Key the
 * export is created once (the key is claimed in the same statement, claimCte); a retry answers the
 * same export, and starts it again only if it is still queued (a start is idempotent: runExport
 * claims the export once). A start that fails records the export as failed, with the reason, and
 * answers 503.
 */
export async function createExport(
  deps: ExportApiDeps,
  body: CreateExportBody,
  actor: string,
  scope?: IdempotencyScope,
): Promise<ExportView> {
  const id = randomUUID();
  const key = exportObjectKey(id, body.dataset, body.format);
  const [row] = await deps.db.query(
    `WITH ${claimCte(6, 7, "NULL", "$1::text")}
    INSERT INTO exports (id, dataset, format, filters, created_by, object_key)
    SELECT $1::uuid, $2, $3, $4::jsonb, $5, $8 WHERE $6::text IS NULL OR EXISTS (SELECT 1 FROM claim)
    RETURNING ${COLUMNS}`,
    [id, body.dataset, body.format, JSON.stringify(body.filters), actor, scope?.key ?? null, scope?.fingerprint ?? null, key],
  );
  let current = row;
  if (!current) {
    const { resource } = await repeatOf(deps.db, scope!);
    [current] = resource ? await deps.db.query(`SELECT ${COLUMNS} FROM exports WHERE id = $1`, [resource]) : [];
    if (!current) throw new NotFoundError("the export this Idempotency-Key created is gone");
  }
  if (current.state === "queued") await startOrFail(deps, String(current.id));
  return view(current);
}

async function startOrFail(deps: ExportApiDeps, id: string): Promise<void> {
  if (!deps.exportStarter) {
    deps.log?.warn("export queued: no export runner in this process", { export_id: id });
    return;
  }
  try {
    await deps.exportStarter.start(id);
  } catch (e) {
    const reason = `the export job could not be started: ${e instanceof Error ? e.message : String(e)}`.slice(0, 500);
    await deps.db.query("UPDATE exports SET state = 'failed', error = $2, finished_at = now() WHERE id = $1 AND state = 'queued'", [
      id,
      reason,
    ]);
    // 503: the export is recorded as failed with the reason; the client may ask for a new one.
    throw new UnavailableError("the export function", 30, { cause: e });
  }
}

/** GET /v1/exports/{id}: state and progress; a done (not expired) export also gets a presigned download URL. */
export async function getExport(
  deps: { db: Db; storage: { presignGet(key: string, seconds: number): Promise<string> } },
  id: string,
): Promise<ExportView> {
  const [row] = await deps.db.query(`SELECT ${COLUMNS} FROM exports WHERE id = $1`, [id]);
  if (!row) throw new NotFoundError("no such export");
  const v = view(row);
  if (v.state === "done") {
    v.download_url = await deps.storage.presignGet(String(row.object_key), DOWNLOAD_URL_SECONDS);
    v.download_expires_at = new Date(Date.now() + DOWNLOAD_URL_SECONDS * 1000).toISOString();
  } else {
    v.download_url = null;
    v.download_expires_at = null;
  }
  return v;
}

export const ListExportsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(400).optional(),
});

/** GET /v1/exports: newest first, keyset-paged on (created_at, id). Rows are small (filters are bounded). */
export async function listExports(
  db: Db,
  q: z.output<typeof ListExportsQuery>,
): Promise<{ items: ExportView[]; next_cursor: string | null }> {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.uuid]);
  const params: unknown[] = [q.limit + 1];
  let where = "";
  if (after) {
    params.push(after[0], after[1]);
    where = "WHERE (created_at, id) < ($2::timestamptz, $3::uuid)";
  }
  params.push(PAGE_BYTE_BUDGET);
  const rows = await db.query(
    budgetedPage(
      `SELECT ${COLUMNS}, ${rowBytes(["filters::text", "error"])} AS row_bytes FROM exports ${where} ORDER BY created_at DESC, id DESC LIMIT $1`,
      "l.created_at DESC, l.id DESC",
      `$${params.length}`,
    ),
    params,
  );
  return keysetPage(
    rows,
    q.limit,
    (r) => view(r),
    (r) => [String(r.cursor_created), String(r.id)],
  );
}
