import { z } from "zod";
import type { Db } from "../db/db.js";
import type { CopyDb } from "../db/pool-db.js";
import type { UserHasher } from "../gdpr/hash.js";
import { ReviewStatus } from "../interactions/schemas.js";
import type { StreamingBlobStore } from "../storage/blob.js";

export const ExportDataset = z.enum(["interactions", "chat_finetune", "preference_pairs"]);
export type ExportDataset = z.infer<typeof ExportDataset>;
export const ExportFormat = z.enum(["csv", "ndjson", "xlsx", "parquet"]);
export type ExportFormat = z.infer<typeof ExportFormat>;

/** Filters every dataset accepts (all optional). Times are ISO 8601 strings. */
export const ExportFilters = z
  .object({
    from: z.string().datetime({ offset: true }).optional(),
    to: z.string().datetime({ offset: true }).optional(),
    user_id: z.string().min(1).max(128).optional(),
    review_status: z.array(ReviewStatus).max(10).optional(),
    customer_status: z.array(z.string()).max(10).optional(),
    llm1_model: z.string().max(100).optional(),
    llm2_model: z.string().max(100).optional(),
    edit_tags: z.array(z.string().min(1).max(50)).max(20).optional(),
    quality_min: z.number().int().min(1).max(5).optional(),
    quality_max: z.number().int().min(1).max(5).optional(),
    /** Training datasets: how many earlier turns of the same user go in as context (default 6, max 50). */
    context_turns: z.number().int().min(0).max(50).optional(),
  })
  .strict();
export type ExportFilters = z.infer<typeof ExportFilters>;

export interface ExportColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "timestamp" | "json";
}

export interface ExportSourceDeps {
  db: Db;
  reader: CopyDb;
  store: StreamingBlobStore;
  hasher: UserHasher;
}

/** One dataset over the filters: its shape, an estimate of its size, and its rows as a stream. */
export interface ExportSource {
  /** Tabular datasets list their columns (csv/xlsx/parquet need them); line datasets (JSONL only) give null. */
  columns: ExportColumn[] | null;
  /** Formats this dataset can be written in (training datasets: ["ndjson"] only). */
  formats: readonly ExportFormat[];
  /** The total the progress counts against (exact or a close upper bound), computed before streaming. */
  count(): Promise<number>;
  /**
   * The rows, streamed (never all in memory: server-side batches/keyset pages over live Postgres, then
   * archived months object by object). Each row is a plain JSON-able object; `user_id` is the row's user
   * (the job collects these for erasure; for training datasets put it in a field named `user_id` too, the
   * writer strips fields listed in `internal`).
   */
  rows(signal?: AbortSignal): AsyncIterable<Record<string, unknown>>;
  /** Field names the job uses but does not write (e.g. ["user_id"] for training lines). */
  internal?: readonly string[];
}
export type ExportSourceFactory = (deps: ExportSourceDeps, filters: ExportFilters) => ExportSource;
