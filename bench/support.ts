import { cleanupOnInterrupt } from "../scripts/interrupt.js";
import { spawn } from "node:child_process";
import http from "node:http";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Redis } from "@upstash/redis";
import { generateKey, type Scope } from "@hitl/core";
import { effectiveDataDir, freePort } from "@hitl/devstack";
import type { StackFile } from "../scripts/local-env.js";

export interface BenchEnv {
  /** Endpoints of the stack the server runs on (stack.json of the child). */
  stack: StackFile;
  apiUrl: string;
  keys: Record<Scope, string>;
  /** A raw client through the same REST bridge: the baseline. */
  raw: Redis;
  stop(): Promise<void>;
}

/**
 * The service as `npm start` runs it, in a child process (so the load generator does not share
 * its event loop), on a private DATA_DIR and port.
 */
export async function startBenchEnv(extraEnv: Record<string, string> = {}): Promise<BenchEnv> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-bench-"));
  const removeDir = async () => {
    // Run as root, the cluster lives under the temp dir rather than in DATA_DIR (resolved while
    // DATA_DIR still exists: where it lives depends on DATA_DIR's permissions).
    await rm(effectiveDataDir(path.join(dir, "postgres")), { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  };
  const made = (["bot", "agent", "reviewer", "admin"] as Scope[]).map((s) => ({ s, ...generateKey(`${s}-bench`, [s]) }));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...(process.env.BENCH_SERVER_FLAGS ?? "").split(" ").filter(Boolean), "--import", "tsx", "scripts/start.ts"],
    {
      env: {
        ...process.env,
        DATA_DIR: dir,
        PORT: String(port),
        API_KEYS: JSON.stringify(made.map((m) => m.entry)),
        LOG_LEVEL: "error",
        SCHEDULES: "off",
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const childExit = () =>
    new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once("exit", () => r());
      child.kill("SIGINT");
    });
  // Ctrl-C reaches the server too (it stops its stack); the temp dir is then removed here.
  const unregister = cleanupOnInterrupt(async () => {
    await childExit();
    await removeDir();
  });
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`server exited (${code}): ${out}`))));
  await Promise.race([
    exited,
    (async () => {
      while (!out.includes("running")) await new Promise((r) => setTimeout(r, 50));
    })(),
  ]);
  exited.catch(() => {});
  const stack = JSON.parse(await readFile(path.join(dir, "stack.json"), "utf8")) as StackFile;
  const raw = new Redis({
    url: stack.upstashUrl,
    token: stack.upstashToken,
    enableTelemetry: false,
    enableAutoPipelining: false,
    automaticDeserialization: false,
  });
  return {
    stack,
    apiUrl: stack.apiUrl,
    raw,
    keys: Object.fromEntries(made.map((m) => [m.s, m.key])) as Record<Scope, string>,
    async stop() {
      await childExit();
      await removeDir();
      unregister();
    },
  };
}

/** Latency samples (ms) of `fn` run `n` times sequentially after `warmup` runs. */
const loadAgent = new http.Agent({ keepAlive: true });

/**
 * A POST from the load generator over a keep-alive connection (node:http, not fetch: on a 2-core
 * machine the generator's own CPU is taken from the server it measures, and fetch costs several
 * times more per request). Resolves with the status and the body's text.
 */
export function loadPost(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: "POST", agent: loadAgent, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.once("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.once("error", reject);
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}

export async function sampleSequential(n: number, fn: (i: number) => Promise<unknown>, warmup = 50): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** Runs `fn` with `concurrency` workers for `seconds`; returns per-call latencies and the rate. */
export async function sampleSustained(seconds: number, concurrency: number, fn: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  let i = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await fn(i++);
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, perSecond: latencies.length / ((performance.now() - start) / 1000), errors };
}

export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline: string;
  baseline_value: number;
  ratio: number;
}

export const result = (name: string, value: number, unit: string, baseline: string, baselineValue: number): BenchResult => ({
  name,
  value: round(value),
  unit,
  baseline,
  baseline_value: round(baselineValue),
  ratio: round(baselineValue === 0 ? 0 : value / baselineValue),
});
const round = (v: number) => Math.round(v * 1000) / 1000;

/** Where the latest figures go: an ignored file, so running a bench never dirties the checkout. */
export const RESULTS_FILE = ".bench/results.json";

/** Merges results into RESULTS_FILE by name, so each bench adds to the same file. */
export async function writeResults(results: BenchResult[], file = RESULTS_FILE): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  let existing: BenchResult[] = [];
  try {
    existing = JSON.parse(await readFile(file, "utf8")) as BenchResult[];
  } catch {
    /* first run */
  }
  const byName = new Map(existing.map((r) => [r.name, r]));
  for (const r of results) byName.set(r.name, r);
  await writeFile(file, JSON.stringify([...byName.values()], null, 2) + "\n");
}

export function printTable(results: BenchResult[]): void {
  for (const r of results) {
    console.log(
      `${r.name.padEnd(44)} ${String(r.value).padStart(10)} ${r.unit.padEnd(6)} | ${r.baseline.padEnd(36)} ${String(r.baseline_value).padStart(10)}  x${r.ratio}`,
    );
  }
}
