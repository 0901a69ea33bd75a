import type { Secrets } from "./secrets";

/** Lambda runtime for every function (bundles target Node 20 syntax, so newer runtimes run them). */
export const RUNTIME = "nodejs22.x";

/** The HTTP API (Function URL) and the migration function, both linked to the secrets and bucket. */
export function api(s: Secrets, bucket: sst.aws.Bucket) {
  const link = [s.databaseUrl, s.upstashUrl, s.upstashToken, s.apiKeys, s.erasureHashKey, bucket];
  const fn = new sst.aws.Function("Api", {
    handler: "functions/api/handler.handler",
    runtime: RUNTIME,
    architecture: "arm64",
    memory: "512 MB",
    timeout: "30 seconds",
    url: true,
    link,
    environment: { LOG_LEVEL: "info" },
  });
  const migrate = new sst.aws.Function("Migrate", {
    handler: "functions/migrate.handler",
    runtime: RUNTIME,
    architecture: "arm64",
    timeout: "5 minutes",
    link,
    copyFiles: [{ from: "packages/core/migrations", to: "migrations" }],
  });
  return { fn, migrate };
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
