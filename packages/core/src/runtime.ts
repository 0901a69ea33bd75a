/**
 * What the API's HTTP layer needs from the core (`@hitl/core/runtime`): the services, errors and
 * the hot routes (health, operations, messages), without the jobs' and scripts' modules.
 * Everything is also exported from `@hitl/core`.
 */
export * from "./errors.js";
export { loadConfig, type Config, type Scope } from "./config/index.js";
export { createLogger, type Logger } from "./log.js";
export type { Metrics } from "./metrics/registry.js";
export { hasScope, type Principal } from "./auth/keys.js";
export { withDeadline } from "./resilience/deadline.js";
export { isRolledBackConflict } from "./db/retry.js";
export { RideAlong, rideAlongScope } from "./db/ride-along.js";
export type { RequestRecord } from "./auth/audit.js";
export { scopedKey, requestFingerprint, type IdempotencyScope } from "./idempotency/keys.js";
export { checkHealth, checkLiveness } from "./health/check.js";
export { createServices, type Services, type ServiceAdapters } from "./services.js";
export { AckBody, AckResult, ClaimBody, ClaimedMessage, IngestBody, IngestResult, WalStats } from "./wal/schemas.js";
export { ingestMessages } from "./wal/ingest.js";
export { claimMessages, ackMessages, walStats } from "./wal/queue.js";
export { listBackupSets } from "./backup/catalog.js";
export { EmfPublisher } from "./metrics/emf.js";
export { refreshStoreGauges } from "./metrics/store-gauges.js";
export { lambdaBodyProblem, parseJsonBody } from "./validation/body.js";
