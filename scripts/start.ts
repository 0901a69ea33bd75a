import { serve } from "@hono/node-server";
import { writeFile } from "node:fs/promises";
import { createServices, migrate, parseConfig, useLocalNeonProxy } from "@hitl/core";
import { startStack } from "@hitl/devstack";
import { createApp } from "../functions/api/app.js";
import { DATA_DIR, STACK_FILE, localAdminKey, localSettings, readStackFile } from "./local-env.js";

/**
 * `npm start`: the whole service on this machine. Starts Postgres, Redis and S3 (data under
 * DATA_DIR, kept across restarts), applies migrations, serves the API, and writes the endpoints to
 * DATA_DIR/stack.json for psql, redis-cli and the CLI commands.
 */
async function main() {
  const t0 = Date.now();
  const previous = await readStackFile();
  if (previous && previous.pid !== process.pid && isAlive(previous.pid)) {
    throw new Error(`a local stack already runs (pid ${previous.pid}, ${previous.apiUrl}); stop it first`);
  }
  const port = Number(process.env.PORT ?? 8787);
  console.log(`starting the local stack in ${DATA_DIR} ...`);
  const stack = await startStack({ dataDir: DATA_DIR, ports: previous?.ports, upstashToken: previous?.upstashToken });
  useLocalNeonProxy(stack.neonProxyUrl);
  const migrated = await migrate(stack.databaseUrl, { log: (l) => console.log(`  migrate: ${l}`) });
  const admin = process.env.API_KEYS ? undefined : await localAdminKey();
  const config = parseConfig(localSettings(stack, process.env.API_KEYS ?? JSON.stringify([admin!.entry])));
  const services = createServices(config);
  const app = createApp(async () => services);
  const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
  const apiUrl = `http://127.0.0.1:${port}`;
  await writeFile(STACK_FILE, JSON.stringify({ ...stack.endpoints(), apiUrl, pid: process.pid, startedAt: new Date().toISOString() }, null, 2), { mode: 0o600 });

  console.log(`
HITL data layer running (${Date.now() - t0} ms; ${migrated.applied.length} migrations applied, ${migrated.skipped.length} already there)
  API        ${apiUrl}   (try: curl ${apiUrl}/health)
  Postgres   ${stack.databaseUrl}
  Redis      ${stack.redisUrl}   (Upstash REST: ${stack.upstashUrl}, token ${stack.upstashToken})
  S3         ${stack.s3Endpoint}   bucket ${stack.s3Bucket} (key ${stack.s3AccessKeyId}/${stack.s3SecretAccessKey})
  endpoints  ${STACK_FILE}`);
  if (admin) console.log(`  admin key  ${admin.key}   (${admin.created ? "created" : "kept"} in ${DATA_DIR}/local-admin-key.json)`);
  console.log("Ctrl-C stops everything; data stays in DATA_DIR.");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping ...`);
    await new Promise<void>((r) => server.close(() => r()));
    await stack.stop();
    console.log("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
