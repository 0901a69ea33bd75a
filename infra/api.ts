import type { Secrets } from "./secrets";

/** Lambda runtime for every function (bundles target Node 20 syntax, so newer runtimes run them). */
export const RUNTIME = "nodejs22.x";

/** Resource options of the code that must not serve before this deploy's migrations ran. */
export type AfterMigrations = { dependsOn: unknown[] };

/** The migration function, linked to the secrets and bucket. */
export function migrationFunction(s: Secrets, bucket: sst.aws.Bucket) {
  return new sst.aws.Function("Migrate", {
    handler: "functions/migrate.handler",
    runtime: RUNTIME,
    architecture: "arm64",
    timeout: "5 minutes",
    link: [s.databaseUrl, s.upstashUrl, s.upstashToken, s.apiKeys, s.erasureHashKey, bucket],
    copyFiles: [{ from: "packages/core/migrations", to: "migrations" }],
  });
}

/**
 * The HTTP API (Function URL). `after` makes it depend on the deploy's migration invocation: the new
 * code is only updated once the migrations succeeded, and a failing migration leaves the old code.
 */
export function api(s: Secrets, bucket: sst.aws.Bucket, after?: AfterMigrations) {
  const link = [s.databaseUrl, s.upstashUrl, s.upstashToken, s.apiKeys, s.erasureHashKey, bucket];
  return new sst.aws.Function("Api", {
    handler: "functions/api/handler.handler",
    runtime: RUNTIME,
    architecture: "arm64",
    memory: "512 MB",
    timeout: "30 seconds",
    // No CORS: the API is called by servers (userbot, pipeline, dashboard backend), never by browsers.
    url: { cors: false },
    link,
    environment: { LOG_LEVEL: "info" },
  }, after as never);
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
