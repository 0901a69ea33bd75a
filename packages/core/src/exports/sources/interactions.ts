import { filters as browseFilters, type BrowseQuery } from "../../analytics/browse.js";
import { readArchive } from "../../backup/archive.js";
import { interactionFromRow } from "../../interactions/row.js";
import type { ExportColumn, ExportFilters, ExportSource, ExportSourceDeps, ExportSourceFactory } from "../source.js";
import { pushToPull } from "./pull.js";

/** The columns of an interaction export, in the API's order and shape (money as numbers, times ISO 8601). */
export const INTERACTION_EXPORT_COLUMNS: ExportColumn[] = [
  { name: "id", type: "string" },
  { name: "message_id", type: "string" },
  { name: "user_id", type: "string" },
  { name: "chat_id", type: "string" },
  { name: "conversation_id", type: "string" },
  { name: "user_message", type: "string" },
  { name: "user_message_timestamp", type: "timestamp" },
  { name: "llm1_raw_response", type: "string" },
  { name: "llm1_model", type: "string" },
  { name: "llm2_model", type: "string" },
  { name: "llm1_cost_usd", type: "number" },
  { name: "llm2_cost_usd", type: "number" },
  { name: "total_cost_usd", type: "number" },
  { name: "llm2_bubbles", type: "json" },
  { name: "constitution_risk_score", type: "number" },
  { name: "constitution_flags", type: "json" },
  { name: "constitution_recommendation", type: "string" },
  { name: "priority_score", type: "number" },
  { name: "review_status", type: "string" },
  { name: "reviewer_id", type: "string" },
  { name: "review_started_at", type: "timestamp" },
  { name: "review_lease_expires_at", type: "timestamp" },
  { name: "review_completed_at", type: "timestamp" },
  { name: "review_time_seconds", type: "integer" },
  { name: "final_bubbles", type: "json" },
  { name: "edit_tags", type: "json" },
  { name: "quality_score", type: "integer" },
  { name: "reviewer_notes", type: "string" },
  { name: "messages_sent_at", type: "timestamp" },
  { name: "cta_data", type: "json" },
  { name: "customer_status", type: "string" },
  { name: "telegram_message_id", type: "integer" },
  { name: "telegram_date", type: "timestamp" },
  { name: "is_recovered_message", type: "boolean" },
  { name: "created_at", type: "timestamp" },
  { name: "updated_at", type: "timestamp" },
];
const NAMES = INTERACTION_EXPORT_COLUMNS.map((c) => c.name);

/** Rows per FETCH from the server-side cursor (a few MB). */
export const LIVE_BATCH_ROWS = 2000;

/**
 * The browse filters' WHERE clauses (analytics/browse.ts, the one place they are written) for the
 * export filters, plus `edit_tags`: rows holding every tag listed.
 */
export function interactionWhere(f: ExportFilters, params: unknown[]): string[] {
  const q = {
    from: f.from,
    to: f.to,
    user_id: f.user_id,
    review_status: f.review_status,
    customer_status: f.customer_status,
    llm1_model: f.llm1_model,
    llm2_model: f.llm2_model,
    quality_min: f.quality_min,
    quality_max: f.quality_max,
  } as BrowseQuery;
  const where = browseFilters(q, params);
  if (f.edit_tags?.length) {
    params.push(f.edit_tags);
    where.push(`edit_tags @> $${params.length}::text[]`);
  }
  return where;
}

/** The same filters over an archived row (archived months are not in Postgres any more). */
export function matchesFilters(r: Record<string, unknown>, f: ExportFilters): boolean {
  const created = Date.parse(String(r.created_at));
  if (f.from && created < Date.parse(f.from)) return false;
  if (f.to && created >= Date.parse(f.to)) return false;
  if (f.user_id && r.user_id !== f.user_id) return false;
  if (f.review_status && !f.review_status.includes(r.review_status as never)) return false;
  if (f.customer_status && !f.customer_status.includes(String(r.customer_status))) return false;
  if (f.llm1_model !== undefined && r.llm1_model !== f.llm1_model) return false;
  if (f.llm2_model !== undefined && r.llm2_model !== f.llm2_model) return false;
  const q = r.quality_score;
  if (f.quality_min !== undefined && (typeof q !== "number" || q < f.quality_min)) return false;
  if (f.quality_max !== undefined && (typeof q !== "number" || q > f.quality_max)) return false;
  if (f.edit_tags?.length) {
    const tags = Array.isArray(r.edit_tags) ? (r.edit_tags as unknown[]) : [];
    if (!f.edit_tags.every((t) => tags.includes(t))) return false;
  }
  return true;
}

/** `interactions_2026_01` -> [start, end) of its month, in ms. */
function monthOf(partition: string): [number, number] | null {
  const m = /^interactions_(\d{4})_(\d{2})$/.exec(partition);
  return m ? [Date.UTC(Number(m[1]), Number(m[2]) - 1, 1), Date.UTC(Number(m[1]), Number(m[2]), 1)] : null;
}

/** Archived months that may hold rows in [from, to). */
function monthsInRange(partitions: { partition: string; rows: number }[], f: ExportFilters) {
  const from = f.from ? Date.parse(f.from) : -Infinity;
  const to = f.to ? Date.parse(f.to) : Infinity;
  return partitions.filter((p) => {
    const m = monthOf(p.partition);
    return m !== null && m[1] > from && m[0] < to;
  });
}

const TIMESTAMPS = INTERACTION_EXPORT_COLUMNS.filter((c) => c.type === "timestamp").map((c) => c.name);

/**
 * The live query's columns, in the export's order and shape, so a row needs little work in JS:
 * money and the bigint Telegram id as float8 (total never null), timestamps as text (rewritten to ISO 8601 by string slicing,
 * not parsed into Dates), chat_id text.
 */
const LIVE_COLUMNS = INTERACTION_EXPORT_COLUMNS.map(({ name, type }) =>
  name === "total_cost_usd"
    ? "coalesce(total_cost_usd, 0)::float8 AS total_cost_usd"
    : (type === "number" && name.endsWith("_usd")) || name === "telegram_message_id"
      ? `${name}::float8 AS ${name}`
      : type === "timestamp"
        ? `${name}::text AS ${name}`
        : name,
).join(", ");

/**
 * A timestamp as the API gives it (`toISOString`: milliseconds, `Z`). timestamptz's text in a UTC
 * session is `2026-11-01 10:00:00.123456+00` (no fraction when it is zero): rewritten as text; any
 * other form goes through Date.
 */
export function isoTimestamp(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = String(v);
  if (s.endsWith("+00") && s[10] === " " && s[13] === ":") {
    if (s.length === 22) return `${s.slice(0, 10)}T${s.slice(11, 19)}.000Z`;
    if (s[19] === ".")
      return `${s.slice(0, 10)}T${s
        .slice(11, s.length - 3)
        .padEnd(12, "0")
        .slice(0, 12)}Z`;
  }
  return new Date(s.replace(/\+00$/, "Z").replace(" ", "T")).toISOString();
}

/** A live row (the export query's columns, in order) in the export's shape: only the timestamps are rewritten, in place. */
function liveRow(row: Record<string, unknown>): Record<string, unknown> {
  for (const t of TIMESTAMPS) row[t] = isoTimestamp(row[t]);
  return row;
}

/** An archived row (row_to_json of the whole table row): the listed columns only, as the API gives them. */
function archivedRow(raw: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const n of NAMES) picked[n] = raw[n] ?? null;
  const row = interactionFromRow(picked) as unknown as Record<string, unknown>;
  row.chat_id = row.chat_id === null ? null : String(row.chat_id);
  return row;
}

/**
 * The `interactions` dataset: live rows first, from one REPEATABLE READ snapshot through a
 * server-side cursor (LIVE_BATCH_ROWS per FETCH, ordered by created_at, id), then each archived
 * month in range, object by object through readArchive (its callback awaited: backpressure).
 * Which months are archived is read in the same snapshot as the live rows, so a partition archived
 * during the export is read exactly once (live in the snapshot, or archived, never both).
 */
export const interactionsSource: ExportSourceFactory = (deps: ExportSourceDeps, f: ExportFilters): ExportSource => ({
  columns: INTERACTION_EXPORT_COLUMNS,
  formats: ["csv", "ndjson", "xlsx", "parquet"],
  async count() {
    const params: unknown[] = [];
    const where = interactionWhere(f, params);
    const [live] = await deps.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM interactions ${where.length ? `WHERE ${where.join(" AND ")}` : ""}`,
      params,
    );
    const archived = await deps.db.query<{ partition: string; rows: number }>(
      "SELECT partition, rows::int AS rows FROM archived_partitions ORDER BY partition",
    );
    // Archived months count whole (an upper bound): their rows are filtered as they are read.
    return Number(live?.n ?? 0) + monthsInRange(archived, f).reduce((s, p) => s + Number(p.rows), 0);
  },
  async *rows(signal?: AbortSignal) {
    const params: unknown[] = [];
    const where = interactionWhere(f, params);
    let months: { partition: string; rows: number }[] = [];
    const live = pushToPull<Record<string, unknown>[]>(async (emit) => {
      await deps.reader.session(async (s) => {
        await s.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        try {
          // Timestamps' text in UTC (liveRow's fast path), and the cursor planned for its whole
          // result (a sort), not for its first rows (an index scan visiting the heap in index
          // order): it is read to the end. Both local to this transaction.
          await s.query("SET LOCAL TIME ZONE 'UTC'");
          await s.query("SET LOCAL cursor_tuple_fraction = 1.0");
          months = monthsInRange(
            await s.query<{ partition: string; rows: number }>(
              "SELECT partition, rows::int AS rows FROM archived_partitions ORDER BY partition",
            ),
            f,
          );
          await s.query(
            `DECLARE hitl_export NO SCROLL CURSOR FOR SELECT ${LIVE_COLUMNS} FROM interactions
              ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id`,
            params,
          );
          for (;;) {
            signal?.throwIfAborted();
            const batch = await s.query<Record<string, unknown>>(`FETCH ${LIVE_BATCH_ROWS} FROM hitl_export`);
            if (!batch.length) break;
            await emit(batch.map(liveRow));
          }
        } finally {
          await s.query("COMMIT").catch(() => {});
        }
      });
    });
    for await (const batch of live) yield* batch;
    for (const { partition } of months) {
      signal?.throwIfAborted();
      const archived = pushToPull<Record<string, unknown>[]>(async (emit) => {
        let batch: Record<string, unknown>[] = [];
        await readArchive(deps.store, partition, async (line) => {
          const row = archivedRow(JSON.parse(line) as Record<string, unknown>);
          if (!matchesFilters(row, f)) return;
          batch.push(row);
          if (batch.length >= LIVE_BATCH_ROWS) {
            const full = batch;
            batch = [];
            await emit(full);
          }
        });
        if (batch.length) await emit(batch);
      });
      for await (const batch of archived) yield* batch;
    }
  },
});
