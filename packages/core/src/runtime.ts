/**
 * What the API's cold start needs from the core (`@hitl/core/runtime`): the services and the
 * hot routes (health, operations, messages). The API's entry imports only this, so the modules
 * that only its lazily loaded route groups use (interactions, memory, users, protocol, recovery
 * schemas...) are bundled into their chunks, not built at cold start. Everything is also exported
 * from `@hitl/core`.
 */
export * from "./errors.js";
export { loadConfig, type Scope } from "./config/index.js";
export { createLogger, type Logger } from "./log.js";
export { hasScope, type Principal } from "./auth/keys.js";
export { withDeadline } from "./resilience/deadline.js";
export { isRolledBackConflict } from "./db/retry.js";
export { checkHealth, checkLiveness } from "./health/check.js";
export { createServices, type Services } from "./services.js";
export { AckBody, AckResult, ClaimBody, ClaimedMessage, IngestBody, IngestResult, WalStats } from "./wal/schemas.js";
export { ingestMessages } from "./wal/ingest.js";
export { listBackupSets } from "./backup/catalog.js";
export { EmfPublisher } from "./metrics/emf.js";
export { refreshStoreGauges } from "./metrics/store-gauges.js";
