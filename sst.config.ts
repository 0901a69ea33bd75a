/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Infrastructure as code (SST v3+ on AWS). Kept short: each concern lives in infra/*.ts.
 * Deploy: `npx sst secret set <Name> ... --stage production` for each secret (infra/secrets.ts), then
 * `npm run deploy` (`npm run build`, then `sst deploy --stage production`: SST deploys the bundles
 * the build wrote, infra/bundles.ts; README, "Deploying with SST").
 * `npm run typecheck:infra` checks this file and infra/*.ts against SST's and @pulumi/aws's types.
 */
export default $config({
  app(input) {
    return {
      name: "hitl-data-layer",
      home: "aws",
      removal: input?.stage === "production" ? "retain" : "remove",
      protect: input?.stage === "production",
    };
  },
  /**
   * SST Console autodeploy: a push to main deploys `production` (the one stage name used
   * everywhere); other branches and pull requests are not deployed (they would have no secrets).
   * The workflow builds the bundles SST deploys (SST's default workflow would only install and deploy).
   */
  console: {
    autodeploy: {
      target(event: { type: string; branch?: string; action?: string }) {
        if (event.type === "branch" && event.branch === "main" && event.action === "pushed") return { stage: "production" };
        return undefined;
      },
      async workflow({ $, event }) {
        await $`npm ci --no-audit --no-fund`;
        await $`npm run build`;
        if (event.action === "removed") await $`npx sst remove`;
        else await $`npx sst deploy`;
      },
    },
  },
  async run() {
    const { secrets } = await import("./infra/secrets");
    const { backupBucket } = await import("./infra/storage");
    const { api, migrationFunction, migrator } = await import("./infra/api");
    const { jobs } = await import("./infra/jobs");
    const { exportFunction, exportFunctionName } = await import("./infra/exports");
    const { alarms } = await import("./infra/alarms");
    const { backlogAlarms } = await import("./infra/backlog-alarms");
    const { analytics } = await import("./infra/analytics");
    const s = secrets();
    const { bucket, replication } = backupBucket();
    // Migrations first: the API and the jobs are updated only after this deploy's migrations ran.
    const migrated = migrator(migrationFunction(s));
    const after = { dependsOn: [migrated] };
    const exporter = exportFunction(s, bucket, after);
    const fn = api(s, bucket, after, { name: exportFunctionName(), arn: exporter.arn });
    const { dlq } = jobs(s, bucket, after);
    const { topic } = alarms(dlq, s.alertEmail, replication, after);
    backlogAlarms(s, bucket, topic, after);
    const history = analytics(bucket);
    return { api: fn.url, bucket: bucket.name, athenaWorkgroup: history.workgroup.name, glueDatabase: history.database.name };
  },
});
