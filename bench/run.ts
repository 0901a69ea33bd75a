import { printTable, RESULTS_FILE, startBenchEnv, writeResults, type BenchResult } from "./support.js";
import { walBench } from "./wal.bench.js";
import { memoryBench } from "./memory.bench.js";
import { backupBench } from "./backup.bench.js";
import { faultsBench } from "./faults.bench.js";
import { hotpathBench } from "./hotpath.bench.js";
import { latencyBench } from "./latency.bench.js";
import { costBench } from "./cost.bench.js";
import { keysBench } from "./keys.bench.js";
import { analyticsBench } from "./analytics.bench.js";
import { datasetsBench } from "./datasets.bench.js";
import { archiveFormatBench } from "./archive-format.bench.js";
import { exportBench } from "./export.bench.js";

/** `npm run bench [-- name...]`: runs the benchmarks against a private local stack, prints and records figures. */
const BENCHES: Record<string, (env: Awaited<ReturnType<typeof startBenchEnv>>) => Promise<BenchResult[]>> = {
  wal: walBench,
  memory: memoryBench,
  backup: backupBench,
  faults: faultsBench,
  hotpath: hotpathBench,
  latency: latencyBench,
  cost: costBench,
  keys: keysBench,
  analytics: analyticsBench,
  datasets: datasetsBench,
  "archive-format": archiveFormatBench,
  export: exportBench,
};

const USAGE = `usage: npm run bench [-- NAME ...]
  Runs benchmarks against a private local stack (its own ports and temp dir, removed after, Ctrl-C too)
  and records every figure beside its same-run baseline in ${RESULTS_FILE}.
  NAME    one or more of ${Object.keys(BENCHES).join(", ")} (default: all)
  --help  this text`;

/** The benches asked for, or a usage problem (said before anything starts). */
export function benchArgs(argv: string[]): { help: true } | { names: string[] } | { problem: string } {
  if (argv.includes("--help") || argv.includes("-h")) return { help: true };
  const flag = argv.find((a) => a.startsWith("-"));
  if (flag) return { problem: `unknown option ${flag}` };
  const unknown = argv.filter((a) => !(a in BENCHES));
  if (unknown.length) return { problem: `unknown bench ${unknown.join(", ")}; have ${Object.keys(BENCHES).join(", ")}` };
  return { names: argv.length ? argv : Object.keys(BENCHES) };
}

async function main() {
  const args = benchArgs(process.argv.slice(2));
  if ("help" in args) return void console.log(USAGE);
  if ("problem" in args) {
    console.error(`${args.problem}\n\n${USAGE}`);
    process.exit(2);
  }
  const { names } = args;
  // Only the benches that talk to the service start it.
  const needsStack = names.some((n) => n !== "memory" && n !== "faults");
  const env = needsStack ? await startBenchEnv() : (undefined as unknown as Awaited<ReturnType<typeof startBenchEnv>>);
  const all: BenchResult[] = [];
  try {
    for (const name of names) {
      const bench = BENCHES[name]!;
      console.log(`bench ${name}:`);
      const results = await bench(env);
      printTable(results);
      all.push(...results);
    }
  } finally {
    await env?.stop();
  }
  await writeResults(all);
  console.log(`${all.length} ${all.length === 1 ? "figure" : "figures"} written to ${RESULTS_FILE} (ignored by git)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
