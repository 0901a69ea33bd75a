// esbuild plugins of `npm run build` (scripts/bundle.ts). SST deploys the bundles that build writes
// (infra/bundles.ts): no plugin here ever runs through SST's own plugin bridge.
import path from "node:path";
import { pathToFileURL } from "node:url";

/**
 * zod ships every locale's error messages (258 KiB minified) behind `z.locales`; the API answers in
 * English only, so the bundles get the `en` locale alone (zod's own default).
 * @type {import("esbuild").Plugin}
 */
export const zodEnglishOnly = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`)
        ? { path: path.join(path.dirname(args.importer), "..", "locales", "en.js"), namespace: "zod-en" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "zod-en" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
    }));
  },
};

/**
 * zod's parts the service never calls: its schema compiler (`z.compile`, 29 KiB) and JSON Schema
 * import and export (`z.fromJSONSchema`, `.toJSONSchema()`'s processors). `z` exposes them all, so
 * no bundler can shake them off; each becomes a module with the same exports that throw if called.
 * @type {import("esbuild").Plugin}
 */
export const zodUnusedParts = {
  name: "zod-unused-parts",
  setup(build) {
    build.onLoad(
      { filter: /[\\/]zod[\\/]v4[\\/](core[\\/](compile|json-schema-processors|json-schema-generator)|classic[\\/]from-json-schema)\.js$/ },
      async (args) => {
        const original = await import(pathToFileURL(args.path).href);
        const name = path.basename(args.path);
        const contents = Object.entries(original)
          .map(([k, v]) =>
            typeof v === "function"
              ? `export function ${k}() { throw new Error("zod's ${k} (${name}) is not bundled"); }`
              : `export const ${k} = ${typeof v === "symbol" && v.description && Symbol.for(v.description) === v ? `Symbol.for(${JSON.stringify(v.description)})` : "undefined"};`,
          )
          .join("\n");
        return { contents, loader: "js" };
      },
    );
  },
};

/** The parts of prom-client the service never calls, with what they pull in (@opentelemetry/api, http, cluster, tdigest). */
const PROM_UNUSED = {
  "./lib/defaultMetrics": "collectDefaultMetrics",
  "./lib/pushgateway": "Pushgateway",
  "./lib/cluster": "AggregatorRegistry",
  "./lib/summary": "Summary",
};

/**
 * prom-client's index loads its default process metrics (and through them @opentelemetry/api), its
 * Pushgateway, its cluster aggregator and its summaries (with tdigest) eagerly; the service uses
 * only its registry, counters, gauges and histograms, so those four become stubs that say so if
 * ever called.
 * @type {import("esbuild").Plugin}
 */
export const promClientCoreOnly = {
  name: "prom-client-core-only",
  setup(build) {
    build.onResolve({ filter: /^\.\/lib\/(defaultMetrics|pushgateway|cluster|summary)$/ }, (args) =>
      args.importer.includes(`${path.sep}prom-client${path.sep}`) ? { path: args.path, namespace: "prom-unused" } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "prom-unused" }, (args) => ({
      contents: `module.exports = function () { throw new Error("prom-client's ${PROM_UNUSED[args.path]} is not bundled"); }; module.exports.metricsList = [];`,
      loader: "js",
    }));
  },
};

/** Packages left out of every Lambda bundle: `ws` serves only where no global WebSocket exists (Node 20, local), the rest are optional native add-ons. */
export const EXTERNAL = ["ws", "bufferutil", "utf-8-validate", "pg-native"];

export default [zodEnglishOnly, zodUnusedParts, promClientCoreOnly];
