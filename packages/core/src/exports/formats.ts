import type { ExportDataset, ExportFormat } from "./source.js";

/**
 * The formats each dataset can be written in, known without building its source (the API checks a
 * request against it; the job checks the source's own `formats` too). Training datasets are JSONL.
 */
export const DATASET_FORMATS: Record<ExportDataset, readonly ExportFormat[]> = {
  interactions: ["csv", "ndjson", "xlsx", "parquet"],
  chat_finetune: ["ndjson"],
  preference_pairs: ["ndjson"],
};

/** The object's file name and content type per format. */
export const FORMAT_FILES: Record<ExportFormat, { ext: string; contentType: string }> = {
  csv: { ext: "csv", contentType: "text/csv; charset=utf-8" },
  ndjson: { ext: "ndjson", contentType: "application/x-ndjson" },
  xlsx: { ext: "xlsx", contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
  parquet: { ext: "parquet", contentType: "application/vnd.apache.parquet" },
};

/** The one object of export `id`: deterministic, so a retried or restarted run writes the same key. */
export const exportObjectKey = (id: string, dataset: ExportDataset, format: ExportFormat) =>
  `exports/${id}/${dataset}.${FORMAT_FILES[format].ext}`;
