import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createLogger, createServices, generateKey, parseConfig, type Config, type Scope, type ServiceAdapters } from "@hitl/core";
import { createApp } from "../../functions/api/app.js";
import { stackSettings } from "@hitl/devstack";

export const stack = () => inject("stack");

/** A fresh database cloned from the migrated template (~30 ms). */
export async function createTestDatabase(): Promise<string> {
  const s = stack();
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: s.adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE ${name} TEMPLATE ${s.templateDb}`);
        break;
      } catch (e) {
        // 55006: the template is briefly in use (e.g. another worker's clone); try again.
        if ((e as { code?: string }).code !== "55006" || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    }
  } finally {
    await admin.end();
  }
  return s.databaseUrl.replace(/\/[^/]+$/, `/${name}`);
}

export type TestKeys = Record<Scope | "none", string>;

/** One key per scope, plus one whose only scope is of no use to the route under test. */
export function testKeys() {
  const scopes: Scope[] = ["bot", "agent", "reviewer", "viewer", "admin"];
  const made = scopes.map((s) => ({ scope: s, ...generateKey(`${s}-key`, [s]) }));
  const keys = Object.fromEntries(made.map((m) => [m.scope, m.key])) as Record<Scope, string>;
  return { keys, entries: made.map((m) => m.entry) };
}

/** Environment-style settings for the private stack, as `npm start` would set them. */
export function testEnv(databaseUrl: string, apiKeysJson: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...stackSettings(stack()),
    DATABASE_URL: databaseUrl,
    REDIS_PREFIX: `t${randomBytes(4).toString("hex")}:`,
    API_KEYS: apiKeysJson,
    LOG_LEVEL: "silent",
    PG_BACKOFF_BASE_MS: "50",
    // The stored-key copy is not reloaded in the middle of a round-trip count (test/access.test.ts
    // sets its own bound to test reloads).
    API_KEY_MAX_AGE_MS: "3600000",
    ...extra,
  };
}

export interface TestContext {
  config: Config;
  services: ServiceAdapters;
  app: ReturnType<typeof createApp>;
  keys: Record<Scope, string>;
  databaseUrl: string;
  /** app.request with a key and a JSON body. */
  call(method: string, path: string, opts?: { key?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
}

/** A database of its own, a Redis prefix of its own, services and the app, against the private stack. */
export async function createTestContext(extra: Record<string, string> = {}, logLines?: string[]): Promise<TestContext> {
  const databaseUrl = await createTestDatabase();
  const { keys, entries } = testKeys();
  const config = parseConfig(testEnv(databaseUrl, JSON.stringify(entries), extra));
  const log = logLines ? createLogger("debug", {}, (l) => logLines.push(l)) : undefined;
  const services = createServices(config, { log });
  const app = createApp(async () => services);
  const call: TestContext["call"] = (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    return Promise.resolve(app.request(path, { method, headers, body }));
  };
  return { config, services, app, keys, databaseUrl, call };
}
