import { readArchive } from "../../backup/archive.js";
import { pushToPull } from "./pull.js";
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
 * 2. one query over live rows UNION ALL those, ordered by user then time, keeps the target rows (the
 *    filters') and the rows among the `context_turns` before a target of the same user (a window:
 *    `sum(is_target) OVER (PARTITION BY user_id ORDER BY created_at, id ROWS BETWEEN 1 FOLLOWING AND
 *    n FOLLOWING)`); it is read through a server-side cursor, BATCH_ROWS per FETCH, and each target's
 *    context is the last `n` rows read of its user (contextRing). Each row crosses the wire once.
 * So context crosses the archive boundary (a user's first live turns get their archived turns as
 * context), nothing is held in memory but a batch, and the whole export is one consistent snapshot.
 */

/** Rows per FETCH from the cursor (a row: a user message of up to 4,000 characters and a reply of up to 5,000). */
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

/**
 * The session's query: the rows in scope (live UNION ALL the staged archived ones), user by user in
 * time order, only those a line needs: the targets, and the rows among the `n` before a target of
 * the same user (a window counts the targets among each row's next `n`; `sum` over a moving frame
 * costs O(1) a row). Each row goes over the wire once, whatever the number of lines it is context
 * of; the reader rebuilds each target's context from the rows before it (a ring of `n` turns).
 */
function turnsSql(f: ExportFilters, q: TurnQuery, params: unknown[], staged: boolean): string {
  const p = placeholder(params);
  const scope = scopeWhere(f, p);
  const scoped = (table: string) => `SELECT ${COLUMNS} FROM ${table}${scope.length ? ` WHERE ${scope.join(" AND ")}` : ""}`;
  const target = targetWhere(f, p, q);
  const n = p(contextTurns(f));
  const only = (c: string) => `CASE WHEN is_target THEN ${c} END AS ${c}`;
  return `
  WITH src AS (${scoped("interactions")}${staged ? ` UNION ALL ${scoped("pg_temp.hitl_dataset_archived")}` : ""}),
  marked AS (SELECT src.*, coalesce(${target.join(" AND ")}, false) AS is_target FROM src),
  w AS (
    SELECT marked.*, coalesce(sum(is_target::int) OVER (PARTITION BY user_id ORDER BY created_at, id
      ROWS BETWEEN 1 FOLLOWING AND ${n}::int FOLLOWING), 0) > 0 AS is_context
    FROM marked)
  SELECT row_to_json(x)::text AS j FROM (
    SELECT id, user_id, created_at, user_message, CASE WHEN review_status = 'approved' THEN final_bubbles END AS reply, is_target,
      ${["llm2_bubbles", "edit_tags", "quality_score", "llm1_model", "llm2_model", "customer_status"].map(only).join(", ")},
      CASE WHEN is_target THEN messages_sent_at IS NOT NULL END AS sent
    FROM w WHERE is_target OR is_context) x
  ORDER BY x.user_id, x.created_at, x.id`;
}

const toIso = (v: unknown) => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());

/** A target row of the query, with its context (oldest first). */
function turnRow(r: Record<string, unknown>, context: Turn[]): TurnRow {
  return {
    id: String(r.id),
    user_id: String(r.user_id),
    created_at: toIso(r.created_at),
    user_message: String(r.user_message),
    final_bubbles: (r.reply as string[] | null) ?? [],
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

/**
 * Rows of the query (user by user, in time order, across FETCH batches) to target rows with their
 * context: the last `n` rows seen of the same user, a ring of at most `n` turns.
 */
export function contextRing(n: number, isErased: (userId: string) => boolean) {
  let user: string | undefined;
  let ring: Turn[] = [];
  return (rows: Record<string, unknown>[]): TurnRow[] => {
    const out: TurnRow[] = [];
    for (const r of rows) {
      const u = String(r.user_id);
      if (u !== user) {
        user = u;
        ring = [];
      }
      if (r.is_target === true && !isErased(u)) out.push(turnRow(r, ring.slice()));
      if (n > 0) {
        ring.push({ user_message: String(r.user_message), reply: (r.reply as string[] | null) ?? null });
        if (ring.length > n) ring.shift();
      }
    }
    return out;
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

/** The columns' names, for picking them out of an archived row. */
const COLUMN_NAMES = COLUMNS.split(",").map((c) => c.trim());
/** Bytes of archived rows per INSERT at most (an archived row may hold a long draft: rows are bounded by bytes too). */
const STAGE_BYTES = 4 << 20;

/**
 * Archived rows of the months (in the user and `to` scope, erased users left out) into the
 * session's temporary table, only the columns the datasets read, converted by Postgres itself
 * (jsonb_populate_record over the table's row type: the archive's JSON is row_to_json's).
 */
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
  let bytes = 0;
  let staged = 0;
  const flush = async () => {
    if (!batch.length) return;
    signal?.throwIfAborted();
    await s.query(
      "INSERT INTO hitl_dataset_archived SELECT r.* FROM unnest($1::jsonb[]) AS d(doc), jsonb_populate_record(NULL::hitl_dataset_archived, d.doc) AS r",
      [batch],
    );
    staged += batch.length;
    batch = [];
    bytes = 0;
  };
  for (const partition of months) {
    await readArchive(deps.store, partition, async (line) => {
      const row = JSON.parse(line) as Record<string, unknown>;
      const user = String(row.user_id);
      if (f.user_id !== undefined && user !== f.user_id) return;
      if (Date.parse(String(row.created_at)) >= to) return;
      if (isErased(user)) return;
      const picked = JSON.stringify(Object.fromEntries(COLUMN_NAMES.map((c) => [c, row[c] ?? null])));
      batch.push(picked);
      bytes += picked.length;
      if (batch.length >= STAGE_ROWS || bytes >= STAGE_BYTES) await flush();
    });
  }
  await flush();
  if (staged) await s.query("ANALYZE hitl_dataset_archived");
  return staged;
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
  /** Tests: called once the snapshot has listed the archived months (an archival in between). */
  afterList?: () => Promise<void>,
): AsyncGenerator<TurnRow> {
  const batches = pushToPull<TurnRow[]>((emit) =>
    deps.reader.session(async (s) => {
      await s.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
      try {
        const months = contextMonths(
          (await s.query<{ partition: string }>("SELECT partition FROM archived_partitions ORDER BY partition")).map((r) => r.partition),
          f,
        );
        await afterList?.();
        // Read after the snapshot began: every erasure the snapshot sees (its live rows gone) is in
        // the set, so its archived rows are left out too. Later ones are the export job's to handle.
        const isErased = erasedCheck(deps, await erasedHashes(deps.store, deps.db));
        const staged = months.length > 0 && (await stageArchives(s, deps, f, months, isErased, signal)) > 0;
        const params: unknown[] = [];
        await s.query(`DECLARE hitl_dataset NO SCROLL CURSOR FOR ${turnsSql(f, q, params, staged)}`, params);
        // The cursor holds its partitions now (no more can be dropped until the export ends): any month
        // archived since the snapshot's list would be missing from both sides.
        const now = (await deps.db.query<{ partition: string }>("SELECT partition FROM archived_partitions")).map((r) => r.partition);
        const missed = contextMonths(now, f).filter((m) => !months.includes(m));
        if (missed.length) throw new ArchivedDuringExportError(missed);
        const toTurns = contextRing(contextTurns(f), isErased);
        for (;;) {
          signal?.throwIfAborted();
          const rows = await s.query<{ j: string }>(`FETCH ${BATCH_ROWS} FROM hitl_dataset`);
          if (!rows.length) break;
          const batch = toTurns(rows.map((r) => JSON.parse(r.j) as Record<string, unknown>));
          if (batch.length) await emit(batch);
        }
      } finally {
        await s.query("ROLLBACK").catch(() => {});
      }
    }),
  );
  for await (const batch of batches) {
    signal?.throwIfAborted();
    yield* batch;
  }
}
