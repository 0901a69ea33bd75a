import { readArchive } from "../../backup/archive.js";
import { erasedHashes } from "../../backup/erasure-log.js";
import type { CopySession } from "../../db/pool-db.js";
import type { ExportFilters, ExportSourceDeps } from "../source.js";
import { DEFAULT_CONTEXT_TURNS, type Turn } from "./turns.js";

/**
 * The training datasets' reader (chat_finetune, preference_pairs; docs/DATASETS.md): every approved
 * interaction matching the filters, with the `context_turns` interactions of the same user before it
 * (by created_at, then id), over live Postgres and archived months alike.
 *
 * One session, one REPEATABLE READ transaction:
 * 1. the archived months up to `to` are read object by object (readArchive, its callback awaited:
 *    backpressure) into a temporary table (ON COMMIT DROP), erased users' rows left out;
 * 2. one query over live rows UNION ALL those, ordered by user then time, takes each row's context
 *    with a window (`json_agg ... OVER (PARTITION BY user_id ORDER BY created_at, id ROWS BETWEEN n
 *    PRECEDING AND 1 PRECEDING)`), and keeps the rows the filters select; it is read through a
 *    server-side cursor, BATCH_ROWS per FETCH.
 * So context crosses the archive boundary (a user's first live turns get their archived turns as
 * context), nothing is held in memory but a batch, and the whole export is one consistent snapshot.
 */

/** Rows per FETCH from the cursor (each with its context: at most ~50 turns of 4 KB; usually ~1 KB). */
export const BATCH_ROWS = 500;
/** Archived rows per INSERT into the temporary table. */
const STAGE_ROWS = 1000;

/** The columns the datasets read; the temporary table of archived rows has these, typed as in `interactions`. */
const COLUMNS =
  "id, user_id, created_at, user_message, review_status, final_bubbles, llm2_bubbles, edit_tags, quality_score, llm1_model, llm2_model, customer_status, messages_sent_at";

/** A month was archived while the export read: its rows would be missing. The export is to be run again. */
export class ArchivedDuringExportError extends Error {
  override name = "ArchivedDuringExportError";
  constructor(partitions: string[]) {
    super(`${partitions.join(", ")} archived while the export ran; run it again`);
  }
}

/** One approved interaction with the turns before it. */
export interface TurnRow {
  id: string;
  user_id: string;
  created_at: string;
  user_message: string;
  final_bubbles: string[];
  llm2_bubbles: string[];
  edit_tags: string[];
  quality_score: number | null;
  llm1_model: string | null;
  llm2_model: string | null;
  customer_status: string;
  sent: boolean;
  /** Oldest first, at most `context_turns`. */
  context: Turn[];
}

export interface TurnQuery {
  /** preference_pairs: only rows whose final bubbles differ from a non-empty draft (the exact test is draftChanged). */
  draftDiffers?: boolean;
}

export const contextTurns = (f: ExportFilters) => f.context_turns ?? DEFAULT_CONTEXT_TURNS;

/** `interactions_2026_01` -> [start, end) of its month, in ms. */
export function monthOf(partition: string): [number, number] | null {
  const m = /^interactions_(\d{4})_(\d{2})$/.exec(partition);
  return m ? [Date.UTC(Number(m[1]), Number(m[2]) - 1, 1), Date.UTC(Number(m[1]), Number(m[2]), 1)] : null;
}

/** Archived months that can hold a target row or a context turn: every month starting before `to`. */
function contextMonths(partitions: string[], f: ExportFilters): string[] {
  const to = f.to ? Date.parse(f.to) : Infinity;
  return partitions.filter((p) => {
    const m = monthOf(p);
    return m !== null && m[0] < to;
  });
}

/** Archived months that can hold a target row: those overlapping [from, to). */
function targetMonths(partitions: { partition: string; rows: number }[], f: ExportFilters) {
  const from = f.from ? Date.parse(f.from) : -Infinity;
  const to = f.to ? Date.parse(f.to) : Infinity;
  return partitions.filter((p) => {
    const m = monthOf(p.partition);
    return m !== null && m[1] > from && m[0] < to;
  });
}

/** Placeholders for `params`, as `p(value)` -> `$n`. */
const placeholder = (params: unknown[]) => (v: unknown) => {
  params.push(v);
  return `$${params.length}`;
};

/** Which rows of a user go into the window (targets and their context): the user and `to` filters only. */
function scopeWhere(f: ExportFilters, p: (v: unknown) => string): string[] {
  const w: string[] = [];
  if (f.user_id) w.push(`user_id = ${p(f.user_id)}`);
  if (f.to) w.push(`created_at < ${p(f.to)}::timestamptz`);
  return w;
}

/**
 * The rows a line is written for: approved with a non-empty final reply, and every filter. Edit tags:
 * rows holding every tag listed (as the interactions dataset). `review_status`, if given, must let
 * `approved` through, or nothing is selected.
 */
export function targetWhere(f: ExportFilters, p: (v: unknown) => string, q: TurnQuery = {}): string[] {
  const w = ["review_status = 'approved'", "cardinality(final_bubbles) > 0"];
  if (f.from) w.push(`created_at >= ${p(f.from)}::timestamptz`);
  if (f.review_status) w.push(`review_status = ANY(${p(f.review_status)}::text[])`);
  if (f.customer_status) w.push(`customer_status = ANY(${p(f.customer_status)}::text[])`);
  if (f.llm1_model !== undefined) w.push(`llm1_model = ${p(f.llm1_model)}`);
  if (f.llm2_model !== undefined) w.push(`llm2_model = ${p(f.llm2_model)}`);
  if (f.edit_tags?.length) w.push(`edit_tags @> ${p(f.edit_tags)}::text[]`);
  if (f.quality_min !== undefined) w.push(`quality_score >= ${p(f.quality_min)}`);
  if (f.quality_max !== undefined) w.push(`quality_score <= ${p(f.quality_max)}`);
  if (q.draftDiffers) w.push("cardinality(llm2_bubbles) > 0", "final_bubbles IS DISTINCT FROM llm2_bubbles");
  return w;
}

/**
 * How many lines at most: live rows counted exactly by the filters (preference pairs: arrays that
 * differ, a superset of draftChanged), plus every row of the archived months in [from, to) (not
 * read to count them): an upper bound.
 */
export async function countTurns(deps: ExportSourceDeps, f: ExportFilters, q: TurnQuery = {}): Promise<number> {
  const params: unknown[] = [];
  const p = placeholder(params);
  const where = [...scopeWhere(f, p), ...targetWhere(f, p, q)];
  const [live] = await deps.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM interactions WHERE ${where.join(" AND ")}`, params);
  const archived = await deps.db.query<{ partition: string; rows: number }>("SELECT partition, rows::int AS rows FROM archived_partitions");
  return Number(live?.n ?? 0) + targetMonths(archived, f).reduce((s, m) => s + Number(m.rows), 0);
}

/** The session's query: context by window over live rows and the staged archived rows, targets kept. */
function turnsSql(f: ExportFilters, q: TurnQuery, params: unknown[], staged: boolean): string {
  const p = placeholder(params);
  const scope = scopeWhere(f, p);
  const scoped = (table: string) => `SELECT ${COLUMNS} FROM ${table}${scope.length ? ` WHERE ${scope.join(" AND ")}` : ""}`;
  const n = p(contextTurns(f));
  const target = targetWhere(f, p, q);
  return `
  WITH src AS (${scoped("interactions")}${staged ? ` UNION ALL ${scoped("pg_temp.hitl_dataset_archived")}` : ""}),
  w AS (
    SELECT src.*, json_agg(json_build_array(user_message, CASE WHEN review_status = 'approved' THEN final_bubbles END))
      OVER (PARTITION BY user_id ORDER BY created_at, id ROWS BETWEEN ${n}::int PRECEDING AND 1 PRECEDING) AS context
    FROM src)
  SELECT id::text AS id, user_id, created_at, user_message, final_bubbles, llm2_bubbles, edit_tags, quality_score, llm1_model, llm2_model,
    customer_status, messages_sent_at IS NOT NULL AS sent, context
  FROM w WHERE ${target.join(" AND ")}
  ORDER BY user_id, created_at, id`;
}

const toIso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());

function turnRow(r: Record<string, unknown>): TurnRow {
  const context = ((r.context as [string, string[] | null][] | null) ?? []).map(([user_message, reply]) => ({ user_message, reply }));
  return {
    id: String(r.id),
    user_id: String(r.user_id),
    created_at: toIso(r.created_at),
    user_message: String(r.user_message),
    final_bubbles: (r.final_bubbles as string[] | null) ?? [],
    llm2_bubbles: (r.llm2_bubbles as string[] | null) ?? [],
    edit_tags: (r.edit_tags as string[] | null) ?? [],
    quality_score: r.quality_score === null || r.quality_score === undefined ? null : Number(r.quality_score),
    llm1_model: (r.llm1_model as string | null) ?? null,
    llm2_model: (r.llm2_model as string | null) ?? null,
    customer_status: String(r.customer_status),
    sent: r.sent === true,
    context,
  };
}

/** Erased users (hashes from the bucket's erasure records and the database's log), asked with one hash per user run. */
function erasedCheck(deps: ExportSourceDeps, hashes: Set<string>) {
  let last: string | undefined;
  let lastErased = false;
  return (userId: string) => {
    if (userId !== last) {
      last = userId;
      lastErased = hashes.size > 0 && hashes.has(deps.hasher.hash(userId));
    }
    return lastErased;
  };
}

/** Archived rows of the months (filtered: scope, erased users) into the session's temporary table. */
async function stageArchives(
  s: CopySession,
  deps: ExportSourceDeps,
  f: ExportFilters,
  months: string[],
  isErased: (u: string) => boolean,
  signal?: AbortSignal,
): Promise<number> {
  await s.query(`CREATE TEMP TABLE hitl_dataset_archived ON COMMIT DROP AS SELECT ${COLUMNS} FROM interactions WITH NO DATA`);
  const to = f.to ? Date.parse(f.to) : Infinity;
  let batch: string[] = [];
  let staged = 0;
  const flush = async () => {
    if (!batch.length) return;
    await s.query(
      `INSERT INTO hitl_dataset_archived SELECT ${COLUMNS} FROM unnest($1::jsonb[]) AS d(doc), jsonb_populate_record(NULL::interactions, d.doc)`,
      [batch],
    );
    staged += batch.length;
    batch = [];
  };
  for (const partition of months) {
    await readArchive(deps.store, partition, async (line) => {
      const row = JSON.parse(line) as { user_id?: unknown; created_at?: unknown };
      const user = String(row.user_id);
      if (f.user_id !== undefined && user !== f.user_id) return;
      if (Date.parse(String(row.created_at)) >= to) return;
      if (isErased(user)) return;
      batch.push(line);
      if (batch.length >= STAGE_ROWS) {
        signal?.throwIfAborted();
        await flush();
      }
    });
  }
  await flush();
  if (staged) await s.query("ANALYZE hitl_dataset_archived");
  return staged;
}

/** A consumer stopped reading: the producer ends at its next batch. */
class StreamClosed extends Error {
  override name = "StreamClosed";
}

/**
 * Batches emitted by `produce` as an async iterable the consumer pulls: `emit` resolves once the
 * consumer has taken the batch (at most one batch waits), and a consumer that stops early makes the
 * pending or next `emit` throw, so the producer (and its session) ends before the iterable returns.
 */
export async function* pulled<T>(produce: (emit: (batch: T) => Promise<void>) => Promise<void>): AsyncGenerator<T> {
  let slot: { batch: T; taken: () => void; stop: (e: Error) => void } | null = null;
  let wake: (() => void) | null = null;
  let done = false;
  let stopped = false;
  let failure: unknown;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const emit = (batch: T) =>
    new Promise<void>((taken, stop) => {
      if (stopped) return stop(new StreamClosed());
      slot = { batch, taken, stop };
      notify();
    });
  const run = produce(emit).then(
    () => {
      done = true;
      notify();
    },
    (e: unknown) => {
      done = true;
      failure = e;
      notify();
    },
  );
  try {
    for (;;) {
      if (!slot && !done) await new Promise<void>((r) => (wake = r));
      const s = slot as { batch: T; taken: () => void } | null;
      if (s) {
        slot = null;
        s.taken();
        yield s.batch;
      } else if (done) {
        if (failure !== undefined) throw failure;
        return;
      }
    }
  } finally {
    stopped = true;
    (slot as { stop: (e: Error) => void } | null)?.stop(new StreamClosed());
    slot = null;
    await run;
  }
}

/**
 * Every target row with its context, user by user (then created_at, id), streamed (see the module
 * comment). Rows of erased users are never yielded, live or archived.
 */
export async function* streamTurns(
  deps: ExportSourceDeps,
  f: ExportFilters,
  q: TurnQuery = {},
  signal?: AbortSignal,
): AsyncGenerator<TurnRow> {
  const isErased = erasedCheck(deps, await erasedHashes(deps.store, deps.db));
  const batches = pulled<TurnRow[]>((emit) =>
    deps.reader.session(async (s) => {
      await s.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
      try {
        const months = contextMonths(
          (await s.query<{ partition: string }>("SELECT partition FROM archived_partitions ORDER BY partition")).map((r) => r.partition),
          f,
        );
        const staged = months.length > 0 && (await stageArchives(s, deps, f, months, isErased, signal)) > 0;
        const params: unknown[] = [];
        await s.query(`DECLARE hitl_dataset NO SCROLL CURSOR FOR ${turnsSql(f, q, params, staged)}`, params);
        // The cursor holds its partitions now (no more can be dropped until the export ends): any month
        // archived since the snapshot's list would be missing from both sides.
        const now = (await deps.db.query<{ partition: string }>("SELECT partition FROM archived_partitions")).map((r) => r.partition);
        const missed = contextMonths(now, f).filter((m) => !months.includes(m));
        if (missed.length) throw new ArchivedDuringExportError(missed);
        for (;;) {
          signal?.throwIfAborted();
          const rows = await s.query(`FETCH ${BATCH_ROWS} FROM hitl_dataset`);
          if (!rows.length) break;
          const batch = rows.map(turnRow).filter((r) => !isErased(r.user_id));
          if (batch.length) await emit(batch);
        }
      } finally {
        await s.query("ROLLBACK").catch(() => {});
      }
    }),
  );
  for await (const batch of batches) yield* batch;
}
