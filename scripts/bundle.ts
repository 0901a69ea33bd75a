import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";
import plugins, { EXTERNAL } from "./esbuild-plugins.mjs";

// ESM bundles still meet CommonJS dependencies that call require().
const BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/**
 * One Lambda bundle, as `npm run build` makes it and SST deploys it unchanged (infra/bundles.ts:
 * SST's prebuilt `bundle`), with the plugins of scripts/esbuild-plugins.mjs: minified ESM for Node,
 * with linked source maps. `split` (the API): what the code imports dynamically (the Neon driver,
 * rate limiting, the OpenAPI document) goes to `chunks/` beside `outfile`, loaded on first use,
 * not at cold start; otherwise everything is one file.
 */
export function bundle(entry: string, outfile: string, split = false) {
  return build({
    entryPoints: [{ in: entry, out: path.basename(outfile, ".mjs") }],
    outdir: path.dirname(outfile),
    outExtension: { ".js": ".mjs" },
    splitting: split,
    ...(split ? { chunkNames: "chunks/[name]-[hash]" } : {}),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    minify: true,
    sourcemap: "linked",
    metafile: true,
    banner: { js: BANNER },
    legalComments: "none",
    external: EXTERNAL,
    plugins,
    logLevel: "warning",
  });
}

/** A static import in esbuild's output (`from"./x.mjs"`, `import"./x.mjs"`), not a dynamic `import("./x.mjs")`. */
const STATIC_IMPORT = /(?:\bfrom|\bimport)\s*["'](\.\.?\/[^"']+\.mjs)["']/g;

/**
 * The files a cold start loads: `entry` and every chunk it imports statically, transitively (a
 * split bundle's shared chunks); what is left in `chunks/` loads on first use only.
 */
export function coldStartFiles(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(STATIC_IMPORT)) visit(path.resolve(path.dirname(file), m[1]!));
  };
  visit(path.resolve(entry));
  return [...seen];
}

/** The chunks beside a split bundle's `entry` that a cold start does not load (they load on first use). */
export function firstUseFiles(entry: string): string[] {
  const dir = path.join(path.dirname(path.resolve(entry)), "chunks");
  const coldStart = new Set(coldStartFiles(entry));
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    /* not split: no chunks */
  }
  return names
    .filter((f) => f.endsWith(".mjs"))
    .map((f) => path.join(dir, f))
    .filter((f) => !coldStart.has(f));
}

/** Bytes of `files` together. */
export const totalBytes = (files: string[]): number => files.reduce((n, f) => n + statSync(f).size, 0);
