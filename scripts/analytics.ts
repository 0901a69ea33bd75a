import { parseArgs } from "node:util";
import { S3BlobStore } from "@hitl/core/backup";
import { HISTORY_QUERIES, historyQuery } from "@hitl/core/analytics/history-queries";
import { cliConfig } from "./cli-env.js";
import { analyticsOverArchives } from "./duckdb-history.js";
import { cleanupOnInterrupt } from "./interrupt.js";
import { runCli, UsageError } from "./cli-common.js";

/**
 * `npm run analytics`: SQL over the archived months with DuckDB (README, "Archive and analytics
 * over history"). The archive's Parquet objects are downloaded to a temp dir (removed on exit and
 * on Ctrl-C) and read through the view `interactions`, the same table name and columns Athena's
 * named queries use, so a query tried here runs there as it is.
 */
const USAGE = `usage:
  npm run analytics -- "<SQL>"             run SQL with DuckDB over the archived months (table: interactions)
  npm run analytics -- --query <name>      run a named query (the same SQL as Athena's named queries)
  npm run analytics -- --list              the named queries with their SQL
options:
  --json    rows as JSON lines instead of a table
  --help    this text
named queries: ${HISTORY_QUERIES.map((q) => q.name).join(", ")}
The table has the archive's columns plus month ('yyyy-MM'); timestamps are UTC.`;

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        query: { type: "string", short: "q" },
        list: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, ""));
  }
  const { values, positionals } = parsed;
  if (values.help) return void console.log(USAGE);
  if (values.list) {
    for (const q of HISTORY_QUERIES) console.log(`-- ${q.name}: ${q.description}\n${q.sql};\n`);
    return;
  }
  // Every usage error is found before anything starts (the local stack takes seconds).
  if (values.query !== undefined && positionals.length) throw new UsageError("give either SQL or --query <name>, not both");
  if (positionals.length > 1) throw new UsageError("give the SQL as one argument (in quotes)");
  const named = values.query === undefined ? undefined : historyQuery(values.query);
  if (values.query !== undefined && !named)
    throw new UsageError(`no named query ${JSON.stringify(values.query)} (there are ${HISTORY_QUERIES.map((q) => q.name).join(", ")})`);
  const sql = named?.sql ?? positionals[0];
  if (!sql?.trim()) throw new UsageError("no SQL given");

  const progress = (l: string) => process.stderr.write(l + "\n");
  const { config, stop } = await cliConfig(progress);
  try {
    await analyticsOverArchives(new S3BlobStore(config.s3), sql, {
      json: values.json,
      write: (text) => console.log(text),
      progress,
      onTemp: cleanupOnInterrupt,
    });
  } finally {
    await stop();
  }
}

runCli(main, USAGE);
