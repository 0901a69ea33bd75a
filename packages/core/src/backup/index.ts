export * from "./manifest.js";
export { backupPostgres, type BackupOutcome } from "./pg-backup.js";
export { backupRedis, snapshotKeys } from "./redis-backup.js";
export { verifySet, type Verification } from "./verify.js";
export { restorePostgres, restoreRedis, RestoreRefusedError } from "./restore.js";
export { planRetention, pruneBackups, listSets, RETENTION, type RetentionPolicy, type SetInfo } from "./retention.js";
export {
  archiveOldPartitions,
  DETACH_LOCK_TIMEOUT_SECONDS,
  isLockTimeout,
  archivePartition,
  readArchive,
  archiveManifest,
  archivePrefix,
  legacyArchivePrefix,
  archiveMonth,
  convertLegacyArchives,
  ArchiveBusyError,
  ARCHIVE_ROOT,
  HOT_WINDOW_DAYS,
} from "./archive.js";
export { archiveColumns, GLUE_TYPES, type ArchiveColumn } from "./parquet-object.js";
export { erasedHashes, reapplyErasures } from "./erasure-log.js";
export { listTables } from "./pg-tables.js";
export { S3BlobStore } from "../storage/s3-blob.js";
export { markVerified } from "./catalog.js";
export {
  JOBS,
  JOB_PREFIX,
  runJob,
  jobContext,
  backupAges,
  publishBackupAges,
  SAFETY_MARGIN_MS,
  type JobName,
  type JobContext,
} from "./jobs.js";
export { acquireLease, renewLease, releaseLease, LEASE_TTL_SECONDS } from "./lease.js";
export { eraseArchivedUsers, archivedObjectsOf, PartitionChangedError } from "./archive.js";
