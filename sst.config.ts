/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Infrastructure as code (SST v3+ on AWS). Kept short: each concern lives in infra/*.ts.
 * Deploy: `npx sst secret set DatabaseUrl ... --stage production` for each secret, then
 * `npx sst deploy --stage production` (the protected, retained stage; README, "Deploying").
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
   */
  console: {
    autodeploy: {
      target(event: { type: string; branch?: string; action?: string }) {
        if (event.type === "branch" && event.branch === "main" && event.action === "pushed") return { stage: "production" };
        return undefined;
      },
    },
  },
  async run() {
    const { secrets } = await import("./infra/secrets");
    const { backupBucket } = await import("./infra/storage");
    const { api, migrationFunction, migrator } = await import("./infra/api");
    const { jobs } = await import("./infra/jobs");
    const { alarms } = await import("./infra/alarms");
    const { backlogAlarms } = await import("./infra/backlog-alarms");
    const s = secrets();
    const { bucket } = backupBucket();
    // Migrations first: the API and the jobs are updated only after this deploy's migrations ran.
    const migrated = migrator(migrationFunction(s));
    const fn = api(s, bucket, { dependsOn: [migrated] });
    const { dlq } = jobs(s, bucket, { dependsOn: [migrated] });
    const { topic } = alarms(dlq);
    backlogAlarms(s, bucket, topic, { dependsOn: [migrated] });
    return { api: fn.url, bucket: bucket.name };
  },
});
