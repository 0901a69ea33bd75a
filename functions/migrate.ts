import { createLogger } from "@hitl/core";
import { loadConfig } from "./lib/config.js";
import { findMigrationsDir, migrate, PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import { backupAges, publishBackupAges } from "@hitl/core/backup";
import { Registry } from "prom-client";
import { emfPublisher } from "./lib/emf.js";

/**
 * Invoked by every deploy (infra/api.ts, with `{ deployedAt }`): applies pending migrations, each in
 * its own transaction under a transaction-scoped advisory lock. Then publishes the backup ages,
 * so a fresh deploy's backup alarms see data before they first evaluate (infra/alarms.ts).
 */
export async function handler(): Promise<{ applied: string[]; skipped: string[] }> {
  const config = await loadConfig();
  if (config.localNeonProxyUrl) useLocalNeonProxy(config.localNeonProxyUrl);
  const log = createLogger(config.logLevel);
  const result = await migrate(config.databaseUrl, { dir: findMigrationsDir(), log: (line) => log.info(line) });
  log.info("migrations done", { applied: result.applied.length, skipped: result.skipped.length });
  const db = new PoolDb(config.databaseUrl, { connectTimeoutMs: config.postgres.connectTimeoutMs });
  try {
    const registry = new Registry();
    publishBackupAges(registry, await backupAges(db));
    await emfPublisher(registry).publish();
  } catch (e) {
    // The migrations are done: ages missing for one deploy are not worth failing it.
    log.warn("backup ages not published", { err: e instanceof Error ? e : new Error(String(e)) });
  } finally {
    await db.end().catch(() => {});
  }
  return result;
}
