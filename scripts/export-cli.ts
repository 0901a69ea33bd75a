import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { CreateExportBody, createExport, createServices } from "@hitl/core";
import { exportJobDeps, runExport } from "@hitl/core/exports";
import { cliConfig } from "./cli-env.js";
import { cleanupOnInterrupt } from "./interrupt.js";
import { runCli, size, UsageError } from "./cli-common.js";

/**
 * `npm run export -- <dataset> --format F [filters] [--out FILE]` (README, "Exports"): the export job
 * of POST /v1/exports, run in this process against the local stack (or the cloud settings in the
 * environment, like every CLI command): the file goes to the bucket under exports/<id>/, and with
 * --out it is downloaded too. Progress on stderr; one summary line on stdout.
 */
const USAGE = `usage: npm run export -- <dataset> --format csv|ndjson|xlsx|parquet [filters] [--out FILE] [--json]
  dataset            interactions | chat_finetune | preference_pairs (training datasets: ndjson only)
filters (all optional, as the browse filters):
  --from ISO         created at or after (e.g. 2026-11-01T00:00:00Z)
  --to ISO           created before
  --user ID          one user's rows
  --status S         review status (repeatable): pending, reviewing, approved, rejected
  --customer-status S  customer status (repeatable)
  --llm1-model M     --llm2-model M
  --tag T            rows holding every tag given (repeatable)
  --quality-min N    --quality-max N   (1..5)
  --context-turns N  training datasets: earlier turns given as context (default 6)
options:
  --out FILE         also download the file here
  --json             the result as one JSON line instead of the sentence
  --help             this text
example: npm run export -- interactions --format csv --from 2026-11-01T00:00:00Z --status approved --out approved.csv`;

const int = (v: string | undefined, name: string) => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${name} takes a whole number (got ${JSON.stringify(v)})`);
  return Number(v);
};

/** The command line as the API's body (validated by the same schema: a bad filter is a usage error). */
export function exportRequest(argv: string[]): { body: CreateExportBody; out?: string; json: boolean } | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        user: { type: "string" },
        status: { type: "string", multiple: true },
        "customer-status": { type: "string", multiple: true },
        "llm1-model": { type: "string" },
        "llm2-model": { type: "string" },
        tag: { type: "string", multiple: true },
        "quality-min": { type: "string" },
        "quality-max": { type: "string" },
        "context-turns": { type: "string" },
        out: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, ""));
  }
  const { values: v, positionals } = parsed;
  if (v.help) return "help";
  if (positionals.length !== 1)
    throw new UsageError(positionals.length ? `one dataset only (got ${positionals.join(" ")})` : "which dataset?");
  const filters = Object.fromEntries(
    Object.entries({
      from: v.from,
      to: v.to,
      user_id: v.user,
      review_status: v.status,
      customer_status: v["customer-status"],
      llm1_model: v["llm1-model"],
      llm2_model: v["llm2-model"],
      edit_tags: v.tag,
      quality_min: int(v["quality-min"], "--quality-min"),
      quality_max: int(v["quality-max"], "--quality-max"),
      context_turns: int(v["context-turns"], "--context-turns"),
    }).filter(([, x]) => x !== undefined),
  );
  const body = CreateExportBody.safeParse({ dataset: positionals[0], format: v.format, filters });
  if (!body.success) throw new UsageError(body.error.issues.map((i) => `${i.path.join(".") || "arguments"}: ${i.message}`).join("; "));
  return { body: body.data, out: v.out, json: v.json };
}

async function main() {
  const req = exportRequest(process.argv.slice(2));
  if (req === "help") return void console.log(USAGE);
  const { config, stop } = await cliConfig((l) => process.stderr.write(`${l}\n`));
  const services = createServices(config);
  const deps = exportJobDeps(config, services.db);
  const interrupt = new AbortController();
  let running: Promise<unknown> | undefined;
  // Ctrl-C: the run stops (its upload is aborted, nothing is left in the bucket) and the export is
  // recorded as failed, "interrupted", before the stack this command started is stopped.
  const unregister = cleanupOnInterrupt(async () => {
    interrupt.abort(new Error("interrupted (Ctrl-C)"));
    await running?.catch(() => {});
    await deps.reader.end().catch(() => {});
    await stop();
  });
  try {
    const t0 = Date.now();
    const view = await createExport({ db: services.db }, req.body, "cli");
    process.stderr.write(`export ${view.id}: ${req.body.dataset} as ${req.body.format}\n`);
    let last = 0;
    const tty = process.stderr.isTTY;
    const run = runExport(
      {
        ...deps,
        signal: interrupt.signal,
        onProgress: (done, total) => {
          if (!tty && Date.now() - last < 2000) return;
          last = Date.now();
          const line = `  ${done}${total !== null ? ` / ${total}` : ""} rows`;
          process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
        },
      },
      view.id,
    );
    running = run;
    const r = await run;
    if (tty) process.stderr.write("\n");
    if (r.status !== "done") throw new Error(`export ${view.id} ${r.status}: ${r.reason}`);
    if (req.out) await pipeline(await deps.store.read(r.key), createWriteStream(req.out));
    const took = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    console.log(
      req.json
        ? JSON.stringify({ ...r, out: req.out ?? null, seconds: (Date.now() - t0) / 1000 })
        : `export ${r.id}: ${r.rows} ${r.rows === 1 ? "row" : "rows"}, ${size(r.bytes)} of ${req.body.format} in ${took} -> ${r.key}${req.out ? ` (saved to ${req.out})` : ""}`,
    );
  } finally {
    unregister();
    await deps.reader.end().catch(() => {});
    await stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runCli(main, USAGE);
