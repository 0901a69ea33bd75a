import type { Secrets } from "./secrets";
import { API_S3, s3Permissions } from "./permissions";
import { prebuilt } from "./bundles";

/** Lambda runtime for every function (bundles target Node 20 syntax, so newer runtimes run them). */
export const RUNTIME = "nodejs22.x";

/** Resource options of the code that must not serve before this deploy's migrations ran. */
export type AfterMigrations = { dependsOn: $util.Input<$util.Resource>[] };

/** Concurrency reserved for the migration function: an API flood cannot throttle a deploy's migrations. */
export const MIGRATE_RESERVED_CONCURRENCY = 1;

/** The secrets every function reads (linked: SST grants reading them, nothing more). */
export const secretLinks = (s: Secrets) => [s.databaseUrl, s.upstashUrl, s.upstashToken, s.apiKeys, s.erasureHashKey];

/**
 * The migration function: the secrets only (it never touches the bucket). Its bundle is
 * dist/migrate/ from `npm run build`, with the SQL files in migrations/ beside it.
 */
export function migrationFunction(s: Secrets) {
  return new sst.aws.Function("Migrate", {
    ...prebuilt("migrate"),
    runtime: RUNTIME,
    architecture: "arm64",
    timeout: "5 minutes",
    concurrency: { reserved: MIGRATE_RESERVED_CONCURRENCY },
    link: secretLinks(s),
  });
}

/**
 * The HTTP API (Function URL). `after` makes it depend on the deploy's migration invocation: the new
 * code is only updated once the migrations succeeded, and a failing migration leaves the old code.
 * Its bundle is dist/api/ from `npm run build` (the entry and the chunks loaded on first use).
 * The bucket is not linked (a link grants `s3:*`): the API gets API_S3 only. Its concurrency is
 * the account's unreserved pool: the jobs and Migrate have their own (README, "Deploying").
 */
export function api(
  s: Secrets,
  bucket: sst.aws.Bucket,
  after?: AfterMigrations,
  exportFunction?: { name: string; arn: $util.Input<string> },
) {
  return new sst.aws.Function(
    "Api",
    {
      ...prebuilt("api"),
      runtime: RUNTIME,
      architecture: "arm64",
      memory: "512 MB",
      timeout: "30 seconds",
      // No CORS: the API is called by servers (userbot, pipeline, dashboard backend), never by browsers.
      url: { cors: false },
      link: secretLinks(s),
      permissions: [
        ...s3Permissions(bucket, API_S3),
        // POST /v1/exports invokes the export function asynchronously (packages/core/src/exports/api.ts).
        ...(exportFunction ? [{ actions: ["lambda:InvokeFunction"], resources: [exportFunction.arn] }] : []),
      ],
      environment: {
        LOG_LEVEL: "info",
        S3_BUCKET: bucket.name,
        ...(exportFunction ? { EXPORT_FUNCTION_NAME: exportFunction.name } : {}),
      },
    },
    after,
  );
}

/**
 * Migrations reach production on every deploy: this invocation's input changes each deploy, so
 * the provider invokes the function, and a failing migration fails the deploy.
 */
export function migrator(migrate: sst.aws.Function) {
  return new aws.lambda.Invocation("MigrateOnDeploy", {
    functionName: migrate.name,
    input: JSON.stringify({ deployedAt: new Date().toISOString() }),
  });
}
