import { loadConfig as loadCoreConfig, type Config } from "@hitl/core/runtime";

/** SST link/secret names mapped onto setting names (see sst.config.ts and infra/). */
const SST_SETTINGS: Record<string, [resource: string, field: string]> = {
  DATABASE_URL: ["DatabaseUrl", "value"],
  UPSTASH_REDIS_REST_URL: ["UpstashUrl", "value"],
  UPSTASH_REDIS_REST_TOKEN: ["UpstashToken", "value"],
  API_KEYS: ["ApiKeys", "value"],
  ERASURE_HASH_KEY: ["ErasureHashKey", "value"],
  S3_BUCKET: ["Backups", "name"],
};

/** In Lambda, SST injects links and secrets: read them through `sst/resource` when present. */
async function sstSettings(env: Record<string, string | undefined> = process.env): Promise<Record<string, string>> {
  if (!env.SST_RESOURCE_App && !env.SST_KEY_FILE) return {};
  const { Resource } = await import("sst/resource");
  const out: Record<string, string> = {};
  for (const [name, [resource, field]] of Object.entries(SST_SETTINGS)) {
    try {
      const value = (Resource as unknown as Record<string, Record<string, unknown>>)[resource]?.[field];
      if (typeof value === "string") out[name] = value;
    } catch {
      // not linked to this function: the environment may still provide it
    }
  }
  return out;
}

/** A function's configuration, parsed once: the environment, overlaid by SST's links and secrets. */
export const loadConfig = (): Promise<Config> => loadCoreConfig(process.env, () => sstSettings());
