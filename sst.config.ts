/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Infrastructure as code (SST v3+ on AWS). Kept short: each concern lives in infra/*.ts.
 * Deploy: `npx sst secret set DatabaseUrl ... --stage prod` for each secret, then `npx sst deploy --stage prod`.
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
  async run() {
    const { secrets } = await import("./infra/secrets");
    const { backupBucket } = await import("./infra/storage");
    const { api, migrator } = await import("./infra/api");
    const { jobs } = await import("./infra/jobs");
    const { alarms } = await import("./infra/alarms");
    const s = secrets();
    const bucket = backupBucket();
    const { fn, migrate } = api(s, bucket);
    migrator(migrate);
    jobs(s, bucket);
    alarms();
    return { api: fn.url, bucket: bucket.name };
  },
});
