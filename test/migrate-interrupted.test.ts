import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";

// A migration run in a child process: on a loaded 2-core machine they take longer than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });
import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";
import { stack } from "./support/stack.js";
import { createEmptyDatabase, withPg } from "./support/backup.js";

beforeAll(() => useLocalNeonProxy(stack().neonProxyUrl));

describe("a migration interrupted halfway", () => {
  it("cannot block the next deploy's migrations: its runner frozen inside a migration, the next run still applies it", async () => {
    const url = await createEmptyDatabase();
    const dir = await mkdtemp(path.join(os.tmpdir(), "migrations-"));
    // One process (node with tsx as its loader, not the tsx CLI, which would run it in a child of its own).
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/migrate-child.ts"], {
      env: { ...process.env, DATABASE_URL: url, MIGRATIONS_DIR: dir, NEON_PROXY_URL: stack().neonProxyUrl, IDLE_TIMEOUT_MS: "1500" },
      stdio: "ignore",
    });
    try {
      await writeFile(path.join(dir, "0001_a.sql"), "CREATE TABLE a (x int);");
      await writeFile(path.join(dir, "0002_slow.sql"), "SELECT pg_sleep(1); CREATE TABLE b (x int);");
      // Wait until the runner is inside the second migration, holding the lock, then freeze it
      // (a Lambda that timed out mid-migration: its connection stays open, it never sends again).
      const db = new URL(url).pathname.slice(1);
      for (let i = 0; ; i++) {
        const busy = await withPg(
          stack().adminUrl,
          async (c) =>
            (
              await c.query(
                "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND a.datname = $1 AND a.query LIKE '%pg_sleep%'",
                [db],
              )
            ).rows[0].n,
        );
        if (busy) break;
        if (i > 600) throw new Error("the runner never reached the second migration");
        await new Promise((r) => setTimeout(r, 25));
      }
      child.kill("SIGSTOP");
      const started = Date.now();
      const result = await migrate(url, { dir });
      expect(result).toEqual({ applied: ["0002"], skipped: ["0001"] });
      expect(Date.now() - started).toBeLessThan(20_000);
      // Applied once: the frozen runner's half was rolled back.
      expect(
        await withPg(url, async (c) => (await c.query("SELECT version FROM schema_migrations ORDER BY 1")).rows.map((r) => r.version)),
      ).toEqual(["0001", "0002"]);
    } finally {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
});
