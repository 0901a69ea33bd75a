import type { Secrets } from "./secrets";
import { API_S3, s3Permissions } from "./permissions";
import { EXTERNAL } from "./esbuild-plugins.mjs";

/** Lambda runtime for every function (bundles target Node 20 syntax, so newer runtimes run them). */
export const RUNTIME = "nodejs22.x";

/** Resource options of the code that must not serve before this deploy's migrations ran. */
export type AfterMigrations = { dependsOn: $util.Input<$util.Resource>[] };

/**
 * How SST bundles every function: the plugins and externals `npm run build` uses too, so the
 * bundle measured locally is the one deployed (zod's English locale only; no `ws` on Node 22).
 */
export const NODEJS = { plugins: "infra/esbuild-plugins.mjs", esbuild: { external: EXTERNAL } };

/**
 * The API's bundle is split: what it imports dynamically (the Neon driver, rate limiting, the
 * OpenAPI document, the status page) ships as chunks beside the handler, loaded on first use
 * instead of at cold start. The jobs stay single files (they read files beside their bundle).
 */
const API_NODEJS = { ...NODEJS, splitting: true };

/** The secrets every function reads (linked: SST grants reading them, nothing more). */
export const secretLinks = (s: Secrets) => [s.databaseUrl, s.upstashUrl, s.upstashToken, s.apiKeys, s.erasureHashKey];

/** The migration function: the secrets only (it never touches the bucket). */
export function migrationFunction(s: Secrets) {
  return new sst.aws.Function("Migrate", {
    handler: "functions/migrate.handler",
    runtime: RUNTIME,
    architecture: "arm64",
    timeout: "5 minutes",
    nodejs: NODEJS,
    link: secretLinks(s),
    copyFiles: [{ from: "packages/core/migrations", to: "migrations" }],
  });
}

/**
 * The HTTP API (Function URL). `after` makes it depend on the deploy's migration invocation: the new
 * code is only updated once the migrations succeeded, and a failing migration leaves the old code.
 * The bucket is not linked (a link grants `s3:*`): the API gets API_S3 only.
 */
export function api(s: Secrets, bucket: sst.aws.Bucket, after?: AfterMigrations) {
  return new sst.aws.Function("Api", {
    handler: "functions/api/handler.handler",
    runtime: RUNTIME,
    architecture: "arm64",
    memory: "512 MB",
    timeout: "30 seconds",
    nodejs: API_NODEJS,
    // No CORS: the API is called by servers (userbot, pipeline, dashboard backend), never by browsers.
    url: { cors: false },
    link: secretLinks(s),
    permissions: s3Permissions(bucket, API_S3),
    environment: { LOG_LEVEL: "info", S3_BUCKET: bucket.name },
  }, after);
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
