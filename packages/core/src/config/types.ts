import type { ApiKeyEntry } from "./schema.js";

export interface Config {
  mode: "local" | "cloud";
  databaseUrl: string;
  localNeonProxyUrl?: string;
  redis: { url: string; token: string; prefix: string; retries: number };
  apiKeys: ApiKeyEntry[];
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
