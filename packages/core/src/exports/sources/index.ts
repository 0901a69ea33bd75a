import type { ExportDataset, ExportSource, ExportSourceFactory } from "../source.js";
import { interactionsSource } from "./interactions.js";

/** A dataset whose source is not part of this build (the training datasets are wired in at merge). */
export class DatasetUnavailableError extends Error {
  override name = "DatasetUnavailableError";
  constructor(dataset: string) {
    super(`the ${dataset} dataset is not available in this build`);
  }
}

const unavailable =
  (dataset: ExportDataset): ExportSourceFactory =>
  (): ExportSource => {
    throw new DatasetUnavailableError(dataset);
  };

/** Every dataset's source. */
export const EXPORT_SOURCES: Record<ExportDataset, ExportSourceFactory> = {
  interactions: interactionsSource,
  chat_finetune: unavailable("chat_finetune"),
  preference_pairs: unavailable("preference_pairs"),
};
