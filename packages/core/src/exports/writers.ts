import { once } from "node:events";
import { PassThrough } from "node:stream";
import ExcelJS from "exceljs";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import type { ExportColumn, ExportFormat } from "./source.js";

/** Bytes buffered in the output before a writer waits for the upload to take them. */
const HIGH_WATER = 4 * 1024 * 1024;

/**
 * The export's bytes, as a stream the multipart upload reads: `write` resolves once the stream
 * has room again (backpressure), so the writers never run ahead of S3 by more than HIGH_WATER plus
 * the upload's own parts. `fail` wakes a waiting writer when the upload side has failed.
 */
export class ByteSink {
  /** Bytes written, whoever wrote them (exceljs writes into `stream` itself). */
  bytes = 0;
  readonly stream = new PassThrough({
    highWaterMark: HIGH_WATER,
    transform: (chunk: Buffer, _enc, done) => {
      this.bytes += chunk.length;
      done(null, chunk);
    },
  });
  private readonly abort = new AbortController();

  async write(chunk: Buffer | string): Promise<void> {
    this.abort.signal.throwIfAborted();
    const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    if (!buf.length) return;
    if (!this.stream.write(buf)) await once(this.stream, "drain", { signal: this.abort.signal });
  }

  /** Waits until the buffered bytes are below the mark (for writers that write into `stream` themselves). */
  async room(): Promise<void> {
    this.abort.signal.throwIfAborted();
    if (this.stream.writableNeedDrain) await once(this.stream, "drain", { signal: this.abort.signal });
  }

  end(): void {
    if (!this.stream.writableEnded) this.stream.end();
  }

  fail(reason: unknown): void {
    this.abort.abort(reason);
    this.stream.destroy();
  }
}

/** Writes rows (in batches) in one format; `end` writes the trailer (parquet footer, xlsx zip directory). */
export interface RowWriter {
  write(rows: Record<string, unknown>[]): Promise<void>;
  end(): Promise<void>;
}

export interface WriterOptions {
  format: ExportFormat;
  /** Tabular datasets: the columns, in order; null for line datasets (ndjson only). */
  columns: ExportColumn[] | null;
  /** Fields not written (e.g. user_id of training lines). */
  internal?: readonly string[];
  /** The sheet name of xlsx exports (the dataset). */
  sheetName?: string;
  /** Rows per parquet row group (memory is about this many rows of column arrays). @default PARQUET_ROW_GROUP */
  rowGroupRows?: number;
  /** Data rows per xlsx sheet (tests shrink it). @default XLSX_MAX_DATA_ROWS */
  sheetRows?: number;
}

export class FormatNotTabularError extends Error {
  override name = "FormatNotTabularError";
  constructor(format: string) {
    super(`${format} needs a tabular dataset (columns); this dataset is written as ndjson only`);
  }
}

export function createRowWriter(sink: ByteSink, opts: WriterOptions): RowWriter {
  if (opts.format === "ndjson") return ndjsonWriter(sink, opts);
  if (!opts.columns) throw new FormatNotTabularError(opts.format);
  if (opts.format === "csv") return csvWriter(sink, opts.columns);
  if (opts.format === "xlsx") return xlsxWriter(sink, opts.columns, opts);
  return parquetWriter(sink, opts.columns, opts.rowGroupRows ?? PARQUET_ROW_GROUP);
}

function ndjsonWriter(sink: ByteSink, opts: WriterOptions): RowWriter {
  const internal = opts.internal ?? [];
  const names = opts.columns?.map((c) => c.name);
  const shape = names
    ? (r: Record<string, unknown>) => {
        const o: Record<string, unknown> = {};
        for (const n of names) o[n] = r[n] ?? null;
        return o;
      }
    : internal.length
      ? (r: Record<string, unknown>) => {
          const o = { ...r };
          for (const k of internal) delete o[k];
          return o;
        }
      : (r: Record<string, unknown>) => r;
  return {
    async write(rows) {
      let text = "";
      for (const r of rows) text += `${JSON.stringify(shape(r))}\n`;
      await sink.write(text);
    },
    async end() {},
  };
}

const NEEDS_QUOTES = /[",\r\n]/;
const QUOTE = /"/g;

/** A field of RFC 4180 CSV: JSON columns as JSON text, null as an empty field, quoted only when it must be. */
export function csvField(v: unknown, type: ExportColumn["type"]): string {
  if (v === null || v === undefined) return "";
  const s = type === "json" || typeof v === "object" ? JSON.stringify(v) : String(v);
  return NEEDS_QUOTES.test(s) ? `"${s.replace(QUOTE, '""')}"` : s;
}

/**
 * RFC 4180 CSV: a header row, then one record per row, CRLF-free (`\n` line ends, as csv-parse and
 * spreadsheets read them); a field is quoted when it holds a quote, comma or line break, its
 * quotes doubled. Written by hand: csv-stringify took 40% of the export's CPU (37 us a row of 36
 * fields, bench/export.bench.ts); this is the whole of the format, and the tests read every file
 * back with csv-parse.
 */
function csvWriter(sink: ByteSink, columns: ExportColumn[]): RowWriter {
  let header = true;
  const headerLine = `${columns.map((c) => csvField(c.name, "string")).join(",")}\n`;
  return {
    async write(rows) {
      let text = header ? headerLine : "";
      header = false;
      for (const r of rows) {
        let line = "";
        for (let i = 0; i < columns.length; i++) {
          const c = columns[i]!;
          line += i ? `,${csvField(r[c.name], c.type)}` : csvField(r[c.name], c.type);
        }
        text += `${line}\n`;
      }
      await sink.write(text);
    },
    async end() {
      if (header) await sink.write(headerLine);
    },
  };
}

/** Excel's limits: 1,048,576 rows per sheet (one is the header) and 32,767 characters per cell. */
export const XLSX_MAX_DATA_ROWS = 1_048_575;
export const XLSX_MAX_CELL_CHARS = 32_767;

function xlsxCell(v: unknown, type: ExportColumn["type"]): string | number | boolean | Date | null {
  if (v === null || v === undefined) return null;
  if (type === "timestamp") return new Date(String(v));
  const s = type === "json" || typeof v === "object" ? JSON.stringify(v) : v;
  return typeof s === "string" && s.length > XLSX_MAX_CELL_CHARS ? s.slice(0, XLSX_MAX_CELL_CHARS) : (s as string | number | boolean);
}

/**
 * XLSX through exceljs's streaming WorkbookWriter (rows committed as they come, no shared strings,
 * no styles). A sheet holds at most XLSX_MAX_DATA_ROWS rows under its header; past that the rows
 * go on in a new sheet (`interactions (2)`, ...), each with the header. Text longer than a cell
 * holds is cut at XLSX_MAX_CELL_CHARS (csv, ndjson and parquet keep it whole).
 */
function xlsxWriter(sink: ByteSink, columns: ExportColumn[], opts: WriterOptions): RowWriter {
  const book = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: sink.stream, useSharedStrings: false, useStyles: false });
  const base = (opts.sheetName ?? "export").slice(0, 25);
  const perSheet = opts.sheetRows ?? XLSX_MAX_DATA_ROWS;
  let sheet: ExcelJS.Worksheet | null = null;
  let sheets = 0;
  let inSheet = 0;
  const newSheet = () => {
    sheet?.commit();
    sheets++;
    sheet = book.addWorksheet(sheets === 1 ? base : `${base} (${sheets})`);
    sheet.addRow(columns.map((c) => c.name)).commit();
    inSheet = 0;
  };
  return {
    async write(rows) {
      for (const r of rows) {
        if (!sheet || inSheet >= perSheet) newSheet();
        sheet!.addRow(columns.map((c) => xlsxCell(r[c.name], c.type))).commit();
        inSheet++;
      }
      await sink.room();
    },
    async end() {
      if (!sheet) newSheet();
      (sheet as ExcelJS.Worksheet | null)?.commit();
      await book.commit();
    },
  };
}

/** Rows per parquet row group: the column arrays of one group are what the writer holds. */
export const PARQUET_ROW_GROUP = 10_000;

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]["schema"][number];

function parquetSchema(columns: ExportColumn[]): SchemaElement[] {
  const leaf = (c: ExportColumn): SchemaElement => {
    const base = { name: c.name, repetition_type: "OPTIONAL" as const };
    switch (c.type) {
      case "string":
        return { ...base, type: "BYTE_ARRAY", converted_type: "UTF8" };
      case "json":
        return { ...base, type: "BYTE_ARRAY", converted_type: "JSON" };
      case "integer":
        return { ...base, type: "INT64" };
      case "number":
        return { ...base, type: "DOUBLE" };
      case "boolean":
        return { ...base, type: "BOOLEAN" };
      case "timestamp":
        return { ...base, type: "INT64", converted_type: "TIMESTAMP_MILLIS" };
    }
  };
  return [{ name: "root", num_children: columns.length }, ...columns.map(leaf)];
}

function parquetValue(v: unknown, type: ExportColumn["type"]): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "string":
      return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
    case "integer":
      return BigInt(Math.trunc(Number(v)));
    case "number":
      return Number(v);
    case "boolean":
      return Boolean(v);
    case "timestamp":
      return Date.parse(String(v));
    case "json":
      return v;
  }
}

/**
 * Parquet (hyparquet-writer, the archive's writer): rows are collected into column arrays of
 * `groupRows` rows, each group encoded as one row group and its bytes handed to the sink before
 * the next group is collected; the footer (schema, row groups, indexes) is written at the end.
 */
function parquetWriter(sink: ByteSink, columns: ExportColumn[], groupRows: number): RowWriter {
  const out = new ByteWriter();
  let pending = Promise.resolve();
  const flushBytes = () => {
    const chunk = Buffer.from(new Uint8Array(out.buffer, 0, out.index));
    out.index = 0;
    // Copied out before the buffer is reused; written in order.
    pending = pending.then(() => sink.write(chunk));
    return pending;
  };
  const writer = new ParquetWriter({
    writer: Object.assign(out, { flush: flushBytes, finish: () => void flushBytes() }),
    schema: parquetSchema(columns),
    codec: "SNAPPY",
  });
  let data: unknown[][] = columns.map(() => []);
  let n = 0;
  const writeGroup = async () => {
    if (!n) return;
    const columnData = columns.map((c, i) => ({ name: c.name, data: data[i]! }));
    data = columns.map(() => []);
    n = 0;
    await writer.write({ columnData: columnData as never, rowGroupSize: Number.MAX_SAFE_INTEGER });
    await pending;
  };
  return {
    async write(rows) {
      for (const r of rows) {
        for (let i = 0; i < columns.length; i++) data[i]!.push(parquetValue(r[columns[i]!.name], columns[i]!.type));
        if (++n >= groupRows) await writeGroup();
      }
    },
    async end() {
      await writeGroup();
      await writer.finish();
      await pending;
    },
  };
}
