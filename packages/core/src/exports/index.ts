/** The export job's side (writers, sources, runner): heavy dependencies, never in the API bundle. */
export * from "./source.js";
export * from "./formats.js";
export * from "./writers.js";
export * from "./run.js";
export * from "./local.js";
export { EXPORT_SOURCES } from "./sources/index.js";
export { interactionsSource, INTERACTION_EXPORT_COLUMNS, interactionWhere, matchesFilters, isoTimestamp } from "./sources/interactions.js";
