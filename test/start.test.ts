import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { effectiveDataDir, freePort, startPostgres, startStack } from "@hitl/devstack";
import { withPg } from "./support/backup.js";

// `npm start` as a user meets it: failures end in one line with what to do, and leave nothing running.
const tsx = path.resolve("node_modules/.bin/tsx");
function start(env: Record<string, string>, until?: RegExp) {
  const child = spawn(tsx, ["scripts/start.ts"], { env: { ...process.env, SCHEDULES: "off", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (c) => {
    out += c;
  });
  child.stderr.on("data", (c) => {
    err += c;
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const ready = until
    ? new Promise<void>((resolve, reject) => {
        const check = setInterval(() => {
          if (until.test(out)) {
            clearInterval(check);
            resolve();
          }
        }, 50);
        void exited.then(() => {
          clearInterval(check);
          reject(new Error(`exited: ${out}${err}`));
        });
      })
    : Promise.resolve();
  return { child, exited, ready, output: () => ({ out, err }) };
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const tempDataDir = () => path.join(mkdtempSync(path.join(os.tmpdir(), "hitl-start-")), "data");

describe("npm start", () => {
  it("a throwaway stack (the suite's kind) leaves nothing in the temp dir once stopped", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hitl-throwaway-"));
    const stack = await startStack({ dataDir: dir, persistent: false });
    const cluster = stack.postgresDataDir;
    expect(existsSync(cluster)).toBe(true);
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
    expect([existsSync(dir), existsSync(cluster)]).toEqual([false, false]);
  }, 60_000);

  it("a port in use ends in one line naming PORT, before anything starts", async () => {
    const dataDir = tempDataDir();
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", r));
    try {
      const run = start({ DATA_DIR: dataDir, PORT: String(port) });
      expect(await run.exited).toBe(1);
      const { err } = run.output();
      expect(err.trim().split("\n")).toHaveLength(1);
      expect(err).toMatch(new RegExp(`port ${port} is in use.*PORT=`));
      expect(existsSync(path.join(dataDir, "postgres"))).toBe(false);
    } finally {
      blocker.close();
      rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });

  it("a missing redis-server ends in one line naming REDIS_SERVER_BIN and apt-get, before anything starts", async () => {
    const dataDir = tempDataDir();
    try {
      const run = start({ DATA_DIR: dataDir, PORT: String(await freePort()), REDIS_SERVER_BIN: "/nonexistent/redis-server" });
      expect(await run.exited).toBe(1);
      const { err } = run.output();
      expect(err.trim().split("\n")).toHaveLength(1);
      expect(err).toMatch(/REDIS_SERVER_BIN.*apt-get install redis-server/);
      expect(existsSync(path.join(dataDir, "postgres"))).toBe(false);
    } finally {
      rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });

  it("a server that dies is reported, and the whole stack stops (no orphans, no stack.json)", async () => {
    const dataDir = tempDataDir();
    const run = start({ DATA_DIR: dataDir, PORT: String(await freePort()) }, /Ctrl-C stops everything/);
    try {
      await run.ready;
      const stack = JSON.parse(readFileSync(path.join(dataDir, "stack.json"), "utf8")) as { pids: { postgres: number; redis: number } };
      process.kill(stack.pids.redis, "SIGKILL");
      expect(await run.exited).toBe(1);
      expect(run.output().err).toMatch(new RegExp(`redis-server \\(pid ${stack.pids.redis}\\) exited unexpectedly`));
      expect(alive(stack.pids.postgres)).toBe(false);
      expect(existsSync(path.join(dataDir, "stack.json"))).toBe(false);
    } finally {
      run.child.kill("SIGKILL");
      const cluster = effectiveDataDir(path.join(dataDir, "postgres"));
      rmSync(cluster, { recursive: true, force: true });
      rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  }, 60_000);

  it("Ctrl-C stops everything (no processes, no stack.json); a restart keeps the data; reset removes it all", async () => {
    const dataDir = tempDataDir();
    const port = String(await freePort());
    try {
      const first = start({ DATA_DIR: dataDir, PORT: port }, /Ctrl-C stops everything/);
      await first.ready;
      const stack = JSON.parse(readFileSync(path.join(dataDir, "stack.json"), "utf8")) as {
        pids: { postgres: number; redis: number };
        databaseUrl: string;
      };
      await withPg(stack.databaseUrl, (c) => c.query("CREATE TABLE kept_across_restarts (id int)"));
      first.child.kill("SIGINT");
      expect(await first.exited).toBe(0);
      expect(first.output().out).toMatch(/SIGINT: stopping[\s\S]*stopped/);
      expect([alive(stack.pids.postgres), alive(stack.pids.redis)]).toEqual([false, false]);
      expect(existsSync(path.join(dataDir, "stack.json"))).toBe(false);
      const second = start({ DATA_DIR: dataDir, PORT: port }, /Ctrl-C stops everything/);
      await second.ready;
      expect(second.output().out).toMatch(/0 migrations applied, \d+ already there/);
      const again = JSON.parse(readFileSync(path.join(dataDir, "stack.json"), "utf8")) as { databaseUrl: string };
      expect(
        await withPg(again.databaseUrl, async (c) => (await c.query("SELECT to_regclass('kept_across_restarts') AS t")).rows[0].t),
      ).toBe("kept_across_restarts");
      second.child.kill("SIGINT");
      expect(await second.exited).toBe(0);
      const cluster = effectiveDataDir(path.join(dataDir, "postgres"));
      const reset = spawn(tsx, ["scripts/reset.ts", "--yes"], { env: { ...process.env, DATA_DIR: dataDir }, stdio: "ignore" });
      expect(await new Promise((r) => reset.once("exit", r))).toBe(0);
      expect([existsSync(dataDir), existsSync(cluster)]).toEqual([false, false]);
    } finally {
      rmSync(effectiveDataDir(path.join(dataDir, "postgres")), { recursive: true, force: true });
      rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  }, 90_000);

  it("removing DATA_DIR resets Postgres too, even when the cluster must live elsewhere (root, unreachable dir)", async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), "hitl-reset-"));
    // Mode 700, as /root is: as root, the postgres user cannot reach it, so the cluster lives elsewhere.
    const locked = path.join(parent, "locked");
    await mkdir(locked, { mode: 0o700 });
    await chmod(locked, 0o700);
    const pgDir = path.join(locked, "data", "postgres");
    const cluster = effectiveDataDir(pgDir);
    try {
      const port = await freePort();
      let pg = await startPostgres({ dataDir: pgDir, port, fast: true });
      await withPg(pg.url(), (c) => c.query("CREATE TABLE before_reset (id int)"));
      await pg.stop();
      rmSync(path.join(locked, "data"), { recursive: true, force: true });
      pg = await startPostgres({ dataDir: pgDir, port, fast: true });
      try {
        const tables = await withPg(
          pg.url(),
          async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'before_reset'")).rows[0].n as number,
        );
        expect(tables).toBe(0);
        if (cluster !== path.resolve(pgDir)) expect(readFileSync(path.join(pgDir, "cluster-location"), "utf8").trim()).toBe(cluster);
      } finally {
        await pg.stop();
      }
    } finally {
      rmSync(cluster, { recursive: true, force: true });
      rmSync(parent, { recursive: true, force: true });
    }
  }, 60_000);
});
