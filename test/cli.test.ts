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
    const cli = (...args: string[]) => run(process.execPath, ["--import", "tsx", "scripts/backup-cli.ts", ...args], { env, timeout: 120_000 });
    try {
      const backup = await cli("backup", "postgres");
      expect(backup.stdout).toMatch(/^backup postgres: complete (\S+) verified=true in [\d.]+ s$/m);
      const id = /complete (\S+)/.exec(backup.stdout)![1]!;
      expect(backup.stderr).toContain("starting the local stack");
      const listed = await cli("backups");
      expect(listed.stdout).toMatch(new RegExp(`^postgres\\s+${id}\\s+complete\\s+verified$`, "m"));
      const verified = await cli("verify", id);
      expect(verified.stdout).toMatch(new RegExp(`^verify postgres ${id}: OK \\(\\d+ objects, 0 problems\\)`, "m"));
      const job = await cli("job", "archive");
      expect(job.stdout).toMatch(/^job archive: \{"archived":\[.*"partitions_created":\d+,"pending_erasures_completed":0\} in/m);
      await expect(cli("job", "nope")).rejects.toMatchObject({ code: 2 });
    } finally {
      await rm(effectiveDataDir(path.join(dataDir, "postgres")), { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
