import { compress, level1, level2, level3, logicalSize, type Codec } from "@hitl/core";
import { generateContext, generateHistory } from "./corpus.js";
import { percentile, result, type BenchResult } from "./support.js";

const RUNS = 300;

function p50(fn: () => unknown): number {
  for (let i = 0; i < 30; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return percentile(samples, 50);
}

/** The seed addendum's figures: the baseline every level must beat (reduction %, time ms). */
const SEED = { 1: { reduction: 15, ms: 1 }, 2: { reduction: 40, ms: 2 }, 3: { reduction: 70, ms: 5 } } as const;

/**
 * Lossless codecs and the three lossy levels on generated ~100 KB contexts (and a 50-message
 * history): size reduction and p50 time, beside the seed's figures. Pure CPU: no stack needed.
 */
export async function memoryBench(): Promise<BenchResult[]> {
  const contexts = [1, 2, 3, 4, 5].map((s) => generateContext(100 * 1024, s));
  const history = Buffer.from(JSON.stringify(generateHistory(50)));
  const now = new Date("2026-11-25T12:00:00Z");
  const out: BenchResult[] = [];
  for (const codec of ["deflate", "brotli"] as Codec[]) {
    const reductions = contexts.map((c) => {
      const raw = Buffer.from(JSON.stringify(c));
      return 100 * (1 - compress(codec, raw).length / raw.length);
    });
    const raw = Buffer.from(JSON.stringify(contexts[0]));
    const perKb = (p50(() => compress(codec, raw)) * (100 * 1024)) / raw.length;
    const hist = 100 * (1 - compress(codec, history).length / history.length);
    out.push(result(`memory.lossless.${codec}.reduction`, avg(reductions), "%", "target: >= 70% smaller", 70));
    out.push(result(`memory.lossless.${codec}.p50_per_100kb`, perKb, "ms", "target: < 1 ms per 100 KB", 1));
    out.push(result(`memory.lossless.${codec}.history_reduction`, hist, "%", "target: >= 70% smaller", 70));
  }
  const levels = { 1: level1, 2: level2, 3: level3 } as const;
  for (const level of [1, 2, 3] as const) {
    const fn = levels[level];
    const reductions = contexts.map((c) => 100 * (1 - logicalSize(fn(c, now)) / logicalSize(c)));
    const ms = avg(contexts.map((c) => p50(() => fn(c, now))));
    out.push(
      result(
        `memory.level${level}.reduction`,
        avg(reductions),
        "%",
        `seed L${level}: ${SEED[level].reduction}% smaller`,
        SEED[level].reduction,
      ),
    );
    out.push(result(`memory.level${level}.p50`, ms, "ms", `seed L${level}: ${SEED[level].ms} ms`, SEED[level].ms));
  }
  return out;
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
