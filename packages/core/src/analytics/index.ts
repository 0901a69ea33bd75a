export { BrowseQuery, browseInteractions, MIN_SEARCH_CHARS, type BrowsePage } from "./browse.js";
export { ReportQuery, resolveRange, MAX_REPORT_DAYS, type ReportRange } from "./range.js";
export {
  report,
  reports,
  computeReport,
  REPORT_NAMES,
  REPORT_CACHE_TTL_SECONDS,
  histogramPercentile,
  type ReportName,
  type Report,
} from "./reports.js";
export { REPORT_SCHEMAS, Freshness } from "./schemas.js";
export { refreshRollups, recomputeDayStatements, DIRTY_MARGIN_SECONDS } from "./rollup.js";
export { REVIEW_TIME_BINS_SECONDS } from "./facts.js";
export { CleanupCriteria, CleanupBody, previewCleanup, executeCleanup, CLEANUP_TOKEN_TTL_SECONDS, MAX_CLEANUP_ROWS } from "./cleanup.js";
export { integrityReport, UNSENT_AFTER_HOURS, type IntegrityReport } from "./integrity.js";
