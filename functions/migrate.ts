import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_MIGRATIONS_DIR, createLogger, loadConfig, migrate, useLocalNeonProxy } from "@hitl/core";

/** In the bundle the SQL files sit beside the handler (sst `copyFiles`); from source, in core. */
function migrationsDir(): string {
  const bundled = path.join(path.dirname(fileURLToPath(import.meta.url)), "migrations");
  return existsSync(bundled) ? bundled : DEFAULT_MIGRATIONS_DIR;
}

/** Invoked by every deploy (see infra/api.ts): applies pending migrations under the advisory lock. */
export async function handler(): Promise<{ applied: string[]; skipped: string[] }> {
  const config = await loadConfig();
  if (config.localNeonProxyUrl) useLocalNeonProxy(config.localNeonProxyUrl);
  const log = createLogger(config.logLevel);
  const result = await migrate(config.databaseUrl, { dir: migrationsDir(), log: (line) => log.info(line) });
  log.info("migrations done", { applied: result.applied.length, skipped: result.skipped.length });
  return result;
}
