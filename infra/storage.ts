import { deploySetting } from "./secrets";

/** Days after which an unfinished multipart upload (an interrupted backup part) is aborted. */
export const ABORT_MULTIPART_AFTER_DAYS = 1;
/** Noncurrent object versions kept this long after being replaced or deleted. */
export const NONCURRENT_VERSION_DAYS = 7;
/**
 * Safety net behind the jobs' own retention (7 days, never the newest verified set): backup
 * objects older than this expire even if the pruning job stopped running.
 */
export const BACKUP_SAFETY_EXPIRY_DAYS = 35;
/** Exports (exports/<id>/...) are deleted this long after they were written (the API reports them expired after as long). */
export const EXPORT_EXPIRY_DAYS = 7;

/**
 * Where each kind of object lives in the bucket (infra/permissions.ts grants by these prefixes):
 * each job writes and deletes under its own only.
 */
export const PREFIXES = {
  backups: "backups/",
  postgres: "backups/postgres/",
  redis: "backups/redis/",
  archives: "archives/",
  /** The archive's table (Hive-style month partitions of Parquet objects): Glue's table location (infra/analytics.ts). */
  archiveTable: "archives/interactions/",
  erasures: "erasures/",
  /** Athena's query results (the History workgroup's output location), expired after ATHENA_RESULTS_DAYS. */
  athenaResults: "athena-results/",
  exports: "exports/",
} as const;
/** Days Athena's query results are kept. */
export const ATHENA_RESULTS_DAYS = 7;
/** The replication rule's id (a dimension of S3's replication metrics). */
export const REPLICATION_RULE = "all";
/** Replication latency (seconds) past which the ReplicationLate alarm fires: S3 replicates most objects in minutes. */
export const REPLICATION_LATE_SECONDS = 3600;

/** The lifecycle rules of the bucket and of its replica (the replica keeps its own copies as long). */
const LIFECYCLE_RULES = [
  {
    id: "abort-stale-multipart",
    status: "Enabled",
    filter: {},
    abortIncompleteMultipartUpload: { daysAfterInitiation: ABORT_MULTIPART_AFTER_DAYS },
  },
  { id: "expire-noncurrent", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS } },
  { id: "backups-safety-expiry", status: "Enabled", filter: { prefix: PREFIXES.backups }, expiration: { days: BACKUP_SAFETY_EXPIRY_DAYS } },
  { id: "athena-results-expiry", status: "Enabled", filter: { prefix: PREFIXES.athenaResults }, expiration: { days: ATHENA_RESULTS_DAYS } },
  // Exports hold personal data for a download, not for keeping: gone after 7 days (in the replica too).
  { id: "exports-expiry", status: "Enabled", filter: { prefix: PREFIXES.exports }, expiration: { days: EXPORT_EXPIRY_DAYS } },
];

export interface BackupStorage {
  bucket: sst.aws.Bucket;
  /** The bucket's versioning: replication (and anything relying on object versions) waits for it. */
  versioning: aws.s3.BucketVersioning;
  /** What replication feeds the alarms with (none when BackupReplicaRegion is `none`). */
  replication?: Replication;
}

/** The dimensions of S3's replication metrics (AWS/S3, in the source bucket's region). */
export interface Replication {
  sourceBucket: $util.Output<string>;
  destinationBucket: $util.Output<string>;
  ruleId: string;
}

/**
 * The backup/archive bucket: versioned, encrypted (SSE-KMS with the AWS-managed key), public
 * access blocked, stale multipart uploads aborted. Nothing is linked to it (a link grants `s3:*`):
 * each function gets the actions it needs by prefix (infra/permissions.ts). Cross-region
 * replication is the BackupReplicaRegion secret: a region, or `none` (README, "Deploying").
 */
export function backupBucket(): BackupStorage {
  const bucket = new sst.aws.Bucket("Backups", {
    // Versioning is declared below, as a resource replication can wait for.
    versioning: false,
    // No browser ever reads backups: SST's default allow-all CORS is turned off.
    cors: false,
    transform: {
      bucket: (args) => {
        args.forceDestroy = $app.stage !== "production";
      },
    },
  });
  const versioning = new aws.s3.BucketVersioning("BackupsVersioning", {
    bucket: bucket.name,
    versioningConfiguration: { status: "Enabled" },
  });
  new aws.s3.BucketServerSideEncryptionConfiguration("BackupsEncryption", {
    bucket: bucket.name,
    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
  });
  new aws.s3.BucketLifecycleConfiguration("BackupsLifecycle", { bucket: bucket.name, rules: LIFECYCLE_RULES }, { dependsOn: [versioning] });
  // A stage setting (never the deployer's shell): a deploy without it fails, it never tears replication down.
  const replicaRegion = deploySetting("BackupReplicaRegion");
  const replication = replicaRegion === "none" ? undefined : replicate({ bucket, versioning }, replicaRegion);
  return { bucket, versioning, replication };
}

/**
 * BackupReplicaRegion=eu-west-1 replicates every object to a bucket there, SSE-KMS objects
 * included: the role decrypts with the source region's S3 key and encrypts with a key of the
 * replica's own. Delete markers are not replicated: an object pruned (or deleted by mistake or
 * malice) at the source stays in the replica until the replica's own lifecycle expires it. The
 * replica bucket and its key are retained when removed from the program (a later deploy with
 * `none`, or `sst remove`): a key scheduled for deletion would make the replica unreadable.
 *
 * KMS encryption context: with S3 Bucket Keys (on for both buckets) S3 calls KMS with the
 * *bucket's* ARN as `aws:s3:arn`, without them with the object's: the conditions allow both.
 * With Bucket Keys the role also needs kms:Decrypt on the replica's key (AWS's replication
 * requirements). S3 replication metrics are on, and feed the replication alarms (infra/alarms.ts).
 */
function replicate(source: BackupStorage, region: string): Replication {
  const provider = new aws.Provider("ReplicaRegion", { region: region as aws.Region });
  const sourceRegion = aws.getRegionOutput().region;
  const retained = { provider, retainOnDelete: true };
  const replicaKey = new aws.kms.Key(
    "BackupsReplicaKey",
    {
      description: `${$app.name} ${$app.stage} backup replica`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
    },
    retained,
  );
  const replica = new aws.s3.Bucket("BackupsReplica", { forceDestroy: false }, retained);
  new aws.s3.BucketPublicAccessBlock(
    "BackupsReplicaPublicAccess",
    {
      bucket: replica.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    { provider },
  );
  const replicaVersioning = new aws.s3.BucketVersioning(
    "BackupsReplicaVersioning",
    {
      bucket: replica.id,
      versioningConfiguration: { status: "Enabled" },
    },
    { provider },
  );
  new aws.s3.BucketServerSideEncryptionConfiguration(
    "BackupsReplicaEncryption",
    {
      bucket: replica.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: replicaKey.arn }, bucketKeyEnabled: true }],
    },
    { provider },
  );
  new aws.s3.BucketLifecycleConfiguration(
    "BackupsReplicaLifecycle",
    { bucket: replica.id, rules: LIFECYCLE_RULES },
    { provider, dependsOn: [replicaVersioning] },
  );
  // The role's only policy is inline in the role itself: no separate RolePolicy that a later update of the role could drop.
  const role = new aws.iam.Role("BackupsReplicationRole", {
    assumeRolePolicy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "s3.amazonaws.com" }, Action: "sts:AssumeRole" }],
    }),
    inlinePolicies: [
      {
        name: "replication",
        policy: $jsonStringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"], Resource: source.bucket.arn },
            {
              Effect: "Allow",
              Action: ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
              Resource: $interpolate`${source.bucket.arn}/*`,
            },
            { Effect: "Allow", Action: ["s3:ReplicateObject", "s3:ReplicateTags"], Resource: $interpolate`${replica.arn}/*` },
            // The source objects' key is the AWS-managed S3 key: decrypt only through S3, for this bucket.
            {
              Effect: "Allow",
              Action: ["kms:Decrypt"],
              Resource: "*",
              Condition: {
                StringEquals: { "kms:ViaService": $interpolate`s3.${sourceRegion}.amazonaws.com` },
                StringLike: { "kms:EncryptionContext:aws:s3:arn": [source.bucket.arn, $interpolate`${source.bucket.arn}/*`] },
              },
            },
            {
              Effect: "Allow",
              Action: ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"],
              Resource: replicaKey.arn,
              Condition: {
                StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` },
                StringLike: { "kms:EncryptionContext:aws:s3:arn": [replica.arn, $interpolate`${replica.arn}/*`] },
              },
            },
          ],
        }),
      },
    ],
  });
  new aws.s3.BucketReplicationConfig(
    "BackupsReplication",
    {
      bucket: source.bucket.name,
      role: role.arn,
      rules: [
        {
          id: REPLICATION_RULE,
          status: "Enabled",
          filter: {},
          deleteMarkerReplication: { status: "Disabled" },
          sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
          destination: {
            bucket: replica.arn,
            storageClass: "STANDARD_IA",
            encryptionConfiguration: { replicaKmsKeyId: replicaKey.arn },
            // Replication metrics (OperationsFailedReplication, ReplicationLatency) for the alarms.
            metrics: { status: "Enabled", eventThreshold: { minutes: 15 } },
          },
        },
      ],
    },
    { dependsOn: [source.versioning, replicaVersioning, role] },
  );
  return { sourceBucket: source.bucket.name, destinationBucket: replica.bucket, ruleId: REPLICATION_RULE };
}
