import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";
import { loadScripts } from "./scripts.js";
import { startStack, type StackEndpoints } from "@hitl/devstack";

export const TEMPLATE_DB = "hitl_template";

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackEndpoints & { templateDb: string; adminUrl: string };
  }
}

/** One private stack per test run (own ports, temp dirs); a migrated template database to clone per file. */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-test-"));
  const stack = await startStack({ dataDir: dir, persistent: false, database: TEMPLATE_DB });
  try {
    useLocalNeonProxy(stack.neonProxyUrl);
    await migrate(stack.databaseUrl);
    // Drop the proxy's idle sessions on the template so it can be cloned.
    const admin = new pg.Client({ connectionString: stack.adminUrl("postgres") });
    await admin.connect();
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [
      TEMPLATE_DB,
    ]);
    await admin.end();
    await loadScripts(stack.upstashUrl, stack.upstashToken);
  } catch (e) {
    await stack.stop();
    throw e;
  }
  project.provide("stack", { ...stack.endpoints(), templateDb: TEMPLATE_DB, adminUrl: stack.adminUrl("postgres") });
  return async () => {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
    // Nothing of the suite's own stack may stay in the temp dir (its cluster may live outside `dir`).
    const left = [dir, stack.postgresDataDir].filter((p) => existsSync(p));
    if (left.length) throw new Error(`the test stack left ${left.join(", ")} behind`);
  };
}
