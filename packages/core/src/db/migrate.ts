import { ensureWebSocket } from "./neon-local.js";
import { Pool } from "@neondatabase/serverless";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Serialises concurrent runners (two deploys, a deploy and a test) across the whole database (transaction-scoped). */
const MIGRATION_LOCK_KEY = 727_274_001;
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationChecksumError extends Error {
  override name = "MigrationChecksumError";
  constructor(readonly version: string) {
    super(`migration ${version} was changed after it was applied (checksum mismatch); add a new migration instead`);
  }
}

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

/** In a bundle the SQL files sit beside it (copied by the build / sst `copyFiles`); from source, in core. */
export function findMigrationsDir(): string {
  const bundled = fileURLToPath(new URL("./migrations", import.meta.url));
  return existsSync(bundled) ? bundled : DEFAULT_MIGRATIONS_DIR;
}

export async function readMigrations(dir = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => FILE_PATTERN.test(f)).sort();
  return Promise.all(
    files.map(async (f) => {
      const [, version, name] = FILE_PATTERN.exec(f)!;
      const sql = await readFile(path.join(dir, f), "utf8");
      return { version: version!, name: name!, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

/**
 * How long a migration's transaction may sit idle (its runner frozen or gone: a Lambda timed out
 * mid-migration, a killed process whose socket stays open) before Postgres ends it, freeing the lock.
 */
export const MIGRATION_IDLE_TIMEOUT_MS = 60_000;

/**
 * Applies pending migrations in order, each in its own transaction that first takes a
 * transaction-scoped advisory lock (pg_advisory_xact_lock) and re-reads whether another runner
 * applied it meanwhile; verifies the checksum of every migration applied before. The lock ends
 * with its transaction, on whichever server connection a transaction-mode pooler (Neon's) gave
 * it, so no unlock can go astray and leave it held; and a runner interrupted halfway leaves at
 * most an idle transaction, which Postgres ends after `idleTimeoutMs`: it cannot block the next
 * deploy. Uses the driver's WebSocket Pool (interactive transactions).
 */
export async function migrate(
  databaseUrl: string,
  opts: { dir?: string; log?: (line: string) => void; idleTimeoutMs?: number } = {},
): Promise<MigrateResult> {
  const migrations = await readMigrations(opts.dir);
  // A connection deadline; statements are left without one (a migration may rewrite a big table).
  ensureWebSocket();
  const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 10_000 });
  const client = await pool.connect();
  const result: MigrateResult = { applied: [], skipped: [] };
  /** One transaction under the lock; rolled back if `fn` throws. */
  const locked = async <T>(fn: () => Promise<T>): Promise<T> => {
    await client.query("BEGIN");
    try {
      await client.query("SELECT set_config('idle_in_transaction_session_timeout', $1, true)", [
        String(opts.idleTimeoutMs ?? MIGRATION_IDLE_TIMEOUT_MS),
      ]);
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
      const out = await fn();
      await client.query("COMMIT");
      return out;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    }
  };
  try {
    const done = await locked(async () => {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer NOT NULL)`);
      const { rows } = await client.query<{ version: string; checksum: string }>("SELECT version, checksum FROM schema_migrations");
      return new Map(rows.map((r) => [r.version, r.checksum]));
    });
    for (const m of migrations) {
      const prior = done.get(m.version);
      if (prior !== undefined && prior !== m.checksum) throw new MigrationChecksumError(m.version);
    }
    for (const m of migrations) {
      const start = Date.now();
      const applied = await locked(async () => {
        // Another runner may have applied it since the first read: its row decides, under the lock.
        const { rows } = await client.query<{ checksum: string }>("SELECT checksum FROM schema_migrations WHERE version = $1", [m.version]);
        if (rows[0]) {
          if (rows[0].checksum !== m.checksum) throw new MigrationChecksumError(m.version);
          return false;
        }
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)", [
          m.version,
          m.name,
          m.checksum,
          Date.now() - start,
        ]);
        return true;
      });
      if (!applied) {
        result.skipped.push(m.version);
        continue;
      }
      opts.log?.(`applied ${m.version}_${m.name} in ${Date.now() - start} ms`);
      result.applied.push(m.version);
    }
    return result;
  } finally {
    client.release();
    await pool.end();
  }
}
