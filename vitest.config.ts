import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * Two projects:
 * - `unit`: pure logic and the HTTP layer on a bare Hono app; no stack, runs in seconds
 *   (`npx vitest run --project unit`). Tests beside their code (packages/, functions/) are unit
 *   tests, and so are the files of test/ listed here.
 * - `integration`: everything else in test/, against a private Postgres, Redis bridge and S3
 *   started once per run (test/support/global-setup.ts).
 * One file: `npx vitest run test/wal.test.ts` (its project is found by the file).
 */
const UNIT = [
  "packages/*/src/**/*.test.ts",
  "functions/**/*.test.ts",
  "test/config.test.ts",
  "test/infra.test.ts",
  "test/openapi.test.ts",
  "test/cli-args.test.ts",
];

export default defineConfig({
  // In the repository the typed client is its TypeScript source (its package exports the built dist/).
  resolve: { alias: { "@hitl/client": fileURLToPath(new URL("packages/client/src/index.ts", import.meta.url)) } },
  test: {
    testTimeout: 30_000,
    // 2-core machines: two workers keep the shared stack responsive.
    maxWorkers: 2,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "unit", include: UNIT } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: UNIT,
          globalSetup: ["test/support/global-setup.ts"],
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
