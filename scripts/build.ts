import { build } from "esbuild";
import { EXTERNAL, zodEnglishOnly } from "../infra/esbuild-plugins.mjs";
import { cp, rm, stat } from "node:fs/promises";
import path from "node:path";

/** Lambda entry points: name -> source. Each becomes dist/<name>/index.mjs. */
export const FUNCTIONS: Record<string, string> = {
  api: "functions/api/handler.ts",
  migrate: "functions/migrate.ts",
  "backup-postgres": "functions/backup-postgres.ts",
  "backup-redis": "functions/backup-redis.ts",
  archive: "functions/archive.ts",
};

/** Files copied beside a bundle (read at run time). */
const COPY: Record<string, { from: string; to: string }[]> = {
  migrate: [{ from: "packages/core/migrations", to: "migrations" }],
  "backup-postgres": [{ from: "packages/core/migrations", to: "migrations" }],
};

// ESM bundles still meet CommonJS dependencies that call require().
const BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

async function main() {
  await rm("dist", { recursive: true, force: true });
  const rows: string[] = [];
  for (const [name, entry] of Object.entries(FUNCTIONS)) {
    const outfile = path.join("dist", name, "index.mjs");
    const result = await build({
      entryPoints: [entry], outfile, bundle: true, platform: "node", target: "node20", format: "esm",
      minify: true, sourcemap: "linked", metafile: true, banner: { js: BANNER }, legalComments: "none",
      // The API must not carry the AWS SDK (it never imports it); the jobs bundle the SDK version
      // they were tested with rather than trusting the runtime's. Native speed-ups of ws are optional.
      // The same externals and plugins as SST's bundling (infra/esbuild-plugins.mjs).
      external: EXTERNAL,
      plugins: [zodEnglishOnly],
      logLevel: "warning",
    });
    for (const c of COPY[name] ?? []) await cp(c.from, path.join("dist", name, c.to), { recursive: true });
    const { size } = await stat(outfile);
    const inputs = Object.keys(result.metafile.inputs).length;
    rows.push(`${name.padEnd(18)} ${(size / 1024).toFixed(1).padStart(8)} KiB  ${String(inputs).padStart(4)} modules  ${outfile}`);
  }
  console.log(rows.join("\n"));
  console.log(`built ${rows.length} functions into dist/`);
}

await main();
