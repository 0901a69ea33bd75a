/** Secrets set per stage with `sst secret set <Name> <value>`; linked functions read them via `sst/resource`. */
export function secrets() {
  return {
    databaseUrl: new sst.Secret("DatabaseUrl"),
    upstashUrl: new sst.Secret("UpstashUrl"),
    upstashToken: new sst.Secret("UpstashToken"),
    /** JSON array of {id, scopes, sha256}: `npm run keygen` prints entries. */
    apiKeys: new sst.Secret("ApiKeys"),
    /** HMAC key of user ids in the erasure log (`openssl rand -hex 32`); never rotate without re-keying the log. */
    erasureHashKey: new sst.Secret("ErasureHashKey"),
  };
}
export type Secrets = ReturnType<typeof secrets>;
