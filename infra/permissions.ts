import { PREFIXES } from "./storage";

/** One grant: S3 actions on the bucket itself or on the objects under some prefixes. */
export interface S3Grant { actions: string[]; prefixes?: string[] }

/**
 * The internet-facing API: a bucket HEAD (health; S3 authorises it as ListBucket), erasure records
 * written (DELETE /v1/users/:id), and archived objects read and rewritten without the erased user.
 * No delete, no version delete, no bucket or policy change, nothing under backups/.
 */
export const API_S3: S3Grant[] = [
  { actions: ["s3:ListBucket"] },
  { actions: ["s3:PutObject"], prefixes: [PREFIXES.erasures] },
  { actions: ["s3:GetObject", "s3:PutObject"], prefixes: [PREFIXES.archives] },
];

/**
 * The scheduled jobs: they write sets and archives (multipart), verify them, prune expired sets
 * (a delete marker: the version stays for NONCURRENT_VERSION_DAYS) and read erasure records.
 * No version delete, no bucket or policy change.
 */
export const JOB_S3: S3Grant[] = [
  { actions: ["s3:ListBucket"] },
  { actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], prefixes: [PREFIXES.backups, PREFIXES.archives] },
  { actions: ["s3:GetObject"], prefixes: [PREFIXES.erasures] },
];

/** The grants as SST function permissions on `bucket`. */
export function s3Permissions(bucket: sst.aws.Bucket, grants: S3Grant[]) {
  return grants.map((g) => ({
    actions: g.actions,
    resources: g.prefixes ? g.prefixes.map((p) => $interpolate`${bucket.arn}/${p}*`) : [bucket.arn],
  }));
}
