import { answerClientError } from "../functions/api/http/client-error.js";
import { serve } from "@hono/node-server";
import { rm, writeFile } from "node:fs/promises";
import { createServer as createNetServer } from "node:net";
import { createServices, parseConfig, refreshRollups } from "@hitl/core";
import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";
import { redisServerBin, startStack, type LocalStack } from "@hitl/devstack";
import { createApp } from "../functions/api/app.js";
import { JOBS, jobContext, runJob, type JobName } from "@hitl/core/backup";
import { exportJobDeps, inProcessExportStarter, orphanedExports } from "@hitl/core/exports";
import { DATA_DIR, STACK_FILE, isAlive, localAdminKey, localSettings, readStackFile } from "./local-env.js";

/**
 * `npm start`: the whole service on this machine. Starts Postgres, Redis and S3 (data under
 * DATA_DIR, kept across restarts), applies migrations, serves the API, and writes the endpoints to
 * DATA_DIR/stack.json for psql, redis-cli and the CLI commands.
 */
// The AWS SDK's switch for its Node 20 notice (the deployed functions run Node 22; see README).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** Ends `npm start` with one line saying what happened and what to do (never a stack trace). */
class StartFailure extends Error {}

async function main() {
  const t0 = Date.now();
  const previous = await readStackFile();
  if (previous && previous.pid !== process.pid && isAlive(previous.pid)) {
    throw new StartFailure(
      `a local stack already runs (pid ${previous.pid}, ${previous.apiUrl}): stop it (Ctrl-C in its terminal, or kill ${previous.pid}) first`,
    );
  }
  const port = Number(process.env.PORT ?? 8787);
  // Everything that can be checked before a process starts is checked first: nothing to clean up.
  if (!(await portFree(port)))
    throw new StartFailure(
      `port ${port} is in use (another npm start, or another service): run with PORT=<a free port>, or stop what listens on ${port}`,
    );
  try {
    redisServerBin();
  } catch (e) {
    throw new StartFailure((e as Error).message);
  }
  console.log(`starting the local stack in ${DATA_DIR} ...`);
  let stack: LocalStack;
  try {
    // startStack stops whatever it started when a later part fails.
    stack = await startStack({ dataDir: DATA_DIR, ports: previous?.ports, upstashToken: previous?.upstashToken });
  } catch (e) {
    throw new StartFailure(`the local stack did not start (nothing was left running): ${firstLine(e)}`);
  }
  let server: ReturnType<typeof serve> | undefined;
  let timers: NodeJS.Timeout[] = [];
  let stopping = false;
  const stop = async (code: number, message: string) => {
    if (stopping) return;
    stopping = true;
    console[code ? "error" : "log"](message);
    for (const t of timers) clearInterval(t);
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    await stack.stop();
    await rm(STACK_FILE, { force: true });
    console.log("stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0, "\nSIGINT: stopping ..."));
  process.on("SIGTERM", () => void stop(0, "\nSIGTERM: stopping ..."));
  process.on("uncaughtException", (e) => void stop(1, `npm start failed: ${firstLine(e)}; stopping the stack`));
  process.on("unhandledRejection", (e) => void stop(1, `npm start failed: ${firstLine(e)}; stopping the stack`));
  // A server that dies takes the stack down with a line saying so: requests would only fail.
  stack.watch(
    (name, pid, code) =>
      void stop(
        1,
        `${name} (pid ${pid}) exited unexpectedly (${code}); stopping the stack. Start again with npm start (see README, "Troubleshooting").`,
      ),
  );
  useLocalNeonProxy(stack.neonProxyUrl);
  const migrated = await migrate(stack.databaseUrl, { log: (l) => console.log(`  migrate: ${l}`) });
  const admin = process.env.API_KEYS ? undefined : await localAdminKey();
  const config = parseConfig(localSettings(stack, process.env.API_KEYS ?? JSON.stringify([admin!.entry])));
  // The server binds loopback only, so the status page may open without a key here.
  process.env.STATUS_PAGE_OPEN ??= "1";
  const services = createServices(config);
  // POST /v1/exports runs the export in this process (in Lambda: an invocation of the export function).
  const exporter = inProcessExportStarter(exportJobDeps(config, services.db, services.log));
  services.exportStarter = exporter;
  const app = createApp(async () => services);
  server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" });
  server.on("clientError", answerClientError);
  server.on(
    "error",
    (e: NodeJS.ErrnoException) =>
      void stop(
        1,
        e.code === "EADDRINUSE"
          ? `port ${port} was taken while the stack started: run with PORT=<a free port>; stopping the stack`
          : `the API server failed: ${firstLine(e)}; stopping the stack`,
      ),
  );
  const apiUrl = `http://127.0.0.1:${port}`;
  await writeFile(
    STACK_FILE,
    JSON.stringify({ ...stack.endpoints(), apiUrl, pid: process.pid, startedAt: new Date().toISOString() }, null, 2),
    { mode: 0o600 },
  );

  console.log(`
HITL data layer running (${Date.now() - t0} ms; ${migrated.applied.length} migrations applied, ${migrated.skipped.length} already there)
  API        ${apiUrl}   (try: curl ${apiUrl}/health)
  status     ${apiUrl}/status
  Postgres   ${stack.databaseUrl}
  Redis      ${stack.redisUrl}   (Upstash REST: ${stack.upstashUrl}, token ${stack.upstashToken})
  S3         ${stack.s3Endpoint}   bucket ${stack.s3Bucket} (key ${stack.s3AccessKeyId}/${stack.s3SecretAccessKey})
  endpoints  ${STACK_FILE}`);
  if (admin)
    console.log(
      `  admin key  ${admin.key}   (${admin.created ? "created" : "kept"} in ${DATA_DIR}/local-admin-key.json; API_KEYS='[...]' npm start uses yours instead)`,
    );
  // API_KEYS set: those keys, and only those, are in force (the local admin key is not).
  else
    console.log(
      `  keys       from API_KEYS: ${config.apiKeys.map((k) => `${k.id} (${k.scopes.join(", ")})`).join("; ")}; ${DATA_DIR}/local-admin-key.json is not in force`,
    );
  timers = schedule(config);
  // Exports an earlier `npm start` left unfinished (stopped mid-export) start again, now and every minute.
  const resume = () =>
    orphanedExports(services.db).then(
      (ids) => Promise.all(ids.map((id) => exporter.start(id))),
      () => {},
    );
  void resume();
  timers.push(setInterval(() => void resume(), 60_000));
  console.log("Ctrl-C stops everything; data stays in DATA_DIR (npm run reset removes it).");
}

const firstLine = (e: unknown) => String(e instanceof Error ? e.message : e).split("\n")[0];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createNetServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** The scheduled functions, run in-process on intervals (ms; `SCHEDULES=off` disables them). */
const INTERVALS: Record<JobName, [env: string, defaultMs: number]> = {
  "backup-postgres": ["BACKUP_POSTGRES_EVERY_MS", 24 * 3600_000],
  "backup-redis": ["BACKUP_REDIS_EVERY_MS", 6 * 3600_000],
  archive: ["ARCHIVE_EVERY_MS", 24 * 3600_000],
};

function schedule(config: Parameters<typeof jobContext>[0]): NodeJS.Timeout[] {
  if (process.env.SCHEDULES === "off") {
    console.log("  schedules  off (SCHEDULES=off)");
    return [];
  }
  const ctx = jobContext(config);
  return [
    ...JOBS.map((name) => {
      const [env, def] = INTERVALS[name];
      const every = Number(process.env[env] ?? def);
      let running = false;
      console.log(`  schedule   ${name} every ${(every / 3600_000).toFixed(2)} h (${env})`);
      return setInterval(() => {
        if (running) return;
        running = true;
        runJob(name, ctx)
          .then((r) => console.log(JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "job done", job: name, ...r })))
          .catch((e) =>
            console.error(
              JSON.stringify({
                time: new Date().toISOString(),
                level: "error",
                msg: "job failed",
                job: name,
                err: String(e?.message ?? e),
              }),
            ),
          )
          .finally(() => {
            running = false;
          });
      }, every);
    }),
    analyticsRollups(ctx.services.db),
  ];
}

/** The analytics rollup job (functions/analytics-rollup.ts), every 5 minutes by default. */
function analyticsRollups(db: Parameters<typeof refreshRollups>[0]): NodeJS.Timeout {
  const every = Number(process.env.ANALYTICS_ROLLUP_EVERY_MS ?? 300_000);
  console.log(`  schedule   analytics-rollup every ${(every / 60_000).toFixed(1)} min (ANALYTICS_ROLLUP_EVERY_MS)`);
  let running = false;
  return setInterval(() => {
    if (running) return;
    running = true;
    refreshRollups(db)
      .then((r) =>
        console.log(
          JSON.stringify({
            time: new Date().toISOString(),
            level: "info",
            msg: "job done",
            job: "analytics-rollup",
            days: r.days.length,
            as_of: r.as_of,
          }),
        ),
      )
      .catch((e) =>
        console.error(
          JSON.stringify({
            time: new Date().toISOString(),
            level: "error",
            msg: "job failed",
            job: "analytics-rollup",
            err: String(e?.message ?? e),
          }),
        ),
      )
      .finally(() => {
        running = false;
      });
  }, every);
}

main().catch((e) => {
  console.error(e instanceof StartFailure ? e.message : `npm start failed: ${firstLine(e)}`);
  process.exit(1);
});
