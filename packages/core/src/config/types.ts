import type { ApiKeyEntry } from "./schema.js";

export interface Config {
  mode: "local" | "cloud";
  databaseUrl: string;
  localNeonProxyUrl?: string;
  redis: { url: string; token: string; prefix: string; retries: number; timeoutMs: number };
  /** Bootstrap keys (the ApiKeys secret); keys created at runtime live in Postgres. */
  apiKeys: ApiKeyEntry[];
  /** Longest use of an instance's copy of the stored keys (the revocation bound). */
  apiKeyMaxAgeMs: number;
  /** HMAC key of user ids in the erasure log and archive index (a fixed key in local mode). */
  erasureHashKey: string;
  s3: {
    bucket: string;
    region: string;
    endpoint?: string;
    /** Deadline of each S3 request. */
    timeoutMs: number;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  breaker: { failureThreshold: number; cooldownMs: number };
  postgres: {
    connectAttempts: number;
    backoffBaseMs: number;
    /** Deadline of each HTTP query or transaction, connection retries included. */
    timeoutMs: number;
    /** WebSocket pool: connection set-up deadline, and the bulk jobs' statement_timeout. */
    connectTimeoutMs: number;
    bulkStatementTimeoutMs: number;
    breaker: { failureThreshold: number; cooldownMs: number };
  };
  /** Kept free before the Lambda's timeout. */
  lambdaMarginMs: number;
  maxBodyBytes: number;
  /** Depths over which a queue's backlog warns (monitoring/backlog.ts). */
  backlog: { wal: number; review_queue: number; outbox_unsent: number };
  /** Per-key rate limit; absent = off. */
  rateLimit?: { requests: number; windowSeconds: number };
}
