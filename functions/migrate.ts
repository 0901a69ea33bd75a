import { createLogger } from "@hitl/core";
import { loadConfig } from "./lib/config.js";
import { findMigrationsDir, migrate, useLocalNeonProxy } from "@hitl/core/postgres";

/** Invoked by every deploy (see infra/api.ts): applies pending migrations under the advisory lock. */
export async function handler(): Promise<{ applied: string[]; skipped: string[] }> {
  const config = await loadConfig();
  if (config.localNeonProxyUrl) useLocalNeonProxy(config.localNeonProxyUrl);
  const log = createLogger(config.logLevel);
  const result = await migrate(config.databaseUrl, { dir: findMigrationsDir(), log: (line) => log.info(line) });
  log.info("migrations done", { applied: result.applied.length, skipped: result.skipped.length });
  return result;
}
