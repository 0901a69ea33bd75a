import { printTable, RESULTS_FILE, startBenchEnv, writeResults, type BenchResult } from "./support.js";
import { walBench } from "./wal.bench.js";
import { memoryBench } from "./memory.bench.js";
import { backupBench } from "./backup.bench.js";
import { faultsBench } from "./faults.bench.js";
import { hotpathBench } from "./hotpath.bench.js";
import { analyticsBench } from "./analytics.bench.js";

/** `npm run bench [-- name...]`: runs the benchmarks against a private local stack, prints and records figures. */
const BENCHES: Record<string, (env: Awaited<ReturnType<typeof startBenchEnv>>) => Promise<BenchResult[]>> = {
  wal: walBench,
  memory: memoryBench,
  backup: backupBench,
  faults: faultsBench,
  hotpath: hotpathBench,
  analytics: analyticsBench,
};

async function main() {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const names = wanted.length ? wanted : Object.keys(BENCHES);
  // Only the benches that talk to the service start it.
  const needsStack = names.some((n) => n !== "memory" && n !== "faults");
  const env = needsStack ? await startBenchEnv() : (undefined as unknown as Awaited<ReturnType<typeof startBenchEnv>>);
  const all: BenchResult[] = [];
  try {
    for (const name of names) {
      const bench = BENCHES[name];
      if (!bench) throw new Error(`unknown bench ${name}; have ${Object.keys(BENCHES).join(", ")}`);
      console.log(`bench ${name}:`);
      const results = await bench(env);
      printTable(results);
      all.push(...results);
    }
  } finally {
    await env?.stop();
  }
  await writeResults(all);
  console.log(`${all.length} figures written to ${RESULTS_FILE} (ignored by git)`);
}

main().catch((e) => { console.error(e); process.exit(1); });
