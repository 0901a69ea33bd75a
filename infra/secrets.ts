import { DeployRefusedError } from "./bundles";

/**
 * Secrets set per stage with `sst secret set <Name> <value> --stage <stage>`; linked functions read
 * them via `sst/resource`. SST keeps them per stage in the account, so every deployer (a teammate,
 * Console autodeploy) deploys with the same values: a deploy never depends on its shell.
 */
export function secrets() {
  return {
    databaseUrl: new sst.Secret("DatabaseUrl"),
    upstashUrl: new sst.Secret("UpstashUrl"),
    upstashToken: new sst.Secret("UpstashToken"),
    /** JSON array of {id, scopes, sha256}: `npm run keygen` prints entries (one must have the admin scope). */
    apiKeys: new sst.Secret("ApiKeys"),
    /** HMAC key of user ids in the erasure log (`openssl rand -hex 32`); never rotate without re-keying the log. */
    erasureHashKey: new sst.Secret("ErasureHashKey"),
    /** Where the alarms are sent (an email address subscribed to the Alerts topic). */
    alertEmail: new sst.Secret("AlertEmail"),
    /** The region backups replicate to, or `none` (deploySetting below). */
    backupReplicaRegion: new sst.Secret("BackupReplicaRegion"),
  };
}
export type Secrets = ReturnType<typeof secrets>;

/**
 * A secret's value while the program runs, for settings that decide which resources exist (a
 * secret's `value` is an Output, known too late for that). SST hands every secret of the stage to
 * the program as SST_SECRET_<Name>; a missing one fails the deploy with one line naming it, never
 * by deleting what the setting created.
 */
export function deploySetting(name: string, env: Record<string, string | undefined> = process.env): string {
  const value = env[`SST_SECRET_${name}`];
  if (value === undefined || value === "") throw new DeployRefusedError(`Set a value for ${name} with \`sst secret set ${name} <value>\``);
  return value;
}
