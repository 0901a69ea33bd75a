import type { ExportDataset, ExportSourceFactory } from "../source.js";
import { chatFinetuneSource } from "./chat-finetune.js";
import { interactionsSource } from "./interactions.js";
import { preferencePairsSource } from "./preference-pairs.js";

/** Every dataset's source. */
export const EXPORT_SOURCES: Record<ExportDataset, ExportSourceFactory> = {
  interactions: interactionsSource,
  chat_finetune: chatFinetuneSource,
  preference_pairs: preferencePairsSource,
};
