import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { effectiveDataDir } from "@hitl/devstack";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("operations CLI", () => {
  it("starts a local stack when none runs, backs up, lists, verifies and runs a job with a scheduler event", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "hitl-cli-"));
    const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", HITL_MODE: "" };
    const cli = (...args: string[]) =>
      run(process.execPath, ["--import", "tsx", "scripts/backup-cli.ts", ...args], { env, timeout: 120_000 });
    try {
      const backup = await cli("backup", "postgres");
      expect(backup.stdout).toMatch(/^backup postgres (\S+): complete, verified, [\d.]+ (B|KiB|MiB) in [\d.]+ s$/m);
      const id = /^backup postgres (\S+):/m.exec(backup.stdout)![1]!;
      expect(backup.stderr).toContain("starting the local stack");
      // No AWS SDK notice in front of the command's own output.
      expect(backup.stderr).not.toContain("NodeVersionSupportWarning");
      const listed = await cli("backups");
      expect(listed.stdout).toMatch(new RegExp(`^postgres\\s+${id}\\s+[\\d.]+ (B|KiB|MiB)\\s+\\d+ (s|min)\\s+verified$`, "m"));
      const json = JSON.parse((await cli("backups", "--json")).stdout) as { id: string; kind: string; verified: boolean; bytes: number }[];
      expect(json.find((s) => s.id === id)).toMatchObject({ kind: "postgres", verified: true, bytes: expect.any(Number) });
      expect(JSON.parse((await cli("verify", id, "--json")).stdout)).toMatchObject({ id, kind: "postgres", ok: true, problems: [] });
      const verified = await cli("verify", id);
      expect(verified.stdout).toMatch(new RegExp(`^verify postgres ${id}: OK \\(\\d+ objects, 0 problems\\)`, "m"));
      const job = await cli("job", "archive");
      expect(job.stdout).toMatch(
        /^job archive: archive: nothing old enough to archive, 0 empty partitions dropped, 0 expired quarantine messages purged, \d+ partitions? created \(run 1\) in [\d.]+ s$/m,
      );
      // One summary line: the job's own progress does not repeat it.
      expect(`${job.stdout}${job.stderr}`.match(/partitions? created/g)).toHaveLength(1);
      expect(
        job.stdout
          .split("\n")
          .filter(Boolean)
          .every((l) => l.length < 300),
      ).toBe(true);
      expect((await cli("archive", "list")).stdout).toMatch(/^no partition archived yet/m);
      expect((await cli("archive", "convert")).stdout).toMatch(/^archive convert: no NDJSON archive left to convert in [\d.]+ s$/m);
      // npm run analytics on the same stack: nothing archived yet, said in one line (exit 1), its temp dir removed.
      const analytics = await run(process.execPath, ["--import", "tsx", "scripts/analytics.ts", "--query", "volume_by_day"], {
        env,
        timeout: 120_000,
      }).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(analytics).toMatchObject({ code: 1, stderr: expect.stringMatching(/^failed: no Parquet archive yet/m) });
      await expect(cli("job", "nope")).rejects.toMatchObject({ code: 2 });
    } finally {
      await rm(effectiveDataDir(path.join(dataDir, "postgres")), { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("npm run migrate", () => {
  const migrateCli = async (dataDir: string, ...args: string[]) => {
    const { execFile } = await import("node:child_process");
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "scripts/migrate.ts", ...args],
        { env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "" }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  };

  it("has --help (and runs nothing), refuses stray arguments, and says so when the stack.json left behind names a stopped stack", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-migrate-"));
    try {
      const help = await migrateCli(dir, "--help");
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^usage: npm run migrate/);
      expect((await migrateCli(dir, "now")).stderr).toMatch(/unexpected argument "now"/);
      const { writeFile } = await import("node:fs/promises");
      // A stack.json whose process is gone (pid 2^22 - 1 is never a live pid here).
      await writeFile(
        path.join(dir, "stack.json"),
        JSON.stringify({ pid: 4_194_303, databaseUrl: "postgres://x@127.0.0.1:1/x", neonProxyUrl: "http://127.0.0.1:1" }),
      );
      const stale = await migrateCli(dir);
      expect(stale.code).toBe(1);
      expect(stale.stderr).toMatch(/migrate failed: set DATABASE_URL, or start the local stack with `npm start` first \(none is running\)/);
      expect(stale.stderr).not.toContain("[object Object]");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("operations CLI usage", () => {
  it("says what is wrong, before starting anything, and has --help", async () => {
    const { execFile } = await import("node:child_process");
    const { readdir } = await import("node:fs/promises");
    const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-usage-"));
    const cli = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ["--import", "tsx", "scripts/backup-cli.ts", ...args],
          { env: { ...process.env, DATA_DIR: dir, DATABASE_URL: "" }, timeout: 60_000 },
          (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    try {
      const bad = await cli("backup", "mysql");
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^backup takes postgres or redis \(not "mysql"\)/);
      expect((await cli("job", "nope")).stderr).toMatch(/^job takes one of backup-postgres, backup-redis, archive \(not "nope"\)/);
      expect((await cli("verify")).stderr).toMatch(/^verify needs a set id/);
      const help = await cli("restore", "--help");
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^usage:/);
      expect((await cli("archive", "purge")).stderr).toMatch(/^archive takes run, list, read <partition>, or convert/);
      // keygen and reset have --help and name what is wrong too.
      const tool = (script: string, ...args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            ["--import", "tsx", `scripts/${script}.ts`, ...args],
            { env: { ...process.env, DATA_DIR: dir }, timeout: 60_000 },
            (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
      const keyHelp = await tool("keygen", "--help");
      expect([keyHelp.code, keyHelp.stdout]).toEqual([0, expect.stringMatching(/^usage: npm run keygen/)]);
      const noScope = await tool("keygen", "--id", "bot1", "--scopes", "root");
      expect([noScope.code, noScope.stderr]).toEqual([2, expect.stringMatching(/^unknown scope\(s\): root/)]);
      expect((await tool("keygen", "--idd", "x")).stderr).toMatch(/Unknown option '--idd'/);
      expect((await tool("reset", "--help")).stdout).toMatch(/^usage: npm run reset/);
      expect((await tool("status-link", "--help")).stdout).toMatch(/^usage: npm run status-link/);
      expect((await tool("status-link", "--url", "https://api.example")).stderr).toMatch(/ERASURE_HASH_KEY is not set/);
      const secret = "k".repeat(40);
      const link = await new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(
          process.execPath,
          ["--import", "tsx", "scripts/status-link.ts", "--url", "https://api.example"],
          { env: { ...process.env, DATA_DIR: dir, ERASURE_HASH_KEY: secret } },
          (err, stdout) => resolve({ code: err ? 1 : 0, stdout }),
        );
      });
      const url = new URL(link.stdout.split("\n")[0]!);
      expect([link.code, url.origin, url.pathname]).toEqual([0, "https://api.example", "/status"]);
      const { verifyStatusLink } = await import("@hitl/core");
      expect(verifyStatusLink(secret, url.searchParams.get("expires") ?? undefined, url.searchParams.get("sig") ?? undefined)).toBe(true);
      const unconfirmed = await tool("reset");
      expect([unconfirmed.code, unconfirmed.stderr]).toEqual([2, expect.stringMatching(/npm run reset -- --yes/)]);
      // Nothing was started: no cluster, no stack.json in DATA_DIR.
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

describe("CLI safety", () => {
  it("--help is safe on every runner, a wrong flag prints the usage, and a local status link needs no secret", async () => {
    const { execFile } = await import("node:child_process");
    const { readdir } = await import("node:fs/promises");
    const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-usage-"));
    try {
      const bench = (script: string, ...args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            ["--conditions=hitl-source", "--import", "tsx", script, ...args],
            { env: { ...process.env, DATA_DIR: dir }, timeout: 60_000 },
            (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
      // A wrong flag prints the usage, not the parser's raw error.
      const typo = await bench("scripts/backup-cli.ts", "backups", "--jsn");
      expect([typo.code, typo.stderr]).toEqual([2, expect.stringMatching(/^Unknown option '--jsn'\n\nusage:/)]);
      expect(await bench("bench/run.ts", "--help")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: npm run bench/) });
      expect(await bench("bench/load.ts", "--help")).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: npm run load/) });
      expect(await bench("bench/run.ts", "--fast")).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/^unknown option --fast\n\nusage:/),
      });
      expect(await bench("bench/load.ts", "now")).toMatchObject({ code: 2, stderr: expect.stringMatching(/takes no arguments/) });
      // Locally the link is signed with the local stack's fixed key: no secret to set.
      const localLink = await bench("scripts/status-link.ts", "--url", "http://127.0.0.1:8787");
      const localUrl = new URL(localLink.stdout.split("\n")[0]!);
      const { LOCAL_ERASURE_KEY, verifyStatusLink } = await import("@hitl/core");
      expect(
        verifyStatusLink(
          LOCAL_ERASURE_KEY,
          localUrl.searchParams.get("expires") ?? undefined,
          localUrl.searchParams.get("sig") ?? undefined,
        ),
      ).toBe(true);
      // Nothing was started: no cluster, no stack.json in DATA_DIR.
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
