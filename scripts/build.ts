import { bundle, coldStartFiles, firstUseFiles, totalBytes } from "./bundle.js";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Lambda entry points: name -> source. Each becomes dist/<name>/index.mjs, the directory SST
 * deploys as it is (infra/bundles.ts: SST's prebuilt `bundle`, no build or plugin of SST's own).
 */
export const FUNCTIONS: Record<string, string> = {
  api: "functions/api/handler.ts",
  migrate: "functions/migrate.ts",
  "backup-postgres": "functions/backup-postgres.ts",
  "backup-redis": "functions/backup-redis.ts",
  archive: "functions/archive.ts",
  monitor: "functions/monitor.ts",
  "analytics-rollup": "functions/analytics-rollup.ts",
  export: "functions/export.ts",
};

/** Functions whose bundle is split into an entry and chunks loaded on first use. */
const SPLIT = new Set(["api"]);

/** Files copied beside a bundle (read at run time). */
const COPY: Record<string, { from: string; to: string }[]> = {
  migrate: [{ from: "packages/core/migrations", to: "migrations" }],
  "backup-postgres": [{ from: "packages/core/migrations", to: "migrations" }],
};

/** What `npm run build` records beside the bundles (outside every function's directory, so never deployed). */
export const BUILD_RECORD = "dist/build.json";

/** dist/build.json: the functions built and the sha256 of every file that went into them (infra refuses a stale dist/). */
export interface BuildRecord {
  functions: string[];
  inputs: Record<string, string>;
}

const sha256 = async (file: string) =>
  createHash("sha256")
    .update(await readFile(file))
    .digest("hex");

/** Prints, per function, what its cold start loads (the entry and the chunks it imports statically) and what loads on first use. */
async function main() {
  await rm("dist", { recursive: true, force: true });
  const rows: string[] = [];
  const inputs = new Set<string>();
  for (const [name, entry] of Object.entries(FUNCTIONS)) {
    const outfile = path.join("dist", name, "index.mjs");
    const result = await bundle(entry, outfile, SPLIT.has(name));
    // A plugin namespace's input (`zod-en:/…/en.js`) names the file it loads; a stub (`prom-unused:./lib/x`) names none.
    for (const input of Object.keys(result.metafile.inputs)) {
      const file = input.replace(/^[a-z-]+:/, "");
      if (existsSync(file)) inputs.add(file);
    }
    for (const c of COPY[name] ?? []) {
      await cp(c.from, path.join("dist", name, c.to), { recursive: true });
      for (const f of await readdir(c.from)) inputs.add(path.join(c.from, f));
    }
    const size = totalBytes(coldStartFiles(outfile));
    const modules = Object.keys(result.metafile.inputs).length;
    const lazy = totalBytes(firstUseFiles(outfile));
    rows.push(
      `${name.padEnd(18)} ${(size / 1024).toFixed(1).padStart(8)} KiB  ${String(modules).padStart(4)} modules  ${outfile}${lazy ? ` (+ ${(lazy / 1024).toFixed(1)} KiB loaded on first use)` : ""}`,
    );
  }
  const record: BuildRecord = { functions: Object.keys(FUNCTIONS), inputs: {} };
  for (const f of [...inputs].sort()) record.inputs[path.relative(".", path.resolve(f))] = await sha256(f);
  await writeFile(BUILD_RECORD, JSON.stringify(record, null, 1) + "\n");
  console.log(rows.join("\n"));
  console.log(`built ${rows.length} functions into dist/ (${Object.keys(record.inputs).length} input files recorded in ${BUILD_RECORD})`);
}

// Run as a script (`npm run build`); imported (tests), it only exports what it knows.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
