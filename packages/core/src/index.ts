export * from "./errors.js";
export * from "./config/index.js";
export { REDIS_SCRIPTS } from "./cache/scripts.js";
export { createLogger, reportableError, lambdaErrorReporter, type ErrorReporter, type Logger, type LogLevel } from "./log.js";
export { KeyRing, hashKey, generateKey, hasScope, type Principal } from "./auth/keys.js";
export { KeyDirectory, type AuthFailure } from "./auth/directory.js";
export {
  createKey,
  listKeys,
  getKey,
  revokeKey,
  rotateKey,
  createApiKey,
  rotateApiKey,
  revokeApiKey,
  type LiveKey,
} from "./auth/store.js";
export { AuditWriter, listAudit, pruneAudit, AUDIT_RETENTION_DAYS, type RequestRecord } from "./auth/audit.js";
export * from "./auth/schemas.js";
export { CircuitBreaker, type BreakerState } from "./resilience/breaker.js";
export { withDeadline } from "./resilience/deadline.js";
export { RedisGateway, type RedisStore } from "./cache/redis.js";
export { NeonDb, type Db, type Statement } from "./db/db.js";
export { isConnectionError, isRolledBackConflict, withSafeRetry } from "./db/retry.js";
export { ENVELOPE_PAGE_BUDGET, LAMBDA_RESPONSE_LIMIT, envelopeBytes, fitEnvelope } from "./db/keyset.js";
export { decodeUtf8Body, isWellFormed, jsonTextIssue, lambdaBodyProblem, parseJsonBody, RESERVED_KEYS } from "./validation/body.js";
export { createMetrics, type Metrics } from "./metrics/registry.js";
export { FetchBlobStore } from "./storage/fetch-blob.js";
export type { BlobStore, StreamingBlobStore } from "./storage/blob.js";
export { checkHealth, checkLiveness, type HealthReport } from "./health/check.js";
export { createServices, type Services, type ServiceAdapters, type ServiceOverrides } from "./services.js";
export * from "./wal/schemas.js";
export { WalQueue, migrateLegacyWal, claimMessages, ackMessages, walStats, type QueuedMessage } from "./wal/queue.js";
export { ingestMessages } from "./wal/ingest.js";
export { MAX_DELIVERIES, DEDUPE_TTL_SECONDS } from "./wal/keys.js";
export { redisKeys, encodeSegment, decodeSegment, type RedisKeys, type DedupeId } from "./cache/keys.js";
export * from "./interactions/schemas.js";
export { createInteraction, getInteraction, setReviewerNotes } from "./interactions/store.js";
export {
  ReviewLifecycle,
  ctaFromTags,
  claimReview,
  startReview,
  approveReview,
  rejectReview,
  cancelReview,
} from "./reviews/lifecycle.js";
export { listPendingReviews, type PendingReview } from "./reviews/queue.js";
export { claimOutbox, markSent, type OutboxItem } from "./outbox/outbox.js";
export { editTaxonomy } from "./dashboard/taxonomy.js";
export { dashboardMetrics } from "./dashboard/metrics.js";
export { appendToHistoryCache, historyKey, historyFromPostgres, HISTORY_WINDOW, type HistoryEntry } from "./memory/history.js";
export { protocolKey, cacheProtocols, type ProtocolStatus } from "./protocol/status.js";
export { MemoryManager, CONTEXT_TTL_SECONDS, getMemory, patchMemoryContext, appendMemoryHistory } from "./memory/manager.js";
export { userMemoryStats, globalMemoryStats } from "./memory/stats.js";
export * from "./memory/admin.js";
export * from "./memory/schemas.js";
export { applyContextLimits, level1, level2, level3, logicalSize, MAX_CONTEXT_BYTES, type Context } from "./memory/levels.js";
export { encodeEnvelope, decodeEnvelope, EnvelopeError } from "./memory/envelope.js";
export { compress, decompress, DEFAULT_CODEC, type Codec } from "./memory/codec.js";
export { temporalSummary, timeLabel, lastAssistantAskedQuestion } from "./memory/summary.js";
export { readThroughVersioned, writeVersioned, decodeVersioned, type Versioned } from "./cache/versioned.js";
export { RateLimiter } from "./cache/ratelimit.js";
export * from "./customers/lifecycle.js";
export * from "./coherence/commitments.js";
export * from "./coherence/analyses.js";
export {
  getUserStatus,
  setUserStatus,
  setNickname,
  PutStatusBody,
  PutNicknameBody,
  UserStatus,
  CUSTOMER_STATUSES,
} from "./users/status.js";
export { getProtocol, setProtocol, PutProtocolBody } from "./protocol/manage.js";
export * from "./protocol/admin.js";
export * from "./protocol/active.js";
export * from "./recovery/recovery.js";
export * from "./recovery/health.js";
export { eraseUser, erasureStatements, completePendingErasures, USER_TABLES, USER_ID_FIELDS, type ErasureResult } from "./gdpr/erase.js";
export { USER_FIELDS_NOTE, OWN_USER_DATA_NOTE } from "./gdpr/tables.js";
export {
  scopedKey,
  requestFingerprint,
  purgeIdempotencyKeys,
  IdempotencyKeyReusedError,
  type IdempotencyScope,
} from "./idempotency/keys.js";
export { UserHasher, LOCAL_ERASURE_KEY } from "./gdpr/hash.js";
export { listBackupSets } from "./backup/catalog.js";
export { recordErasure, ERASURE_PREFIX } from "./backup/erasure-log.js";
export { eraseArchivedUsers, archivedObjectsOf } from "./backup/archive.js";
export { EmfPublisher, type EmfSink } from "./metrics/emf.js";
export { Timeline } from "./metrics/timeline.js";
export { refreshStoreGauges } from "./metrics/store-gauges.js";
export * from "./monitoring/backlog.js";
export { statusSnapshot, BACKUP_ALERT_AFTER_HOURS, type StatusSnapshot } from "./status/snapshot.js";
export { signStatusLink, verifyStatusLink, STATUS_LINK_TTL_SECONDS } from "./status/link.js";
export * from "./analytics/index.js";
export * from "./exports/api.js";
export { ExportDataset, ExportFormat, ExportFilters } from "./exports/source.js";
export { DATASET_FORMATS, exportObjectKey } from "./exports/formats.js";
