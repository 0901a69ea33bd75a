import { ConfigError } from "../errors.js";
import { ConfigSchema } from "./schema.js";
import { LOCAL_ERASURE_KEY } from "../gdpr/hash.js";
import type { Config } from "./types.js";

type Source = Record<string, string | undefined>;

/** Parses a settings source into a Config, or throws a one-line ConfigError naming the setting. */
export function parseConfig(source: Source): Config {
  const result = ConfigSchema.safeParse(source);
  if (!result.success) {
    const first = result.error.issues[0]!;
    const name = first.path.length ? String(first.path[0]) : "configuration";
    const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : "";
    const msg = first.code === "invalid_type" && source[name] === undefined ? "is required" : first.message;
    throw new ConfigError(`invalid configuration: ${name} ${msg}${more}`);
  }
  const c = result.data;
  return {
    mode: c.HITL_MODE,
    databaseUrl: c.DATABASE_URL,
    localNeonProxyUrl: c.LOCAL_NEON_PROXY_URL,
    redis: { url: c.UPSTASH_REDIS_REST_URL, token: c.UPSTASH_REDIS_REST_TOKEN, prefix: c.REDIS_PREFIX, retries: c.REDIS_RETRIES, timeoutMs: c.REDIS_TIMEOUT_MS },
    apiKeys: c.API_KEYS,
    apiKeyMaxAgeMs: c.API_KEY_MAX_AGE_MS,
    erasureHashKey: c.ERASURE_HASH_KEY ?? LOCAL_ERASURE_KEY,
    s3: {
      bucket: c.S3_BUCKET, region: c.S3_REGION ?? c.AWS_REGION ?? "us-east-1", endpoint: c.S3_ENDPOINT, timeoutMs: c.S3_TIMEOUT_MS,
      credentials: c.AWS_ACCESS_KEY_ID && c.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: c.AWS_ACCESS_KEY_ID, secretAccessKey: c.AWS_SECRET_ACCESS_KEY, sessionToken: c.AWS_SESSION_TOKEN }
        : undefined,
    },
    logLevel: c.LOG_LEVEL,
    breaker: { failureThreshold: c.BREAKER_FAILURE_THRESHOLD, cooldownMs: c.BREAKER_COOLDOWN_MS },
    postgres: {
      connectAttempts: c.PG_CONNECT_ATTEMPTS, backoffBaseMs: c.PG_BACKOFF_BASE_MS, timeoutMs: c.PG_TIMEOUT_MS,
      connectTimeoutMs: c.PG_CONNECT_TIMEOUT_MS, bulkStatementTimeoutMs: c.PG_BULK_STATEMENT_TIMEOUT_MS,
      breaker: { failureThreshold: c.PG_BREAKER_FAILURE_THRESHOLD, cooldownMs: c.PG_BREAKER_COOLDOWN_MS },
    },
    lambdaMarginMs: c.LAMBDA_MARGIN_MS,
    maxBodyBytes: c.MAX_BODY_BYTES,
    backlog: { wal: c.BACKLOG_WAL_THRESHOLD, review_queue: c.BACKLOG_REVIEW_THRESHOLD, outbox_unsent: c.BACKLOG_OUTBOX_THRESHOLD },
    rateLimit: c.RATE_LIMIT_REQUESTS > 0 ? { requests: c.RATE_LIMIT_REQUESTS, windowSeconds: c.RATE_LIMIT_WINDOW_SECONDS } : undefined,
  };
}

/** SST link/secret names mapped onto setting names (see sst.config.ts). */
const SST_SETTINGS: Record<string, [resource: string, field: string]> = {
  DATABASE_URL: ["DatabaseUrl", "value"],
  UPSTASH_REDIS_REST_URL: ["UpstashUrl", "value"],
  UPSTASH_REDIS_REST_TOKEN: ["UpstashToken", "value"],
  API_KEYS: ["ApiKeys", "value"],
  ERASURE_HASH_KEY: ["ErasureHashKey", "value"],
  S3_BUCKET: ["Backups", "name"],
};

/** In Lambda, SST injects links and secrets; read them through `sst/resource` when present. */
async function sstSource(env: Source): Promise<Source> {
  if (!env.SST_RESOURCE_App && !env.SST_KEY_FILE) return {};
  const { Resource } = await import("sst/resource");
  const out: Source = {};
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

let cached: Promise<Config> | undefined;

/** The process's configuration, parsed once (environment, overlaid by SST resources in Lambda). */
export function loadConfig(env: Source = process.env): Promise<Config> {
  cached ??= sstSource(env).then((sst) => parseConfig({ ...env, ...sst }));
  return cached;
}
