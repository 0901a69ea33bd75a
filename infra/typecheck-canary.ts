/**
 * Proof that `npm run typecheck:infra` sees SST's and @pulumi/aws's real types: each misspelt
 * argument below must be an error. If the types ever degraded to `any`, these `@ts-expect-error`
 * lines would be unused, and that is an error too. Never imported by sst.config.ts.
 */
export function canary() {
  // @ts-expect-error SST component argument misspelt (`handlr`)
  new sst.aws.Function("Canary", { handlr: "functions/migrate.handler" });
  new aws.s3.BucketServerSideEncryptionConfiguration("CanaryEncryption", {
    bucket: "canary",
    // @ts-expect-error provider argument misspelt (`sseAlgorythm`)
    rules: [{ applyServerSideEncryptionByDefault: { sseAlgorythm: "aws:kms" } }],
  });
}
