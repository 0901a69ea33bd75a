import { bundle, coldStartFiles, firstUseFiles, totalBytes } from "./bundle.js";
import { cp, rm } from "node:fs/promises";
import path from "node:path";

/** Lambda entry points: name -> source. Each becomes dist/<name>/index.mjs. */
export const FUNCTIONS: Record<string, string> = {
  api: "functions/api/handler.ts",
  migrate: "functions/migrate.ts",
  "backup-postgres": "functions/backup-postgres.ts",
  "backup-redis": "functions/backup-redis.ts",
  archive: "functions/archive.ts",
  "analytics-rollup": "functions/analytics-rollup.ts",
};

/** Functions whose bundle is split into an entry and chunks loaded on first use (as in infra/api.ts). */
const SPLIT = new Set(["api"]);

/** Files copied beside a bundle (read at run time). */
const COPY: Record<string, { from: string; to: string }[]> = {
  migrate: [{ from: "packages/core/migrations", to: "migrations" }],
  "backup-postgres": [{ from: "packages/core/migrations", to: "migrations" }],
};

/** Prints, per function, what its cold start loads (the entry and the chunks it imports statically) and what loads on first use. */
async function main() {
  await rm("dist", { recursive: true, force: true });
  const rows: string[] = [];
  for (const [name, entry] of Object.entries(FUNCTIONS)) {
    const outfile = path.join("dist", name, "index.mjs");
    const result = await bundle(entry, outfile, SPLIT.has(name));
    for (const c of COPY[name] ?? []) await cp(c.from, path.join("dist", name, c.to), { recursive: true });
    const size = totalBytes(coldStartFiles(outfile));
    const inputs = Object.keys(result.metafile.inputs).length;
    const lazy = totalBytes(firstUseFiles(outfile));
    rows.push(`${name.padEnd(18)} ${(size / 1024).toFixed(1).padStart(8)} KiB  ${String(inputs).padStart(4)} modules  ${outfile}${lazy ? ` (+ ${(lazy / 1024).toFixed(1)} KiB loaded on first use)` : ""}`);
  }
  console.log(rows.join("\n"));
  console.log(`built ${rows.length} functions into dist/`);
}

await main();
