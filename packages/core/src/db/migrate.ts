import { ensureWebSocket } from "./neon-local.js";
import { Pool } from "@neondatabase/serverless";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Serialises concurrent runners (two deploys, a deploy and a test) across the whole database. */
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
  return Promise.all(files.map(async (f) => {
    const [, version, name] = FILE_PATTERN.exec(f)!;
    const sql = await readFile(path.join(dir, f), "utf8");
    return { version: version!, name: name!, sql, checksum: createHash("sha256").update(sql).digest("hex") };
  }));
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

/**
 * Applies pending migrations in order, each in its own transaction, under a session advisory lock;
 * verifies the checksum of every migration applied before. Uses the driver's WebSocket Pool: the
 * lock and per-migration transactions need one interactive session.
 */
export async function migrate(databaseUrl: string, opts: { dir?: string; log?: (line: string) => void } = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(opts.dir);
  // A connection deadline; statements are left without one (a migration may rewrite a big table).
  ensureWebSocket();
  const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 10_000 });
  const client = await pool.connect();
  const result: MigrateResult = { applied: [], skipped: [] };
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer NOT NULL)`);
    const { rows } = await client.query<{ version: string; checksum: string }>("SELECT version, checksum FROM schema_migrations");
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const m of migrations) {
      const prior = done.get(m.version);
      if (prior !== undefined) {
        if (prior !== m.checksum) throw new MigrationChecksumError(m.version);
        result.skipped.push(m.version);
        continue;
      }
      const start = Date.now();
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
          [m.version, m.name, m.checksum, Date.now() - start]);
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK").catch(() => {});
        throw e;
      }
      opts.log?.(`applied ${m.version}_${m.name} in ${Date.now() - start} ms`);
      result.applied.push(m.version);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    client.release();
    await pool.end();
  }
}
