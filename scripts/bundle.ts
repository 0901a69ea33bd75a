import { build } from "esbuild";
import plugins, { EXTERNAL } from "../infra/esbuild-plugins.mjs";

// ESM bundles still meet CommonJS dependencies that call require().
const BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/**
 * One Lambda bundle, as `npm run build` makes it and SST deploys it (the same externals and
 * plugins, infra/esbuild-plugins.mjs): minified ESM for Node, with a linked source map.
 */
export function bundle(entry: string, outfile: string) {
  return build({
    entryPoints: [entry], outfile, bundle: true, platform: "node", target: "node20", format: "esm",
    minify: true, sourcemap: "linked", metafile: true, banner: { js: BANNER }, legalComments: "none",
    external: EXTERNAL, plugins, logLevel: "warning",
  });
}
