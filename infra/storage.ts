/** Days after which an unfinished multipart upload (an interrupted backup part) is aborted. */
export const ABORT_MULTIPART_AFTER_DAYS = 1;
/** Noncurrent object versions kept this long after being replaced or deleted. */
export const NONCURRENT_VERSION_DAYS = 7;
/**
 * Safety net behind the jobs' own retention (7 days, never the newest verified set): backup
 * objects older than this expire even if the pruning job stopped running.
 */
export const BACKUP_SAFETY_EXPIRY_DAYS = 35;

/**
 * The backup/archive bucket: versioned, encrypted (SSE-KMS with the AWS-managed key), public
 * access blocked, stale multipart uploads aborted. Cross-region replication is a documented
 * switch: set BACKUP_REPLICA_REGION (see README, "Backups").
 */
export function backupBucket() {
  const bucket = new sst.aws.Bucket("Backups", {
    versioning: true,
    // No browser ever reads backups: SST's default allow-all CORS is turned off.
    cors: false,
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
      { id: "backups-safety-expiry", status: "Enabled", filter: { prefix: "backups/" }, expiration: { days: BACKUP_SAFETY_EXPIRY_DAYS } },
    ],
  });
  const replicaRegion = process.env.BACKUP_REPLICA_REGION;
  if (replicaRegion) replicate(bucket, replicaRegion);
  return bucket;
}

/** The documented switch: BACKUP_REPLICA_REGION=eu-west-1 at deploy time replicates the bucket there. */
function replicate(bucket: sst.aws.Bucket, region: string) {
  const provider = new aws.Provider("ReplicaRegion", { region: region as aws.Region });
  const replica = new aws.s3.BucketV2("BackupsReplica", { forceDestroy: $app.stage !== "production" }, { provider });
  new aws.s3.BucketVersioningV2("BackupsReplicaVersioning", { bucket: replica.id, versioningConfiguration: { status: "Enabled" } }, { provider });
  const role = new aws.iam.Role("BackupsReplicationRole", {
    assumeRolePolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sts:AssumeRole" }] }),
  });
  new aws.iam.RolePolicy("BackupsReplicationPolicy", {
    role: role.id,
    policy: $jsonStringify({ Version: "2012-10-17", Statement: [
      { Effect: "Allow", Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"], Resource: bucket.arn },
      { Effect: "Allow", Action: ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"], Resource: $interpolate`${bucket.arn}/*` },
      { Effect: "Allow", Action: ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"], Resource: $interpolate`${replica.arn}/*` },
    ] }),
  });
  new aws.s3.BucketReplicationConfig("BackupsReplication", {
    bucket: bucket.name, role: role.arn,
    rules: [{ id: "all", status: "Enabled", filter: {}, deleteMarkerReplication: { status: "Enabled" }, destination: { bucket: replica.arn, storageClass: "STANDARD_IA" } }],
  });
}
