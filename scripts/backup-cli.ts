import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { createServices, listBackupSets } from "@hitl/core";
import { PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import {
  JOBS,
  convertLegacyArchives,
  jobContext,
  markVerified,
  readArchive,
  restorePostgres,
  restoreRedis,
  runJob,
  verifySet,
  type JobName,
} from "@hitl/core/backup";
import { Redis } from "@upstash/redis";
import { cliConfig } from "./cli-env.js";
import { runCli, size, UsageError } from "./cli-common.js";

/**
 * The operations CLI (README, "Backups"): backup, backups, verify, restore, archive, job.
 * Progress goes to stderr; each command ends with a one-line summary on stdout.
 */
const USAGE = `usage:
  npm run backup -- postgres|redis            take a backup set now (and prune expired ones)
  npm run backups                             every set and archive: kind, size, age, verification
  npm run verify -- <set id>                  read a set back and check every object
  npm run restore -- <set id> [--database URL] [--redis URL --redis-token TOKEN] [--yes]
  npm run archive -- run | list | read <partition> | convert
                                              convert: rewrites archives written as NDJSON (before Parquet) as Parquet, verified
  npm run job -- ${JOBS.join("|")}     the deployed handler with a scheduler event
options:
  --json    the result as one JSON line (for scripts) instead of the sentence
  --yes     confirm a restore over data that is already there
  --help    this text`;

/** `n` and its noun, singular for one: "1 row", "2 rows". */
const count = (n: number, singular: string, plural = `${singular}s`) => `${n} ${n === 1 ? singular : plural}`;

/**
 * Progress on stderr. A running counter ("  1200 keys") rewrites its own line on a terminal, and
 * is shown at most every 2 s otherwise: the summary line on stdout gives the totals.
 */
let counting = false;
let lastCounter = 0;
const COUNTER = /^\s+\d+ \w+( restored)?$/;
const progress = (line: string) => {
  if (COUNTER.test(line)) {
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${line}\x1b[K`);
      counting = true;
      return;
    }
    if (Date.now() - lastCounter < 2000) return;
    lastCounter = Date.now();
  }
  endProgress();
  process.stderr.write(line + "\n");
};
const endProgress = () => {
  if (counting) process.stderr.write("\n");
  counting = false;
};

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "--help" || command === "-h") return void console.log(USAGE);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        database: { type: "string" },
        redis: { type: "string" },
        "redis-token": { type: "string" },
        yes: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    // An unknown or malformed option (`--jsn`): the usage, not the parser's own error.
    throw new UsageError((e as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, ""));
  }
  const { values, positionals } = parsed;
  if (!command || values.help) {
    console.log(USAGE);
    return;
  }
  // Every usage error is found before anything starts (the local stack takes seconds).
  const problem = usageProblem(command, positionals);
  if (problem) throw new UsageError(problem);
  const { config, settings, stop } = await cliConfig(progress);
  const ctx = jobContext(config, { progress });
  try {
    const t0 = Date.now();
    const took = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    /** One sentence for a person, or the result as one JSON line with --json. */
    const done = (sentence: string, result: unknown) => {
      endProgress();
      console.log(values.json ? JSON.stringify(result) : `${sentence} in ${took()}`);
    };
    switch (command) {
      case "backup": {
        const kind = positionals[0];
        if (kind !== "postgres" && kind !== "redis") throw new UsageError();
        const r = await runJob(`backup-${kind}`, ctx);
        done(
          `backup ${kind} ${r.id}: ${r.status}, ${r.verified ? "verified" : "NOT verified"}${r.bytes !== undefined ? `, ${size(Number(r.bytes))}` : ""}${r.pruned ? `, ${count(Number(r.pruned), "expired set")} pruned` : ""}`,
          r,
        );
        return;
      }
      case "backups": {
        const { items } = await listBackupSets(ctx.services.db);
        if (values.json) return void console.log(JSON.stringify(items));
        if (!items.length) return void console.log("no backup sets or archives yet (npm run backup -- postgres)");
        console.log(`${"kind".padEnd(9)}${"id".padEnd(26)}${"size".padStart(10)}  ${"age".padEnd(10)}state`);
        for (const s of items) {
          console.log(
            `${s.kind.padEnd(9)}${s.id.padEnd(26)}${size(s.bytes).padStart(10)}  ${age(s.finished_at ?? s.started_at).padEnd(10)}${!s.complete ? "INCOMPLETE" : s.verified ? "verified" : "NOT verified"}`,
          );
        }
        return;
      }
      case "verify": {
        const id = positionals[0];
        if (!id) throw new UsageError();
        const kind = await kindOf(ctx.store, id);
        const v = await verifySet(ctx.store, kind, id, (key) => progress(`  checking ${key}`));
        await markVerified(ctx.services.db, id, v.ok).catch(() => {});
        for (const p of v.problems) console.error(`  ${p.key}: ${p.problem}`);
        done(`verify ${kind} ${id}: ${v.ok ? "OK" : "FAILED"} (${count(v.checked, "object")}, ${count(v.problems.length, "problem")})`, {
          id,
          kind,
          ok: v.ok,
          checked: v.checked,
          problems: v.problems,
        });
        process.exitCode = v.ok ? 0 : 1;
        return;
      }
      case "restore": {
        const id = positionals[0];
        if (!id) throw new UsageError();
        const kind = await kindOf(ctx.store, id);
        if (kind === "postgres") {
          const url = values.database ?? config.databaseUrl;
          if (!values.database && !values.yes)
            throw new Error("restoring into the service's own database needs --yes (or name one with --database URL)");
          if (config.localNeonProxyUrl) useLocalNeonProxy(config.localNeonProxyUrl);
          const target = new PoolDb(url);
          // Restoring the service's own database: the caches it backs are fenced too (flushed, twice).
          const caches = values.database ? undefined : ctx.services.redis;
          const r = await restorePostgres(ctx.store, id, target, {
            databaseUrl: url,
            hasher: ctx.services.hasher,
            confirmOverwrite: values.yes,
            progress,
            caches,
          }).finally(() => target.end());
          done(`restore postgres ${id}: ${count(r.rows, "row")}, ${count(r.erased_rows, "erased row")} re-removed,`, { id, kind, ...r });
        } else {
          const redis = values.redis
            ? new Redis({
                url: values.redis,
                token: values["redis-token"] ?? process.env.UPSTASH_REDIS_REST_TOKEN ?? "",
                enableTelemetry: false,
                automaticDeserialization: false,
              })
            : createServices(config).redis.client;
          const r = await restoreRedis(ctx.store, id, redis, {
            prefix: config.redis.prefix,
            hasher: ctx.services.hasher,
            db: ctx.services.db,
            confirmOverwrite: values.yes,
            progress,
          });
          done(`restore redis ${id}: ${count(r.keys, "key")} restored, ${r.skipped} skipped (erased users),`, { id, kind, ...r });
        }
        return;
      }
      case "archive": {
        if (positionals[0] === "list") {
          const rows = await ctx.services.db.query<{
            partition: string;
            prefix: string;
            format: string;
            rows: string;
            bytes: string;
            archived_at: string;
          }>("SELECT partition, prefix, format, rows, bytes, archived_at FROM archived_partitions ORDER BY partition");
          if (values.json)
            return void console.log(JSON.stringify(rows.map((r) => ({ ...r, rows: Number(r.rows), bytes: Number(r.bytes) }))));
          if (!rows.length)
            return void console.log("no partition archived yet (partitions older than 90 days are, by the daily archive job)");
          for (const r of rows)
            console.log(
              `${r.partition}  ${r.format.padEnd(7)}  ${count(Number(r.rows), "row").padStart(14)}  ${size(Number(r.bytes)).padStart(9)}  archived ${age(r.archived_at)} ago  ${r.prefix}`,
            );
          return;
        }
        if (positionals[0] === "read" && positionals[1]) {
          const r = await readArchive(ctx.store, positionals[1], (line) => process.stdout.write(line + "\n"));
          console.error(`archive ${positionals[1]}: ${count(r.rows, "row")} in ${took()}`);
          return;
        }
        if (positionals[0] === "convert") {
          const r = await convertLegacyArchives({ db: ctx.services.db, store: ctx.store, progress });
          done(
            r.converted.length
              ? `archive convert: ${count(r.converted.length, "partition")} converted to Parquet (${r.converted.map((c) => `${c.partition}: ${count(c.rows, "row")}, ${size(c.ndjson_bytes)} -> ${size(c.parquet_bytes)}`).join("; ")})`
              : "archive convert: no NDJSON archive left to convert",
            r,
          );
          return;
        }
        if (positionals[0] !== "run") throw new UsageError();
        const r = await runJob("archive", ctx);
        done(archiveSentence(r), r);
        return;
      }
      case "job": {
        // The deployed handler itself, with a synthetic EventBridge Scheduler event.
        const name = positionals[0] as JobName;
        if (!JOBS.includes(name)) throw new UsageError();
        // The handler's own log lines and EMF metrics are for CloudWatch: here the summary line says it
        // (LOG_LEVEL=info and POWERTOOLS_METRICS_DISABLED=false bring them back).
        Object.assign(process.env, settings, {
          LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
          POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? "true",
        });
        const { handler } = (await import(`../functions/${name}.ts`)) as { handler: (e: unknown, c: unknown) => Promise<unknown> };
        const deadline = Date.now() + 15 * 60_000;
        const event = {
          version: "0",
          id: randomUUID(),
          "detail-type": "Scheduled Event",
          source: "aws.scheduler",
          account: "000000000000",
          time: new Date().toISOString(),
          region: config.s3.region,
          resources: [`arn:aws:scheduler:local:schedule/default/${name}`],
          detail: {},
        };
        const r = (await handler(event, {
          getRemainingTimeInMillis: () => deadline - Date.now(),
          functionName: name,
          awsRequestId: randomUUID(),
        })) as Record<string, unknown>;
        done(
          `job ${name}: ${name === "archive" ? archiveSentence(r) : `${r.status} ${r.id}, ${r.verified ? "verified" : "NOT verified"}`} (run ${r.run})`,
          r,
        );
        return;
      }
      default:
        throw new UsageError();
    }
  } finally {
    await ctx.reader.end().catch(() => {});
    await stop();
  }
}

function age(iso: string | Date): string {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  return s < 90
    ? `${Math.round(s)} s`
    : s < 5400
      ? `${Math.round(s / 60)} min`
      : s < 172_800
        ? `${(s / 3600).toFixed(1)} h`
        : `${(s / 86_400).toFixed(1)} d`;
}
function archiveSentence(r: Record<string, unknown>): string {
  const archived = (r.archived as { partition: string; rows: number }[] | undefined) ?? [];
  const n = (k: string) => Number(r[k] ?? 0);
  const busy = (r.busy as string[] | undefined) ?? [];
  return (
    `archive: ${archived.length ? `${count(archived.length, "partition")} archived (${archived.map((a) => `${a.partition}: ${count(a.rows, "row")}`).join(", ")})` : "nothing old enough to archive"}` +
    `, ${count(n("empty_partitions_dropped"), "empty partition")} dropped, ${count(n("purged_quarantine"), "expired quarantine message")} purged, ${count(n("partitions_created"), "partition")} created` +
    `${r.pending_erasures_completed ? `, ${count(n("pending_erasures_completed"), "pending erasure")} completed` : ""}` +
    `${busy.length ? `, busy (a long reader held interactions; kept for the next run): ${busy.join(", ")}` : ""}`
  );
}

/** What is wrong with a command line, or null: said before any store is touched. */
function usageProblem(command: string, args: string[]): string | null {
  switch (command) {
    case "backup":
      return args[0] === "postgres" || args[0] === "redis"
        ? null
        : `backup takes postgres or redis${args[0] ? ` (not ${JSON.stringify(args[0])})` : ""}`;
    case "backups":
      return args.length ? `backups takes no argument (got ${JSON.stringify(args[0])})` : null;
    case "verify":
    case "restore":
      return args[0] ? null : `${command} needs a set id (npm run backups lists them)`;
    case "archive":
      return args[0] === "run" || args[0] === "list" || args[0] === "convert" || (args[0] === "read" && args[1])
        ? null
        : "archive takes run, list, read <partition>, or convert";
    case "job":
      return (JOBS as readonly string[]).includes(args[0] ?? "")
        ? null
        : `job takes one of ${JOBS.join(", ")}${args[0] ? ` (not ${JSON.stringify(args[0])})` : ""}`;
    default:
      return `unknown command ${JSON.stringify(command)}`;
  }
}

async function kindOf(store: Awaited<ReturnType<typeof jobContext>>["store"], id: string): Promise<"postgres" | "redis"> {
  for (const kind of ["postgres", "redis"] as const) if ((await store.list(`backups/${kind}/${id}/`)).length) return kind;
  throw new Error(`no backup set ${id}`);
}

runCli(main, USAGE);
