import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { freePort, startPostgres } from "@hitl/devstack";

async function selectOne(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query("SELECT 1 AS one")).rows[0].one;
  } finally {
    await c.end();
  }
}

describe("embedded Postgres", () => {
  it("keeps its data across restarts and recovers from a crash that left postmaster.pid behind", async () => {
    const dataDir = path.join(await mkdtemp(path.join(os.tmpdir(), "hitl-pgcrash-")), "pg");
    const port = await freePort();
    const first = await startPostgres({ dataDir, port });
    const c = new pg.Client({ connectionString: first.url() });
    await c.connect();
    await c.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')");
    await c.end();
    // Simulate a crash: kill the postmaster with SIGKILL, leaving its pid file behind.
    const pidFile = path.join(first.dataDir, "postmaster.pid");
    const pid = Number((await readFile(pidFile, "utf8")).split("\n")[0]);
    process.kill(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    await expect(readFile(pidFile, "utf8")).resolves.toContain(String(pid));

    const second = await startPostgres({ dataDir, port });
    try {
      expect(await selectOne(second.url())).toBe(1);
      const c2 = new pg.Client({ connectionString: second.url() });
      await c2.connect();
      expect((await c2.query("SELECT v FROM kept")).rows).toEqual([{ v: "survives" }]);
      await c2.end();
    } finally {
      await second.stop();
      await first.stop();
      await rm(second.dataDir, { recursive: true, force: true });
      await rm(path.dirname(dataDir), { recursive: true, force: true });
    }
  });
});
