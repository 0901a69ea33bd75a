/**
 * Postgres over the Neon driver's WebSocket Pool: migrations, interactive transactions, and the
 * devstack's proxy settings. Jobs, scripts and tests use it; the API does not (it reaches Postgres
 * through NeonDb's HTTP queries, whose driver loads on first use), so none of it is in the main
 * entry, whose every import the API bundle would load at cold start.
 */
export { PoolDb } from "./db/pool-db.js";
export { useLocalNeonProxy, ensureWebSocket } from "./db/neon-local.js";
export {
  migrate,
  readMigrations,
  MigrationChecksumError,
  DEFAULT_MIGRATIONS_DIR,
  findMigrationsDir,
  type Migration,
} from "./db/migrate.js";
