/** Days after which an unfinished multipart upload (an interrupted backup part) is aborted. */
export const ABORT_MULTIPART_AFTER_DAYS = 1;
/** Noncurrent object versions kept this long after being replaced or deleted. */
export const NONCURRENT_VERSION_DAYS = 7;

/**
 * The backup/archive bucket: versioned, encrypted (SSE-KMS with the AWS-managed key), public
 * access blocked, stale multipart uploads aborted. Cross-region replication is a documented
 * switch: set BACKUP_REPLICA_REGION (see README, "Backups").
 */
export function backupBucket() {
  const bucket = new sst.aws.Bucket("Backups", {
    versioning: true,
    transform: {
      bucket: (args) => { args.forceDestroy = $app.stage !== "production"; },
    },
  });
  new aws.s3.BucketServerSideEncryptionConfigurationV2("BackupsEncryption", {
    bucket: bucket.name,
    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
  });
  new aws.s3.BucketLifecycleConfigurationV2("BackupsLifecycle", {
    bucket: bucket.name,
    rules: [
      { id: "abort-stale-multipart", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_MULTIPART_AFTER_DAYS } },
      { id: "expire-noncurrent", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS } },
    ],
  });
  return bucket;
}
