import { randomUUID } from "node:crypto";
import type { Db } from "../db/db.js";
import type { CopyDb } from "../db/pool-db.js";
import type { UserHasher } from "../gdpr/hash.js";
import type { Logger } from "../log.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import { FORMAT_FILES } from "./formats.js";
import { ExportDataset, ExportFilters, ExportFormat, type ExportSourceFactory } from "./source.js";
import { EXPORT_SOURCES } from "./sources/index.js";
import { ByteSink, createRowWriter, type WriterOptions } from "./writers.js";

/** A run's lease: renewed with every progress update; a run that died frees the export after this. */
export const EXPORT_LEASE_SECONDS = 60;
/** How often the running job writes rows_done (and renews its lease). */
export const PROGRESS_EVERY_MS = 2_000;
/** Runs of one export before it fails (each a crash or timeout of the previous). */
export const MAX_EXPORT_ATTEMPTS = 3;
/** Rows handed to the writer at a time. */
const WRITE_BATCH = 1000;
/** Distinct user hashes remembered before the set is cleared (a repeat insert is a no-op; memory stays bounded). */
const SEEN_USERS_MAX = 50_000;

export interface ExportJobDeps {
  db: Db;
  reader: CopyDb;
  store: StreamingBlobStore;
  hasher: UserHasher;
  log?: Logger;
  /** Who runs it: a Lambda retry of the same event passes the same holder (default random). */
  holder?: string;
  /** Epoch ms by which the run must have finished (Lambda: its timeout); past it the export fails, saying so. */
  deadline?: number;
  /** Kept back before the deadline for the upload's last part and the final write. @default 30000 */
  marginMs?: number;
  progressEveryMs?: number;
  /** Tests: other sources, and writer limits. */
  sources?: Partial<Record<ExportDataset, ExportSourceFactory>>;
  writer?: Pick<WriterOptions, "rowGroupRows" | "sheetRows">;
  /** Progress as it is recorded (the CLI prints it). */
  onProgress?: (done: number, total: number | null) => void;
  signal?: AbortSignal;
}

export type ExportRunResult =
  | { status: "done"; id: string; rows: number; bytes: number; key: string }
  | { status: "skipped"; id: string; reason: string }
  | { status: "failed"; id: string; reason: string }
  | { status: "erased"; id: string; reason: string };

/** Named reasons a run stops (their messages are what the export's `error` says). */
export class ExportTimeLimitError extends Error {
  override name = "ExportTimeLimitError";
  constructor(rows: number) {
    super(`the export did not finish within one run's time limit (${rows} rows written); narrow the filters`);
  }
}
export class ExportStoppedError extends Error {
  override name = "ExportStoppedError";
  constructor(readonly why: "lease_lost" | "erased") {
    super(why === "erased" ? "a user in the export was erased while it ran" : "another run took the export over");
  }
}
export class FormatNotAllowedError extends Error {
  override name = "FormatNotAllowedError";
  constructor(dataset: string, format: string) {
    super(`the ${dataset} dataset cannot be written as ${format}`);
  }
}

export { ERASED_REASON } from "./erased.js";
import { ERASED_REASON } from "./erased.js";

/**
 * Runs export `id` once, retry-safe:
 * - the run claims the export (queued, or running with an expired lease, or its own holder's: a
 *   Lambda retry of the same event) and renews the lease with every progress write; a duplicate or
 *   retried invocation of an export that is done, failed, erased or held by a live run does
 *   nothing (`skipped`);
 * - it writes one object at the export's deterministic key (exports/<id>/<dataset>.<ext>): a
 *   restarted run rewrites the same key, never a second file;
 * - the users it writes are recorded (keyed hashes, export_users) as rows stream; it ends `done`
 *   only if no user it wrote was erased since it started (erasures after `erasure_seen`), else it
 *   deletes its object and ends `erased`; archived rows of users whose archive rewrite is still
 *   pending are skipped;
 * - any error ends it `failed`, with the error's message as the reason.
 */
export async function runExport(deps: ExportJobDeps, id: string): Promise<ExportRunResult> {
  const holder = deps.holder ?? randomUUID();
  const log = deps.log?.child({ export_id: id });
  const [claimed] = await deps.db.transaction([
    {
      text: `UPDATE exports SET state = 'running', lease_holder = $2, lease_expires_at = now() + make_interval(secs => $3),
          attempts = attempts + CASE WHEN lease_holder IS DISTINCT FROM $2 THEN 1 ELSE 0 END,
          started_at = coalesce(started_at, now()), rows_done = 0,
          erasure_seen = (SELECT coalesce(max(id), 0) FROM erasures)
        WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND (lease_expires_at < now() OR lease_holder = $2)))
        RETURNING dataset, format, filters, object_key, attempts`,
      params: [id, holder, EXPORT_LEASE_SECONDS],
    },
    {
      text: "DELETE FROM export_users WHERE export_id = $1 AND EXISTS (SELECT 1 FROM exports WHERE id = $1 AND lease_holder = $2)",
      params: [id, holder],
    },
  ]);
  const row = claimed?.[0] as { dataset: string; format: string; filters: unknown; object_key: string; attempts: number } | undefined;
  if (!row) {
    const [cur] = await deps.db.query<{ state: string }>("SELECT state FROM exports WHERE id = $1", [id]);
    const reason = cur ? `the export is ${cur.state === "running" ? "running in another run" : cur.state}` : "no such export";
    log?.info("export run skipped", { reason });
    return { status: "skipped", id, reason };
  }
  const key = row.object_key;
  try {
    if (row.attempts > MAX_EXPORT_ATTEMPTS) throw new Error(`the export was started ${MAX_EXPORT_ATTEMPTS} times without finishing`);
    const dataset = ExportDataset.parse(row.dataset);
    const format = ExportFormat.parse(row.format);
    const filters = ExportFilters.parse(row.filters);
    const factory = deps.sources?.[dataset] ?? EXPORT_SOURCES[dataset];
    const source = factory({ db: deps.db, reader: deps.reader, store: deps.store, hasher: deps.hasher }, filters);
    if (!source.formats.includes(format)) throw new FormatNotAllowedError(dataset, format);
    const total = await source.count();
    await deps.db.query("UPDATE exports SET rows_total = $2 WHERE id = $1 AND lease_holder = $3", [id, total, holder]);
    deps.onProgress?.(0, total);
    // Users erased whose archived rows are not rewritten yet: their archived rows are skipped.
    const pending = new Set(
      (await deps.db.query<{ user_hash: string }>("SELECT user_hash FROM erasures WHERE archives_erased_at IS NULL")).map(
        (r) => r.user_hash,
      ),
    );
    const written = await writeObject(deps, { id, holder, key, format, dataset, source, pending, total });
    const [done] = await deps.db.query(
      `UPDATE exports x SET state = 'done', rows_done = $3, rows_total = $3, bytes = $4, finished_at = now(), lease_holder = NULL, lease_expires_at = NULL, error = NULL
        WHERE id = $1 AND lease_holder = $2 AND state = 'running'
          AND NOT EXISTS (SELECT 1 FROM erasures e JOIN export_users u ON u.user_hash = e.user_hash AND u.export_id = $1 WHERE e.id > x.erasure_seen)
        RETURNING id`,
      [id, holder, written.rows, written.bytes],
    );
    if (!done) throw await whyNotDone(deps.db, id, holder);
    log?.info("export done", { rows: written.rows, bytes: written.bytes });
    return { status: "done", id, rows: written.rows, bytes: written.bytes, key };
  } catch (e) {
    if (e instanceof ExportStoppedError && e.why === "lease_lost") {
      log?.warn("export run stopped: another run took it over");
      return { status: "skipped", id, reason: e.message };
    }
    if (e instanceof ExportStoppedError && e.why === "erased") {
      await deps.store.delete([key]).catch(() => {});
      await deps.db.query(
        "UPDATE exports SET state = 'erased', error = $2, finished_at = coalesce(finished_at, now()), lease_holder = NULL, lease_expires_at = NULL WHERE id = $1",
        [id, ERASED_REASON],
      );
      log?.warn("export erased: a user in it was erased while it ran");
      return { status: "erased", id, reason: ERASED_REASON };
    }
    const reason = failureReason(e);
    await deps.db
      .query(
        "UPDATE exports SET state = 'failed', error = $3, finished_at = now(), lease_holder = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_holder = $2 AND state = 'running'",
        [id, holder, reason],
      )
      .catch((err: unknown) => log?.error("export failure not recorded", { err: err as Error }));
    log?.error("export failed", { reason });
    return { status: "failed", id, reason };
  }
}

/** Why the final write matched nothing: the export was erased, or an erasure of one of its users came after it started, or the lease was lost. */
async function whyNotDone(db: Db, id: string, holder: string): Promise<ExportStoppedError> {
  const [cur] = await db.query<{ state: string; lease_holder: string | null }>("SELECT state, lease_holder FROM exports WHERE id = $1", [
    id,
  ]);
  if (cur && cur.state === "running" && cur.lease_holder !== holder) return new ExportStoppedError("lease_lost");
  return new ExportStoppedError("erased");
}

/** The reason a failed export gives: the error's name and message (ours; never row contents). */
function failureReason(e: unknown): string {
  const err = e instanceof Error ? e : new Error(String(e));
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.name}: ${err.message}${cause}`.slice(0, 500);
}

interface WriteJob {
  id: string;
  holder: string;
  key: string;
  format: ExportFormat;
  dataset: ExportDataset;
  source: ReturnType<ExportSourceFactory>;
  pending: Set<string>;
  total: number;
}

/**
 * Streams the source through the format's writer into a multipart upload of the object: rows in
 * batches, the upload pulling bytes as it sends parts (bounded memory end to end). Progress and the
 * lease are written every PROGRESS_EVERY_MS, with the batch's new user hashes.
 */
async function writeObject(deps: ExportJobDeps, job: WriteJob): Promise<{ rows: number; bytes: number }> {
  const sink = new ByteSink();
  const stop = new AbortController();
  const upload = deps.store.upload(job.key, sink.stream, FORMAT_FILES[job.format].contentType);
  let uploadError: unknown;
  let writeError: unknown;
  const uploaded = upload.then(
    () => undefined,
    (e: unknown) => {
      // The upload's own failure, unless it only failed because the writing side gave up first.
      if (writeError === undefined) uploadError = e;
      stop.abort(e);
      sink.fail(e);
    },
  );
  const writer = createRowWriter(sink, {
    format: job.format,
    columns: job.source.columns,
    internal: job.source.internal,
    sheetName: job.dataset,
    ...deps.writer,
  });
  const margin = deps.marginMs ?? 30_000;
  const every = deps.progressEveryMs ?? PROGRESS_EVERY_MS;
  const hasher = deps.hasher;
  let rows = 0;
  let lastProgress = Date.now();
  let seen = new Set<string>();
  let fresh: string[] = [];
  let batch: Record<string, unknown>[] = [];
  const signal = deps.signal ? AbortSignal.any([deps.signal, stop.signal]) : stop.signal;

  const record = async () => {
    const users = fresh;
    fresh = [];
    const [, [held]] = (await deps.db.transaction([
      {
        text: "INSERT INTO export_users (export_id, user_hash) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
        params: [job.id, users],
      },
      {
        text: `UPDATE exports SET rows_done = $3, lease_expires_at = now() + make_interval(secs => $4)
          WHERE id = $1 AND lease_holder = $2 AND state = 'running' RETURNING state`,
        params: [job.id, job.holder, rows, EXPORT_LEASE_SECONDS],
      },
    ])) as [unknown, Record<string, unknown>[]];
    if (!held) throw await whyNotDone(deps.db, job.id, job.holder);
    deps.onProgress?.(rows, job.total);
    lastProgress = Date.now();
  };
  const flush = async () => {
    if (!batch.length) return;
    const b = batch;
    batch = [];
    await writer.write(b);
    rows += b.length;
    if (deps.deadline !== undefined && Date.now() > deps.deadline - margin) throw new ExportTimeLimitError(rows);
    if (Date.now() - lastProgress >= every) await record();
  };
  try {
    const cache = new Map<string, string>();
    for await (const row of job.source.rows(signal)) {
      const user = row.user_id;
      if (typeof user === "string") {
        let h = cache.get(user);
        if (h === undefined) {
          h = hasher.hash(user);
          if (cache.size > 100_000) cache.clear();
          cache.set(user, h);
        }
        if (job.pending.has(h)) continue;
        if (!seen.has(h)) {
          if (seen.size >= SEEN_USERS_MAX) seen = new Set();
          seen.add(h);
          fresh.push(h);
        }
      }
      batch.push(row);
      if (batch.length >= WRITE_BATCH) await flush();
    }
    await flush();
    await writer.end();
    sink.end();
    await uploaded;
    if (uploadError) throw uploadError;
    // The last users and the final count, before the export is marked done.
    await record();
    return { rows, bytes: sink.bytes };
  } catch (e) {
    if (uploadError === undefined) writeError = e;
    sink.fail(e);
    await uploaded;
    throw uploadError !== undefined && !(e instanceof ExportStoppedError) ? uploadError : e;
  }
}
