import { PREFIXES } from "./storage";

/**
 * One grant: S3 actions on the objects under some prefixes, or ListBucket on the bucket limited
 * to `listPrefixes` (the `s3:prefix` condition: a listing of anything else is refused).
 */
export type S3Grant = { actions: string[]; prefixes: string[] } | { actions: ["s3:ListBucket"]; listPrefixes: string[] };

/**
 * The internet-facing API: its health check lists one key under erasures/, and DELETE
 * /v1/users/:id writes an erasure record there; exports/ below. Nothing else: no read, write or delete of
 * archives/ or backups/ (the GDPR rewrite of archives is the Archive job's, functions/archive.ts),
 * so a stolen admin key or a bug in the API cannot overwrite or list archived history.
 */
export const API_S3: S3Grant[] = [
  { actions: ["s3:ListBucket"], listPrefixes: [PREFIXES.erasures] },
  { actions: ["s3:PutObject"], prefixes: [PREFIXES.erasures] },
  // Exports: GET /v1/exports/{id} presigns a GET (signed with this role, so the role must be allowed to read it);
  // an erasure deletes the exports holding the user.
  { actions: ["s3:GetObject", "s3:DeleteObject"], prefixes: [PREFIXES.exports] },
];

/**
 * The export function: reads archived months (never writes them) and writes, deletes (an export
 * erased while it ran) and aborts multipart uploads under exports/ only. It lists erasures/: the
 * training datasets leave out every erased user (erasure-log.ts's erasedHashes lists the records).
 */
export const EXPORT_S3: S3Grant[] = [
  { actions: ["s3:ListBucket"], listPrefixes: [PREFIXES.erasures] },
  { actions: ["s3:GetObject"], prefixes: [PREFIXES.archives] },
  { actions: ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], prefixes: [PREFIXES.exports] },
];

/**
 * Each job under its own prefix only: it writes its sets (multipart), reads them back, and
 * deletes only there (a delete marker: the version stays NONCURRENT_VERSION_DAYS). No version
 * delete, no bucket or policy change. The Archive job writes archives and rewrites them for GDPR
 * erasures (PutObject of a new version) and deletes nothing.
 */
export const JOB_S3: Record<"BackupPostgres" | "BackupRedis" | "Archive" | "AnalyticsRollup", S3Grant[]> = {
  AnalyticsRollup: [],
  BackupPostgres: [
    { actions: ["s3:ListBucket"], listPrefixes: [PREFIXES.postgres] },
    { actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], prefixes: [PREFIXES.postgres] },
  ],
  BackupRedis: [
    { actions: ["s3:ListBucket"], listPrefixes: [PREFIXES.redis] },
    { actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], prefixes: [PREFIXES.redis] },
  ],
  Archive: [
    { actions: ["s3:ListBucket"], listPrefixes: [PREFIXES.archives] },
    { actions: ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], prefixes: [PREFIXES.archives] },
  ],
};

/** The grants as SST function permissions on `bucket`. */
export function s3Permissions(bucket: sst.aws.Bucket, grants: S3Grant[]) {
  return grants.map((g) =>
    "listPrefixes" in g
      ? {
          actions: g.actions,
          resources: [bucket.arn],
          conditions: [{ test: "StringLike", variable: "s3:prefix", values: g.listPrefixes.flatMap((p) => [p, `${p}*`]) }],
        }
      : { actions: g.actions, resources: g.prefixes.map((p) => $interpolate`${bucket.arn}/${p}*`) },
  );
}
