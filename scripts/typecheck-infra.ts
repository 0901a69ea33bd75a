/**
 * Type-checks sst.config.ts and infra/*.ts against the platform of the installed `sst` version and the
 * @pulumi/aws version it pins, offline of any cloud account. SST writes its platform source (embedded in
 * its binary) and the provider packages into .sst/platform; this script asks SST to do that with npm
 * (`SST_NO_BUN`) and without its global Pulumi/bun download (`SST_SKIP_DEPENDENCY_CHECK`), then runs tsc.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sstVersion = (JSON.parse(readFileSync(join(root, "node_modules", "sst", "package.json"), "utf8")) as { version: string }).version;
const platform = join(root, ".sst", "platform");

function installed(): boolean {
  const versionFile = join(platform, "version");
  return (
    existsSync(join(platform, "config.d.ts")) &&
    existsSync(join(platform, "node_modules", "@pulumi", "aws")) &&
    existsSync(versionFile) &&
    readFileSync(versionFile, "utf8").trim() === sstVersion
  );
}

if (!installed()) {
  console.log(`typecheck:infra: installing SST ${sstVersion}'s platform types into .sst/platform (npm, once per version)`);
  const started = Date.now();
  const run = spawnSync(join(root, "node_modules", ".bin", "sst"), ["install"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, SST_NO_BUN: "true", SST_SKIP_DEPENDENCY_CHECK: "true", SST_TELEMETRY_DISABLED: "1", SST_STAGE: "typecheck" },
  });
  // sst copies its log into .sst/log but leaves the temp-dir original behind: remove it.
  for (const f of readdirSync(tmpdir())) {
    const file = join(tmpdir(), f);
    if (/^sst-[\d-]+\.log$/.test(f) && statSync(file).mtimeMs >= started - 1000) rmSync(file, { force: true });
  }
  if (!installed()) {
    console.error(
      `typecheck:infra: sst install failed (exit ${run.status}):\n${(run.stdout + run.stderr)
        .split("\n")
        .filter((l) => !l.startsWith("posthog"))
        .join("\n")}`,
    );
    process.exit(1);
  }
}

try {
  execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.infra.json"], { cwd: root, stdio: "inherit" });
  console.log(`typecheck:infra: sst.config.ts and infra/*.ts match SST ${sstVersion} and its @pulumi/aws`);
} catch {
  console.error("typecheck:infra: type errors above (sst.config.ts or infra/*.ts)");
  process.exit(1);
}
