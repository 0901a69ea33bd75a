import { z } from "zod";
import { LOCAL_ERASURE_KEY } from "../gdpr/hash.js";

/** `viewer` is read-only (reviews, interactions, dashboard, status and stats; never quarantined text). */
export const SCOPES = ["bot", "agent", "reviewer", "viewer", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export const ApiKeyEntry = z.object({
  id: z.string().min(1).max(64),
  scopes: z.array(z.enum(SCOPES)).min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be the hex sha-256 of the key"),
});
export type ApiKeyEntry = z.infer<typeof ApiKeyEntry>;

const jsonOf = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "is not valid JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const TLS_MODES = ["require", "verify-ca", "verify-full"];

/**
 * Every setting of the service, written once: its environment variable, type, default and meaning
 * here, and where it lands in the typed Config in the transform below (Config is this schema's
 * output). Parsed once at cold start; in Lambda, functions/lib/config.ts maps the SST links and
 * secrets onto the same names.
 */
export const ConfigSchema = z
  .object({
    /** `local` relaxes the transport rules for the loopback stack. @default "cloud" */
    HITL_MODE: z.enum(["local", "cloud"]).default("cloud"),
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/\S+$/, "must be a postgres:// URL"),
    /** Local only: the devstack's Neon proxy (WebSocket at /v1, HTTP queries at /sql). */
    LOCAL_NEON_PROXY_URL: z.url().optional(),
    UPSTASH_REDIS_REST_URL: z.url(),
    UPSTASH_REDIS_REST_TOKEN: z.string().min(1, "must not be empty"),
    /** Prefix of every Redis key. @default "hitl:" */
    REDIS_PREFIX: z.string().default("hitl:"),
    /** Upstash client network retries (WAL writes are idempotent Lua, so retries are safe). @default 2 */
    REDIS_RETRIES: int(2),
    API_KEYS: jsonOf(z.array(ApiKeyEntry).min(1, "needs at least one key")),
    /** Key of the user-id HMACs in the erasure log and archive index; required outside local mode. */
    ERASURE_HASH_KEY: z.string().min(32, "must be at least 32 characters").optional(),
    S3_BUCKET: z.string().min(3),
    /** The bucket's region; default: the function's own region (AWS_REGION, set by Lambda), else us-east-1. */
    S3_REGION: z.string().min(1).optional(),
    AWS_REGION: z.string().min(1).optional(),
    /** Local only: S3-compatible endpoint (path-style). */
    S3_ENDPOINT: z.url().optional(),
    /** The export function (Lambda): POST /v1/exports invokes it asynchronously. Unset locally (exports run in-process). */
    EXPORT_FUNCTION_NAME: z.string().min(1).max(170).optional(),
    AWS_ACCESS_KEY_ID: z.string().optional(),
    AWS_SECRET_ACCESS_KEY: z.string().optional(),
    AWS_SESSION_TOKEN: z.string().optional(),
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    /**
     * Deadline of each Upstash REST call, retries included. Upstash answers in a few ms in-region
     * (tens across regions); 1 s is far above any healthy answer, and a hung Redis then costs each of
     * the first few requests at most 1 s before its breaker opens. 0 = no deadline. @default 1000
     */
    REDIS_TIMEOUT_MS: int(1000),
    /**
     * Deadline of each Postgres query or transaction (HTTP), connection retries included. A Neon
     * compute that scaled to zero takes a few hundred ms to wake, more under load; our statements
     * take milliseconds. 5 s covers a slow wake with room to spare. 0 = no deadline. @default 5000
     */
    PG_TIMEOUT_MS: int(5000),
    /** WebSocket pool (bulk jobs): connection set-up deadline. @default 5000 */
    PG_CONNECT_TIMEOUT_MS: int(5000),
    /** WebSocket pool (bulk jobs): server-side statement_timeout of each COPY or page query. @default 300000 */
    PG_BULK_STATEMENT_TIMEOUT_MS: int(300_000),
    /** Deadline of each S3 request (an 8 MB part at Lambda's bandwidth takes well under 1 s). @default 10000 */
    S3_TIMEOUT_MS: int(10_000),
    /** Time kept free before the Lambda's own timeout: no store call runs into it. @default 1000 */
    LAMBDA_MARGIN_MS: int(1000),
    /** Consecutive Redis failures that open the breaker. @default 3 */
    BREAKER_FAILURE_THRESHOLD: int(3, 1),
    /** Open-state cooldown before one half-open probe. @default 60000 */
    BREAKER_COOLDOWN_MS: int(60_000),
    /** Consecutive Postgres failures (timeouts, unreachable, 5xx) that open its breaker. @default 3 */
    PG_BREAKER_FAILURE_THRESHOLD: int(3, 1),
    /** Postgres breaker open-state cooldown before one half-open probe. @default 60000 */
    PG_BREAKER_COOLDOWN_MS: int(60_000),
    /** Postgres connection attempts and the base of the 2^n backoff. @default 3, 1000 */
    PG_CONNECT_ATTEMPTS: int(3, 1),
    PG_BACKOFF_BASE_MS: int(1000),
    /** Per-key rate limit: requests per window (0 = off). @default 0 */
    RATE_LIMIT_REQUESTS: int(0),
    /** Rate limit window. @default 60 */
    RATE_LIMIT_WINDOW_SECONDS: int(60, 1),
    /**
     * Longest time an instance uses its copy of the API keys stored in Postgres without reloading it:
     * the bound within which a revoked key stops working, and a new one starts, everywhere. After
     * half of it a request starts a reload in the background. @default 30000
     */
    API_KEY_MAX_AGE_MS: int(30_000, 100),
    /** Body size limit. @default 1048576 */
    MAX_BODY_BYTES: int(1024 * 1024, 1024),
    /** Backlog thresholds (status page warnings; alarms take them at deploy time). @default 100, 150, 50 (the reference's) */
    BACKLOG_WAL_THRESHOLD: int(100),
    BACKLOG_REVIEW_THRESHOLD: int(150),
    BACKLOG_OUTBOX_THRESHOLD: int(50),
  })
  .superRefine((c, ctx) => {
    if (c.HITL_MODE !== "local" && !c.ERASURE_HASH_KEY) {
      ctx.addIssue({
        code: "custom",
        path: ["ERASURE_HASH_KEY"],
        message: "is required outside local mode (at least 32 random characters; keep it: restores need it)",
      });
    }
    if (c.HITL_MODE === "local") {
      if (!c.LOCAL_NEON_PROXY_URL)
        ctx.addIssue({ code: "custom", path: ["LOCAL_NEON_PROXY_URL"], message: "is required when HITL_MODE=local" });
      return;
    }
    if (!c.UPSTASH_REDIS_REST_URL.startsWith("https://")) {
      ctx.addIssue({ code: "custom", path: ["UPSTASH_REDIS_REST_URL"], message: "must be https:// outside local mode" });
    }
    const sslmode = new URL(c.DATABASE_URL.replace(/^postgres(ql)?:/, "http:")).searchParams.get("sslmode");
    if (!sslmode || !TLS_MODES.includes(sslmode)) {
      ctx.addIssue({ code: "custom", path: ["DATABASE_URL"], message: "must use TLS (sslmode=require or stronger) outside local mode" });
    }
    if (c.LOCAL_NEON_PROXY_URL)
      ctx.addIssue({ code: "custom", path: ["LOCAL_NEON_PROXY_URL"], message: "is only allowed when HITL_MODE=local" });
  })
  .transform((c) => ({
    mode: c.HITL_MODE,
    databaseUrl: c.DATABASE_URL,
    localNeonProxyUrl: c.LOCAL_NEON_PROXY_URL,
    redis: {
      url: c.UPSTASH_REDIS_REST_URL,
      token: c.UPSTASH_REDIS_REST_TOKEN,
      prefix: c.REDIS_PREFIX,
      retries: c.REDIS_RETRIES,
      timeoutMs: c.REDIS_TIMEOUT_MS,
    },
    /** Bootstrap keys (the ApiKeys secret); keys created at runtime live in Postgres. */
    apiKeys: c.API_KEYS,
    /** Longest use of an instance's copy of the stored keys (the revocation bound). */
    apiKeyMaxAgeMs: c.API_KEY_MAX_AGE_MS,
    /** HMAC key of user ids in the erasure log and archive index (a fixed key in local mode). */
    erasureHashKey: c.ERASURE_HASH_KEY ?? LOCAL_ERASURE_KEY,
    s3: {
      bucket: c.S3_BUCKET,
      region: c.S3_REGION ?? c.AWS_REGION ?? "us-east-1",
      endpoint: c.S3_ENDPOINT,
      timeoutMs: c.S3_TIMEOUT_MS,
      credentials:
        c.AWS_ACCESS_KEY_ID && c.AWS_SECRET_ACCESS_KEY
          ? { accessKeyId: c.AWS_ACCESS_KEY_ID, secretAccessKey: c.AWS_SECRET_ACCESS_KEY, sessionToken: c.AWS_SESSION_TOKEN }
          : undefined,
    },
    logLevel: c.LOG_LEVEL,
    breaker: { failureThreshold: c.BREAKER_FAILURE_THRESHOLD, cooldownMs: c.BREAKER_COOLDOWN_MS },
    postgres: {
      connectAttempts: c.PG_CONNECT_ATTEMPTS,
      backoffBaseMs: c.PG_BACKOFF_BASE_MS,
      timeoutMs: c.PG_TIMEOUT_MS,
      connectTimeoutMs: c.PG_CONNECT_TIMEOUT_MS,
      bulkStatementTimeoutMs: c.PG_BULK_STATEMENT_TIMEOUT_MS,
      breaker: { failureThreshold: c.PG_BREAKER_FAILURE_THRESHOLD, cooldownMs: c.PG_BREAKER_COOLDOWN_MS },
    },
    lambdaMarginMs: c.LAMBDA_MARGIN_MS,
    maxBodyBytes: c.MAX_BODY_BYTES,
    /** Depths over which a queue's backlog warns (monitoring/backlog.ts). */
    backlog: { wal: c.BACKLOG_WAL_THRESHOLD, review_queue: c.BACKLOG_REVIEW_THRESHOLD, outbox_unsent: c.BACKLOG_OUTBOX_THRESHOLD },
    /** The export function's name (Lambda); absent = exports run in-process (`npm start`) or by the CLI. */
    exportFunctionName: c.EXPORT_FUNCTION_NAME,
    /** Per-key rate limit; absent = off. */
    rateLimit: c.RATE_LIMIT_REQUESTS > 0 ? { requests: c.RATE_LIMIT_REQUESTS, windowSeconds: c.RATE_LIMIT_WINDOW_SECONDS } : undefined,
  }));

/** The typed configuration: the schema's output. */
export type Config = z.output<typeof ConfigSchema>;
