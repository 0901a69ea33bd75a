import { mkdtemp, readFile, writeFile, cp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MIGRATIONS_DIR, migrate, MigrationChecksumError, readMigrations, useLocalNeonProxy } from "@hitl/core/postgres";
import { createTestDatabase, stack } from "./support/stack.js";

beforeAll(() => useLocalNeonProxy(stack().neonProxyUrl));

async function freshDatabase(): Promise<string> {
  const name = `m_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: stack().adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return stack().databaseUrl.replace(/\/[^/]+$/, `/${name}`);
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe("migrations", () => {
  it("apply once, then are skipped on a second run (idempotent)", async () => {
    const url = await freshDatabase();
    const first = await migrate(url);
    const all = (await readMigrations()).map((m) => m.version);
    expect(first.applied).toEqual(all);
    const second = await migrate(url);
    expect(second).toEqual({ applied: [], skipped: all });
    const rows = await withClient(url, (c) => c.query("SELECT version, checksum FROM schema_migrations ORDER BY version"));
    expect(rows.rows.map((r) => r.version)).toEqual(all);
  });

  it("refuse to run when an applied migration was edited (checksum verified)", async () => {
    const url = await freshDatabase();
    const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-mig-"));
    try {
      await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
      await migrate(url, { dir });
      const file = path.join(dir, "0002_edit_taxonomy.sql");
      await writeFile(file, (await readFile(file, "utf8")) + "\n-- edited\n");
      await expect(migrate(url, { dir })).rejects.toBeInstanceOf(MigrationChecksumError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("roll back a failing migration whole and record nothing for it", async () => {
    const url = await freshDatabase();
    const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-mig-"));
    try {
      await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
      await writeFile(path.join(dir, "9999_broken.sql"), "CREATE TABLE half_done (id int);\nSELECT * FROM missing_table;\n");
      await expect(migrate(url, { dir })).rejects.toMatchObject({ code: "42P01" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const state = await withClient(url, async (c) => ({
      table: (await c.query("SELECT to_regclass('half_done') AS t")).rows[0].t,
      versions: (await c.query("SELECT version FROM schema_migrations")).rows.map((r) => r.version),
    }));
    expect(state.table).toBeNull();
    expect(state.versions).not.toContain("9999");
  });

  it("serialise concurrent runners with the advisory lock", async () => {
    const url = await freshDatabase();
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    const applied = results.flatMap((r) => r.applied);
    expect(applied.sort()).toEqual((await readMigrations()).map((m) => m.version));
  });

  it("create every table of the design, monthly interaction partitions and the 21 taxonomy codes", async () => {
    const url = await createTestDatabase();
    await withClient(url, async (c) => {
      const tables = (await c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).rows.map((r) => r.tablename);
      expect(tables).toEqual(
        expect.arrayContaining([
          "interactions",
          "user_current_status",
          "user_protocol_status",
          "protocol_audit_log",
          "quarantine_messages",
          "message_processing_cursors",
          "recovery_operations",
          "edit_taxonomy",
          "user_memory",
          "erasures",
          "schema_migrations",
        ]),
      );
      const kind = (await c.query("SELECT relkind FROM pg_class WHERE relname = 'interactions'")).rows[0].relkind;
      expect(kind).toBe("p");
      const parts = (await c.query("SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'interactions'::regclass")).rows[0].n;
      expect(parts).toBeGreaterThanOrEqual(4);
      const codes = (await c.query("SELECT count(*)::int AS n FROM edit_taxonomy")).rows[0].n;
      expect(codes).toBe(21);
      const moreCasual = (await c.query("SELECT 1 FROM edit_taxonomy WHERE code = 'MORE_CASUAL'")).rowCount;
      expect(moreCasual).toBe(0);
    });
  });

  it("create month partitions from the current month on, 3 months ahead (no empty past months, no year of empty future ones to plan)", async () => {
    await withClient(await createTestDatabase(), async (c) => {
      const parts = (
        await c.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'interactions' ORDER BY 1`)
      ).rows.map((r) => r.relname as string);
      const month = new Date().toISOString().slice(0, 7).replace("-", "_");
      expect(parts[0]).toBe(`interactions_${month}`);
      // This month and the next 3, as the archive job keeps them (one more if the month turned meanwhile).
      expect(parts.length).toBeGreaterThanOrEqual(4);
      expect(parts.length).toBeLessThanOrEqual(5);
    });
  });

  it("route a row to the partition of its month", async () => {
    await withClient(await createTestDatabase(), async (c) => {
      await c.query("BEGIN");
      // Partitions start at the current month (0014); an older month is created on demand.
      await c.query("SELECT hitl_ensure_interaction_partitions(date '2026-01-01', 1)");
      const r = await c.query(`INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at)
        VALUES ('u1', 'u1_20260115', 'hi', now(), '2026-01-15T12:00:00Z') RETURNING tableoid::regclass::text AS part`);
      await c.query("ROLLBACK");
      expect(r.rows[0].part).toBe("interactions_2026_01");
    });
  });
});
