import type { Secrets } from "./secrets";
import { RUNTIME, secretLinks, type AfterMigrations } from "./api";
import { EXPORT_S3, s3Permissions } from "./permissions";
import { prebuilt } from "./bundles";
import { JOB_MAX_EVENT_AGE_SECONDS, JOB_RETRIES, jobFunctionName } from "./jobs";

/** Exports running at once (each streams one export; more wait in Lambda's queue). */
export const EXPORT_RESERVED_CONCURRENCY = 4;

/** The export function's name: set, so the API's grant and setting can name it before it exists. */
export const exportFunctionName = () => jobFunctionName("Export");

/**
 * The export function (functions/export.ts), invoked asynchronously by POST /v1/exports. 15 minutes,
 * Lambda's ceiling: one run writes an export of several million rows at the measured rate (README,
 * "Exports"); a run that would pass it fails saying so. Lambda retries a failed invocation
 * (JOB_RETRIES); a retry of a claimed export resumes under the same lease holder (runExport).
 * The bucket: archives/ read, exports/ written (EXPORT_S3). Its failures go to no queue of their own:
 * the export's row says why it failed.
 */
export function exportFunction(s: Secrets, bucket: sst.aws.Bucket, after?: AfterMigrations) {
  return new sst.aws.Function(
    "ExportJob",
    {
      ...prebuilt("export"),
      name: exportFunctionName(),
      runtime: RUNTIME,
      architecture: "arm64",
      memory: "1024 MB",
      timeout: "15 minutes",
      concurrency: { reserved: EXPORT_RESERVED_CONCURRENCY },
      link: secretLinks(s),
      permissions: s3Permissions(bucket, EXPORT_S3),
      // Streams end to end: the jobs' small heap keeps RSS near 200 MB (bench: npm run bench -- export).
      environment: { S3_BUCKET: bucket.name, NODE_OPTIONS: "--max-old-space-size=128 --max-semi-space-size=4" },
      retries: JOB_RETRIES,
      transform: {
        eventInvokeConfig: (args) => {
          args.maximumEventAgeInSeconds = JOB_MAX_EVENT_AGE_SECONDS;
        },
      },
    },
    after,
  );
}
