import { answerClientError } from "../functions/api/http/client-error.js";
import { serve } from "@hono/node-server";
import { writeFile } from "node:fs/promises";
import { createServices, migrate, parseConfig, useLocalNeonProxy } from "@hitl/core";
import { startStack } from "@hitl/devstack";
import { createApp } from "../functions/api/app.js";
import { JOBS, jobContext, runJob, type JobName } from "@hitl/core/backup";
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
  // The server binds loopback only, so the status page may open without a key here.
  process.env.STATUS_PAGE_OPEN ??= "1";
  const services = createServices(config);
  const app = createApp(async () => services);
  const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
  server.on("clientError", answerClientError);
  const apiUrl = `http://127.0.0.1:${port}`;
  await writeFile(STACK_FILE, JSON.stringify({ ...stack.endpoints(), apiUrl, pid: process.pid, startedAt: new Date().toISOString() }, null, 2), { mode: 0o600 });

  console.log(`
HITL data layer running (${Date.now() - t0} ms; ${migrated.applied.length} migrations applied, ${migrated.skipped.length} already there)
  API        ${apiUrl}   (try: curl ${apiUrl}/health)
  status     ${apiUrl}/status
  Postgres   ${stack.databaseUrl}
  Redis      ${stack.redisUrl}   (Upstash REST: ${stack.upstashUrl}, token ${stack.upstashToken})
  S3         ${stack.s3Endpoint}   bucket ${stack.s3Bucket} (key ${stack.s3AccessKeyId}/${stack.s3SecretAccessKey})
  endpoints  ${STACK_FILE}`);
  if (admin) console.log(`  admin key  ${admin.key}   (${admin.created ? "created" : "kept"} in ${DATA_DIR}/local-admin-key.json)`);
  const timers = schedule(config);
  console.log("Ctrl-C stops everything; data stays in DATA_DIR.");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping ...`);
    for (const t of timers) clearInterval(t);
    await new Promise<void>((r) => server.close(() => r()));
    await stack.stop();
    console.log("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

/** The scheduled functions, run in-process on intervals (ms; `SCHEDULES=off` disables them). */
const INTERVALS: Record<JobName, [env: string, defaultMs: number]> = {
  "backup-postgres": ["BACKUP_POSTGRES_EVERY_MS", 24 * 3600_000],
  "backup-redis": ["BACKUP_REDIS_EVERY_MS", 6 * 3600_000],
  archive: ["ARCHIVE_EVERY_MS", 24 * 3600_000],
};

function schedule(config: Parameters<typeof jobContext>[0]): NodeJS.Timeout[] {
  if (process.env.SCHEDULES === "off") { console.log("  schedules  off (SCHEDULES=off)"); return []; }
  const ctx = jobContext(config);
  return JOBS.map((name) => {
    const [env, def] = INTERVALS[name];
    const every = Number(process.env[env] ?? def);
    let running = false;
    console.log(`  schedule   ${name} every ${(every / 3600_000).toFixed(2)} h (${env})`);
    return setInterval(() => {
      if (running) return;
      running = true;
      runJob(name, ctx)
        .then((r) => console.log(JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "job done", job: name, ...r })))
        .catch((e) => console.error(JSON.stringify({ time: new Date().toISOString(), level: "error", msg: "job failed", job: name, err: String(e?.message ?? e) })))
        .finally(() => { running = false; });
    }, every);
  });
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

