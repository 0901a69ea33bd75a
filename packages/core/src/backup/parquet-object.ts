import { createHash } from "node:crypto";
import { PassThrough } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import type { Db } from "../db/db.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import type { ObjectEntry } from "./manifest.js";
import { quoteIdent } from "./pg-tables.js";

/**
 * How a Postgres column is stored in an archive's Parquet objects (and typed in Athena's table):
 * text as STRING, timestamptz as TIMESTAMP (microseconds, UTC wall time: Athena's Hive tables have
 * no zone), integers as INT32/INT64, numeric and float as DOUBLE, json/jsonb as a JSON string,
 * text[] as a LIST of STRING.
 */
export type ArchiveColumnType = "string" | "timestamp" | "int32" | "int64" | "double" | "boolean" | "json" | "string_list";
export interface ArchiveColumn {
  name: string;
  type: ArchiveColumnType;
}

export class UnsupportedColumnError extends Error {
  override name = "UnsupportedColumnError";
  constructor(column: string, pgType: string) {
    super(`column ${column} has type ${pgType}, which the Parquet archive has no mapping for (add one in parquet-object.ts)`);
  }
}

/** Postgres type (format_type) -> archive column type. */
export function archiveType(column: string, pgType: string): ArchiveColumnType {
  const t = pgType.replace(/\(.*\)/, "");
  if (t === "text" || t === "uuid" || t === "character varying" || t === "character") return "string";
  if (t === "timestamp with time zone") return "timestamp";
  if (t === "integer" || t === "smallint") return "int32";
  if (t === "bigint") return "int64";
  if (t === "double precision" || t === "real" || t === "numeric") return "double";
  if (t === "boolean") return "boolean";
  if (t === "json" || t === "jsonb") return "json";
  if (t === "text[]" || t === "character varying[]") return "string_list";
  throw new UnsupportedColumnError(column, pgType);
}

/** The columns of a table (generated ones included: they are data too), in order, with their archive types. */
export async function archiveColumns(db: Db, table: string): Promise<ArchiveColumn[]> {
  const rows = await db.query<{ name: string; type: string }>(
    `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
    WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [quoteIdent(table)],
  );
  return rows.map((r) => ({ name: r.name, type: archiveType(r.name, r.type) }));
}

/**
 * The select list that turns a row into JSON the writer takes without guessing: timestamps as
 * integer microseconds since the epoch (exact), numerics as float8, json as its text.
 */
export function archiveSelectList(columns: ArchiveColumn[]): string {
  return columns
    .map(({ name, type }) => {
      const c = quoteIdent(name);
      if (type === "timestamp") return `(extract(epoch FROM ${c}) * 1000000)::int8 AS ${c}`;
      if (type === "double") return `${c}::float8 AS ${c}`;
      if (type === "json") return `${c}::text AS ${c}`;
      return c;
    })
    .join(", ");
}

/** The Parquet schema of an archive object: every column nullable (a later column is null in older months). */
export function parquetSchema(columns: ArchiveColumn[]) {
  const schema: Record<string, unknown>[] = [{ name: "root", num_children: columns.length }];
  for (const { name, type } of columns) {
    const opt = { name, repetition_type: "OPTIONAL" };
    if (type === "string" || type === "json") schema.push({ ...opt, type: "BYTE_ARRAY", converted_type: "UTF8" });
    else if (type === "timestamp")
      schema.push({ ...opt, type: "INT64", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: false, unit: "MICROS" } });
    else if (type === "int32") schema.push({ ...opt, type: "INT32" });
    else if (type === "int64") schema.push({ ...opt, type: "INT64" });
    else if (type === "double") schema.push({ ...opt, type: "DOUBLE" });
    else if (type === "boolean") schema.push({ ...opt, type: "BOOLEAN" });
    else {
      schema.push({ ...opt, converted_type: "LIST", num_children: 1 });
      schema.push({ name: "list", repetition_type: "REPEATED", num_children: 1 });
      schema.push({ name: "element", repetition_type: "OPTIONAL", type: "BYTE_ARRAY", converted_type: "UTF8" });
    }
  }
  return schema;
}

/** Athena/Glue column type of each archive column type. */
export const GLUE_TYPES: Record<ArchiveColumnType, string> = {
  string: "string",
  json: "string",
  timestamp: "timestamp",
  int32: "int",
  int64: "bigint",
  double: "double",
  boolean: "boolean",
  string_list: "array<string>",
};

/** `2025-07-15T10:00:00.5+00:00` (as row_to_json writes it in a UTC session) -> microseconds since the epoch. */
export function microsOf(text: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}(?::?\d{2})?)$/.exec(text);
  if (!m) throw new Error(`not a timestamp: ${text.slice(0, 40)}`);
  const zone = m[4] === "Z" ? "Z" : m[4]!.length === 3 ? `${m[4]}:00` : m[4]!.replace(/^([+-]\d{2})(\d{2})$/, "$1:$2");
  const ms = Date.parse(`${m[1]}T${m[2]}${zone}`);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${text.slice(0, 40)}`);
  return BigInt(ms) * 1000n + BigInt((m[3] ?? "").padEnd(6, "0") || "0");
}

/** Microseconds since the epoch -> the text row_to_json gives a timestamptz in a UTC session. */
export function timestampText(micros: bigint): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const sub = Number(micros - ms * 1000n);
  const d = new Date(Number(ms));
  const frac = `${String(d.getUTCMilliseconds()).padStart(3, "0")}${String(sub).padStart(3, "0")}`.replace(/0+$/, "");
  return `${d.toISOString().slice(0, 19)}${frac ? `.${frac}` : ""}+00:00`;
}

/** A row as the archive SELECT (archiveSelectList) gives it -> the values the Parquet writer takes. */
function writerValue(type: ArchiveColumnType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (type === "timestamp" || type === "int64") return BigInt(v as number);
  return v;
}

/**
 * A row of an NDJSON archive (row_to_json of the partition) -> the form of the archive SELECT, for
 * the conversion of old archives: timestamps to microseconds, json values to their text.
 */
export function selectFormOfLegacyRow(columns: ArchiveColumn[], row: Record<string, unknown>): Record<string, unknown> {
  const known = new Set(columns.map((c) => c.name));
  for (const k of Object.keys(row))
    if (!known.has(k)) throw new Error(`archived rows have a column ${k} the table no longer has; convert refused`);
  const out: Record<string, unknown> = {};
  for (const { name, type } of columns) {
    const v = row[name];
    if (v === null || v === undefined) out[name] = null;
    else if (type === "timestamp") out[name] = Number(microsOf(v as string));
    else if (type === "json") out[name] = JSON.stringify(v);
    // A column whose type changed since (chat_id was a bigint before migration 0013) takes the row's value in today's type.
    else if (type === "string" && typeof v !== "string") out[name] = typeof v === "object" ? JSON.stringify(v) : String(v);
    else out[name] = v;
  }
  return out;
}

/**
 * A row in the writer's form (archiveSelectList's, or as read back) -> the JSON text line the
 * NDJSON archives held (row_to_json of the row in a UTC session), field for field.
 */
export function lineOf(columns: ArchiveColumn[], raw: Record<string, unknown>): string {
  const row: Record<string, unknown> = {};
  for (const { name, type } of columns) {
    const v = raw[name];
    if (v === null || v === undefined) row[name] = null;
    else if (type === "timestamp") row[name] = timestampText(BigInt(v as number | bigint));
    else if (type === "json") row[name] = JSON.parse(v as string);
    else if (typeof v === "bigint") row[name] = Number(v);
    else row[name] = v;
  }
  return JSON.stringify(row);
}

/**
 * Page compression: GZIP through Node's own zlib, so no compressor code is added to the bundle, and
 * every engine reads it (Athena, DuckDB, hyparquet with zlib as its decompressor). Level 1: on
 * archive rows it writes faster than hyparquet-writer's built-in snappy with 40% fewer bytes, and
 * 2.4x faster than level 6 for 9% more bytes (`npm run bench -- archive-format` has the figures).
 */
const CODEC = "GZIP";
const COMPRESSORS = { GZIP: (input: Uint8Array) => new Uint8Array(gzipSync(input, { level: 1 })) };
const DECOMPRESSORS = { GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)) };

/**
 * A row group closes at this many rows, or once the rows buffered for it held this many bytes of
 * JSON (long drafts): its values are what the writer holds in memory before encoding them. Writing
 * and reading back a 50,000-row object peaked at 85 MB of heap under the jobs' 128 MB heap
 * (infra/jobs.ts), with ~1 KB rows and with ~10 KB rows alike.
 */
export const ROW_GROUP_ROWS = 10_000;
export const ROW_GROUP_BYTES = 8 << 20;

/**
 * Writes one archive object as Parquet (GZIP pages), streamed to the store as each row group is
 * encoded: memory holds one row group of values and its encoded bytes, whatever the object size.
 * The stored bytes are hashed on the way.
 */
export class ParquetObjectWriter {
  private readonly hash = createHash("sha256");
  private readonly body = new PassThrough({ highWaterMark: 4 << 20 });
  private readonly uploading: Promise<void>;
  private readonly out = new ByteWriter(1 << 20);
  private readonly pq: ParquetWriter;
  private buffered: Record<string, unknown>[] = [];
  private bufferedBytes = 0;
  rows = 0;

  constructor(
    store: StreamingBlobStore,
    readonly key: string,
    private readonly columns: ArchiveColumn[],
  ) {
    this.uploading = store.upload(key, this.body, "application/vnd.apache.parquet");
    this.uploading.catch(() => {});
    // The writer calls flush() after each row group and finish() at the end: both hand the bytes on.
    const out = this.out as ByteWriter & { flush?: () => Promise<void> };
    out.flush = () => this.drain();
    out.finish = () => this.drain();
    this.pq = new ParquetWriter({
      writer: out,
      schema: parquetSchema(columns) as never,
      codec: CODEC,
      compressors: COMPRESSORS,
      createdBy: "hitl archive",
    });
  }

  /** Hands the bytes encoded so far to the upload, waiting while it is behind. */
  private async drain(): Promise<void> {
    if (!this.out.index) return;
    const chunk = Buffer.from(this.out.buffer.slice(0, this.out.index));
    this.out.index = 0;
    this.hash.update(chunk);
    if (!this.body.write(chunk)) await new Promise<void>((resolve) => this.body.once("drain", resolve));
  }

  /** Rows in the form of the archive SELECT (archiveSelectList); `bytes`: about how large they are as JSON. */
  async add(rows: Record<string, unknown>[], bytes = 0): Promise<void> {
    for (const r of rows) this.buffered.push(r);
    this.rows += rows.length;
    this.bufferedBytes += bytes;
    if (this.buffered.length >= ROW_GROUP_ROWS || this.bufferedBytes >= ROW_GROUP_BYTES) await this.flushGroup();
  }

  private async flushGroup(): Promise<void> {
    if (!this.buffered.length) return;
    const rows = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    const columnData = this.columns.map(({ name, type }) => ({
      name,
      data: rows.map((r) => writerValue(type, r[name])),
      // Min/max statistics cost more than the encoding itself: kept for the timestamps only (a
      // query's time range skips row groups by them), off elsewhere.
      statistics: type === "timestamp",
    }));
    await this.pq.write({ columnData, rowGroupSize: rows.length });
  }

  async close(): Promise<ObjectEntry> {
    await this.flushGroup();
    await this.pq.finish();
    this.body.end();
    await this.uploading;
    return { key: this.key, bytes: this.out.offset, sha256: this.hash.digest("hex"), rows: this.rows };
  }
}

/** A stored object's bytes as the ArrayBuffer hyparquet reads. */
const arrayBufferOf = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/**
 * Reads a Parquet archive object row group by row group; each row is handed over as the JSON
 * text row_to_json gave it in the NDJSON archives (same field names, same JSON types: timestamps
 * as `2025-07-15T10:00:00.123456+00:00`, json columns as JSON values, arrays as arrays).
 */
export async function readParquetObject(
  body: Buffer,
  columns: ArchiveColumn[],
  /** `raw`: the row as the writer takes it (timestamps in microseconds, json as text), for rewrites. */
  onLine: (line: string, raw: Record<string, unknown>) => void | Promise<void>,
): Promise<{ sha256: string; bytes: number; rows: number }> {
  const sha256 = createHash("sha256").update(body).digest("hex");
  const file = arrayBufferOf(body);
  const metadata = parquetMetadata(file);
  let rows = 0;
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const objects = await parquetReadObjects({
      file,
      metadata,
      rowStart: start,
      rowEnd: end,
      compressors: DECOMPRESSORS,
      parsers: { timestampFromMicroseconds: (v: bigint) => v },
    });
    for (const o of objects) {
      rows++;
      await onLine(lineOf(columns, o), o);
    }
    start = end;
  }
  if (BigInt(rows) !== metadata.num_rows) throw new Error(`parquet object read ${rows} rows, its footer says ${metadata.num_rows}`);
  return { sha256, bytes: body.length, rows };
}
