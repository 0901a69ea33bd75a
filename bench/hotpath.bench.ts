import { spawn, spawnSync, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createMetrics, generateKey } from "@hitl/core";
import { emfPublisher } from "../functions/lib/emf.js";
import { freePort } from "@hitl/devstack";
import { bundle, coldStartFiles, firstUseFiles, totalBytes } from "../scripts/bundle.js";
import { localSettings } from "../scripts/local-env.js";
import { cleanupOnInterrupt } from "../scripts/interrupt.js";
import { loadPost, percentile, result, sampleSequential, sampleSustained, type BenchEnv, type BenchResult } from "./support.js";

const SECONDS = 5;
const CONCURRENCY = 16;
const IMPORTS = 10;
/** Distinct senders: the warm-up reaches each once, so the runs measure the warm path (protocol cache hit). */
const USERS = 500;

/**
 * Median time (ms) a fresh Node process takes to import each file (the cold start's module cost),
 * the files interleaved round by round so that a slower stretch of the shared machine falls on all alike.
 */
function coldImports<T extends string[]>(...files: T): { [K in keyof T]: number } {
  // Settings as in Lambda (values only need to be well-formed: importing reaches no store).
  const env = { ...process.env, UPSTASH_REDIS_REST_URL: "https://example.upstash.io", UPSTASH_REDIS_REST_TOKEN: "token" };
  const times = files.map(() => [] as number[]);
  for (let round = 0; round < IMPORTS; round++) {
    files.forEach((file, i) =>
      times[i]!.push(
        Number(
          execFileSync(
            process.execPath,
            [
              "--input-type=module",
              "-e",
              "const t = performance.now(); await import(process.argv[1]); console.log(performance.now() - t)",
              file,
            ],
            { encoding: "utf8", env },
          ).trim(),
        ),
      ),
    );
  }
  return times.map((t) => percentile(t, 50)) as { [K in keyof T]: number };
}

/** A Lambda Function URL (payload v2) event: one single-message ingest. */
function ingestEvent(key: string, userId: string) {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: "/v1/messages",
    rawQueryString: "",
    isBase64Encoded: false,
    headers: { host: "x.lambda-url.us-east-1.on.aws", authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ user_id: userId, text: "the first message of a cold start" }),
    requestContext: {
      accountId: "anonymous",
      apiId: "x",
      domainName: "x.lambda-url.us-east-1.on.aws",
      domainPrefix: "x",
      http: { method: "POST", path: "/v1/messages", protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "bench" },
      requestId: "cold",
      routeKey: "$default",
      stage: "$default",
      time: "02/Dec/2026:00:00:00 +0000",
      timeEpoch: Date.now(),
    },
  };
}

/**
 * A cold start up to its first answer, as Lambda runs it: a fresh process imports `file` and its
 * handler answers one single-message ingest (Function URL event) against the running stack (the
 * sender's protocol is cached, so the answer is one Redis call for both apps). Median ms of IMPORTS.
 */
function coldFirstResponses(files: [Cold, Cold]): [number, number] {
  const script = `const t = performance.now(); const { handler } = await import(process.argv[1]);
    const res = await handler(JSON.parse(process.argv[2]), { getRemainingTimeInMillis: () => 30000, awsRequestId: "cold", functionName: "bench" });
    if (res.statusCode !== 202) throw new Error("cold ingest answered " + res.statusCode);
    console.error("COLD", performance.now() - t); process.exit(0);`;
  const times = files.map(() => [] as number[]);
  for (let round = 0; round < IMPORTS; round++) {
    files.forEach(({ file, env, key }, i) => {
      const run = spawnSync(
        process.execPath,
        ["--input-type=module", "-e", script, file, JSON.stringify(ingestEvent(key, `hot-${round % USERS}`))],
        { encoding: "utf8", env: { ...process.env, ...env } },
      );
      const ms = /COLD (\S+)/.exec(run.stderr)?.[1];
      if (run.status !== 0 || !ms) throw new Error(`cold start of ${file} failed: ${run.stderr.slice(-500)}`);
      times[i]!.push(Number(ms));
    });
  }
  return [percentile(times[0]!, 50), percentile(times[1]!, 50)];
}

type Cold = { file: string; env: Record<string, string | undefined>; key: string };

/**
 * `npm run bench -- hotpath`: the API's single-message ingest beside a minimal Hono handler that
 * does the same single EVAL through the same client and bridge, with the same bearer check and JSON
 * parse (bench/minimal), in the same run and at the same concurrency, each app in a process of its
 * own: sustained messages/s, p50, p99; the EMF flush each Lambda invocation ends with; then each
 * one's Lambda bundle (built alike; what a cold start loads, the API's lazily loaded chunks beside) for size
 * and cold import (median of 10), and the cold import of the minimal handler validating its body with
 * one zod schema (bench/minimal/zod-handler.ts): what zod alone adds to a cold start.
 */
export async function hotpathBench(env: BenchEnv): Promise<BenchResult[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-hotpath-"));
  const unregister = cleanupOnInterrupt(() => rm(dir, { recursive: true, force: true }));
  const key = `min_${randomBytes(16).toString("hex")}`;
  const bot = generateKey("hotpath-bot", ["bot"]);
  const stackFile = path.join(dir, "stack.json");
  await writeFile(stackFile, JSON.stringify(env.stack));
  // Each app in a process of its own, neither sharing its event loop with the stack's bridge.
  const [apiPort, minPort] = [await freePort(), await freePort()];
  const children = [
    serveChild("bench/api-server.ts", {
      PORT: String(apiPort),
      STACK_FILE: stackFile,
      API_KEYS: JSON.stringify([bot.entry]),
      LOG_LEVEL: "error",
    }),
    serveChild("bench/minimal/server.ts", {
      PORT: String(minPort),
      UPSTASH_REDIS_REST_URL: env.stack.upstashUrl,
      UPSTASH_REDIS_REST_TOKEN: env.stack.upstashToken,
      MINIMAL_KEY_SHA256: createHash("sha256").update(key).digest("hex"),
    }),
  ];
  try {
    await Promise.all(children.map((c) => c.ready));
    let n = 0;
    const ingest = (url: string, k: string) => async () => {
      const { status } = await loadPost(
        `${url}/v1/messages`,
        { authorization: `Bearer ${k}`, "content-type": "application/json" },
        JSON.stringify({ user_id: `hot-${n % USERS}`, text: `hot path message ${n++}` }),
      );
      if (status !== 202) throw new Error(`ingest answered ${status}`);
    };
    const api = ingest(`http://127.0.0.1:${apiPort}`, bot.key);
    const minimal = ingest(`http://127.0.0.1:${minPort}`, key);
    console.log(`  warm-up, then ${SECONDS} s each at ${CONCURRENCY} concurrent requests (minimal, API, raw EVAL), twice, alternating ...`);
    await sampleSustained(1, CONCURRENCY, api);
    await sampleSustained(1, CONCURRENCY, minimal);
    await sampleSequential(USERS, api, 0);
    await sampleSequential(USERS, minimal, 0);
    type Sample = Awaited<ReturnType<typeof sampleSustained>>;
    const runs = { api: [] as Sample[], minimal: [] as Sample[], raw: [] as Sample[] };
    // One raw call through the same client and bridge, at the same concurrency: sampled in each
    // round too, so that a slower stretch of the shared machine weighs on the baseline as on the apps.
    const rawCall = () => env.raw.eval("return 1", [], []);
    for (let round = 0; round < 2; round++) {
      runs.minimal.push(await sampleSustained(SECONDS, CONCURRENCY, minimal));
      runs.api.push(await sampleSustained(SECONDS, CONCURRENCY, api));
      runs.raw.push(await sampleSustained(SECONDS, CONCURRENCY, rawCall));
    }
    const rate = (r: typeof runs.api) => r.reduce((s, x) => s + x.perSecond, 0) / r.length;
    const lat = (r: typeof runs.api) => r.flatMap((x) => x.latencies);
    const errors = [...runs.api, ...runs.minimal].reduce((s, x) => s + x.errors, 0);
    if (errors) throw new Error(`${errors} failed requests`);
    const raw = { latencies: lat(runs.raw) };

    const emf = await emfFlushMicros();

    console.log("  bundles and cold imports ...");
    const apiFile = path.join(dir, "api", "index.mjs");
    const minFile = path.join(dir, "minimal", "index.mjs");
    const zodFile = path.join(dir, "minimal-zod", "index.mjs");
    await bundle("functions/api/handler.ts", apiFile, true);
    await bundle("bench/minimal/handler.ts", minFile);
    await bundle("bench/minimal/zod-handler.ts", zodFile);
    // What a cold start loads: the entry file and the chunks it imports statically.
    const [apiSize, minSize] = [totalBytes(coldStartFiles(apiFile)) / 1024, totalBytes(coldStartFiles(minFile)) / 1024];
    const lazy = totalBytes(firstUseFiles(apiFile));
    const [apiImport, minImport, zodImport] = coldImports(apiFile, minFile, zodFile);
    const [apiCold, minCold] = coldFirstResponses([
      { file: apiFile, key: bot.key, env: { ...localSettings(env.stack, JSON.stringify([bot.entry])), LOG_LEVEL: "error" } },
      {
        file: minFile,
        key,
        env: {
          UPSTASH_REDIS_REST_URL: env.stack.upstashUrl,
          UPSTASH_REDIS_REST_TOKEN: env.stack.upstashToken,
          MINIMAL_KEY_SHA256: createHash("sha256").update(key).digest("hex"),
        },
      },
    ]);
    return [
      result("hotpath.ingest.sustained", rate(runs.api), "msg/s", `minimal handler, ${CONCURRENCY} concurrent`, rate(runs.minimal)),
      result("hotpath.ingest.p50", percentile(lat(runs.api), 50), "ms", "minimal handler p50", percentile(lat(runs.minimal), 50)),
      result("hotpath.ingest.p99", percentile(lat(runs.api), 99), "ms", "minimal handler p99", percentile(lat(runs.minimal), 99)),
      result(
        "hotpath.ingest.p50_vs_raw",
        percentile(lat(runs.api), 50),
        "ms",
        `one raw Upstash EVAL p50, ${CONCURRENCY} concurrent`,
        percentile(raw.latencies, 50),
      ),
      result("hotpath.emf.flush", emf, "µs", "one raw Upstash EVAL p50, in µs", percentile(raw.latencies, 50) * 1000),
      result(
        "hotpath.bundle.size",
        apiSize,
        "KiB",
        "minimal Hono + Upstash + Neon bundle (entry and shared chunks a cold start loads)",
        minSize,
      ),
      result(
        "hotpath.bundle.lazy_chunks",
        lazy / 1024,
        "KiB",
        "what a cold start loads (on first use: Neon, ratelimit, the document, the status page)",
        apiSize,
      ),
      result("hotpath.bundle.cold_import", apiImport, "ms", `minimal bundle, median of ${IMPORTS}`, minImport),
      // The floor zod sets: the minimal handler validating its body with one zod schema.
      result("hotpath.bundle.cold_import_zod_floor", zodImport, "ms", `minimal bundle, median of ${IMPORTS}`, minImport),
      // What a Lambda cold start pays before its first byte: import, services, the first store call.
      result("hotpath.cold_start.first_response", apiCold, "ms", `minimal handler, import + first ingest, median of ${IMPORTS}`, minCold),
    ];
  } finally {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.child.exitCode !== null) return r();
            c.child.once("exit", () => r());
            c.child.kill("SIGTERM");
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
    unregister();
  }
}

/**
 * What each Lambda invocation adds after its response: the EMF flush of the instance's metrics
 * (functions/api/handler.ts), here after one ingest's worth of metrics; mean µs over 2,000 flushes,
 * stdout discarded.
 */
async function emfFlushMicros(): Promise<number> {
  const metrics = createMetrics();
  const publisher = emfPublisher(metrics.registry);
  const write = process.stdout.write.bind(process.stdout);
  (process.stdout as { write: unknown }).write = () => true;
  try {
    const once = async () => {
      metrics.httpRequests.inc({ method: "POST", route: "/v1/messages", status: "202" });
      metrics.httpDuration.observe({ method: "POST", route: "/v1/messages" }, 0.004);
      metrics.operationLatency.observe({ op: "wal.ingest" }, 0.003);
      metrics.walIngested.inc({ status: "queued" });
      await publisher.publish();
    };
    for (let i = 0; i < 200; i++) await once();
    const t = performance.now();
    for (let i = 0; i < 2000; i++) await once();
    return ((performance.now() - t) * 1000) / 2000;
  } finally {
    (process.stdout as { write: unknown }).write = write;
  }
}

/** A server script in a child process, ready once it prints its port. */
function serveChild(script: string, extra: Record<string, string>) {
  // HOTPATH_CPU_PROF=<dir>: V8 CPU profiles of both apps (`--cpu-prof`), for the closing figures.
  // One directory per app: its main thread's profile is the largest file there.
  const prof = process.env.HOTPATH_CPU_PROF
    ? ["--cpu-prof", `--cpu-prof-dir=${path.join(process.env.HOTPATH_CPU_PROF, path.basename(script, ".ts"))}`]
    : [];
  const child = spawn(process.execPath, [...prof, "--import", "tsx", script], {
    env: { ...process.env, ...extra },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (c) => {
      if (/ on \d+/.test(String(c))) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return { child, ready };
}
