import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

/** What `npm run build` records beside the bundles (scripts/build.ts writes it). */
export const BUILD_RECORD = "dist/build.json";

/** Deploy-time failure with one line that says what to do. */
export class DeployRefusedError extends Error {
  override name = "DeployRefusedError";
}

/**
 * The build `npm run build` left in dist/ is what gets deployed: refused (one line) when it is
 * missing or when any file that went into it changed since (dist/build.json holds their sha256).
 */
export function assertFreshBuild(root: string): void {
  const recordFile = path.join(root, BUILD_RECORD);
  if (!existsSync(recordFile))
    throw new DeployRefusedError(`no ${BUILD_RECORD}: run \`npm run build\` before \`sst deploy\` (npm run deploy does both)`);
  const record = JSON.parse(readFileSync(recordFile, "utf8")) as { functions: string[]; inputs: Record<string, string> };
  for (const [file, sha] of Object.entries(record.inputs)) {
    const abs = path.join(root, file);
    if (!existsSync(abs) || createHash("sha256").update(readFileSync(abs)).digest("hex") !== sha) {
      throw new DeployRefusedError(`dist/ is stale (${file} changed since \`npm run build\`): run \`npm run build\`, then deploy`);
    }
  }
}

/**
 * SST's prebuilt-bundle arguments for one function of `npm run build` (scripts/build.ts FUNCTIONS):
 * the directory dist/<name>/ is zipped as it is, so SST runs no esbuild and no plugin of its own
 * (its plugin bridge, anomalyco/sst#4514, never sees ours). The directory holds the minified
 * index.mjs, its chunks/ (the API) and migrations/ (Migrate, the Postgres backup).
 */
export function prebuilt(name: string): { bundle: string; handler: string } {
  const root = $cli.paths.root;
  assertFreshBuild(root);
  const dir = path.join(root, "dist", name);
  if (!existsSync(path.join(dir, "index.mjs"))) throw new DeployRefusedError(`no dist/${name}/index.mjs: run \`npm run build\``);
  return { bundle: dir, handler: "index.handler" };
}
