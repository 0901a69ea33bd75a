import type { ApiKeyEntry } from "./schema.js";

export interface Config {
  mode: "local" | "cloud";
  databaseUrl: string;
  localNeonProxyUrl?: string;
  redis: { url: string; token: string; prefix: string; retries: number };
  apiKeys: ApiKeyEntry[];
  /** HMAC key of user ids in the erasure log and archive index (a fixed key in local mode). */
  erasureHashKey: string;
  s3: {
    bucket: string;
    region: string;
    endpoint?: string;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  breaker: { failureThreshold: number; cooldownMs: number };
  postgres: { connectAttempts: number; backoffBaseMs: number };
  maxBodyBytes: number;
  /** Per-key rate limit; absent = off. */
  rateLimit?: { requests: number; windowSeconds: number };
}
