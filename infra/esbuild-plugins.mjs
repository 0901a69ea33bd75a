// esbuild plugins shared by SST's bundling of the functions (`nodejs.plugins` in infra/*.ts) and by
// `npm run build` (scripts/build.ts), so the measured bundle is the deployed one.
import path from "node:path";

/**
 * zod ships every locale's error messages (258 KiB minified) behind `z.locales`; the API answers in
 * English only, so the bundles get the `en` locale alone (zod's own default).
 * @type {import("esbuild").Plugin}
 */
export const zodEnglishOnly = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) => (args.importer.includes(`${path.sep}zod${path.sep}`)
      ? { path: path.join(path.dirname(args.importer), "..", "locales", "en.js"), namespace: "zod-en" } : undefined));
    build.onLoad({ filter: /.*/, namespace: "zod-en" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`, resolveDir: path.dirname(args.path),
    }));
  },
};

/** Packages left out of every Lambda bundle: `ws` serves only where no global WebSocket exists (Node 20, local), the rest are optional native add-ons. */
export const EXTERNAL = ["ws", "bufferutil", "utf-8-validate", "pg-native"];

export default [zodEnglishOnly];
