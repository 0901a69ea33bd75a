import { interactionBody } from "../test/support/fixtures.js";
import type { FaultSpec } from "@hitl/devstack";
import { percentile, result, sampleSequential, startBenchEnv, type BenchEnv, type BenchResult } from "./support.js";

/** Production deadlines (the defaults); only the breaker cooldown is shortened so faults follow each other. */
const REDIS_MS = 1000;
const PG_MS = 5000;
const COOLDOWN_MS = 2000;
const N = 30;

type Store = "redis" | "postgres";
const FAULTS: { store: Store; name: string; spec: FaultSpec }[] = [
  { store: "redis", name: "hang", spec: { hang: true } },
  { store: "redis", name: "latency-2x-deadline", spec: { latency: { ms: 2 * REDIS_MS, jitterMs: 0 } } },
  { store: "redis", name: "http-503", spec: { status: 503 } },
  { store: "redis", name: "http-429", spec: { status: 429 } },
  { store: "redis", name: "reset", spec: { reset: true } },
  { store: "postgres", name: "hang", spec: { hang: true } },
  { store: "postgres", name: "latency-2x-deadline", spec: { latency: { ms: 2 * PG_MS, jitterMs: 0 } } },
  { store: "postgres", name: "http-503", spec: { status: 503 } },
  { store: "postgres", name: "reset", spec: { reset: true } },
  { store: "postgres", name: "cold-start-800ms", spec: { coldStart: { idleMs: 0, delayMs: 800 } } },
];

/**
 * `npm run bench -- faults`: for each fault injected into the running service's stack, the answer
 * time (p50/p99) and error rate of a route that needs the failing store and of one that does not,
 * beside the deadline; then warm-path ingest p50 with the deadline machinery on and off (two
 * servers, measured in alternating blocks in the same run).
 */
export async function faultsBench(_shared: BenchEnv): Promise<BenchResult[]> {
  const env = await startBenchEnv({ BREAKER_COOLDOWN_MS: String(COOLDOWN_MS), PG_BREAKER_COOLDOWN_MS: String(COOLDOWN_MS) });
  const off = await startBenchEnv({ REDIS_TIMEOUT_MS: "0", PG_TIMEOUT_MS: "0" });
  try {
    const out: BenchResult[] = [];
    const call = (e: BenchEnv, method: string, path: string, key: string, body?: unknown) =>
      fetch(e.apiUrl + path, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const setFault = (store: Store, spec?: FaultSpec) =>
      fetch(`${store === "redis" ? env.stack.upstashUrl : env.stack.neonProxyUrl}/__faults`, {
        method: spec ? "POST" : "DELETE",
        headers: { "x-fault-token": env.stack.faultToken, "content-type": "application/json" },
        body: spec && JSON.stringify(spec),
      });
    const user = "bench-fault-user";
    for (const e of [env, off]) {
      await call(e, "PUT", `/v1/users/${user}/status`, e.keys.reviewer, { customer_status: "CUSTOMER" });
      await call(e, "PUT", `/v1/users/${user}/protocol`, e.keys.reviewer, { status: "INACTIVE" });
    }
    let tg = 0;
    const routes = {
      "cached-read": () => call(env, "GET", `/v1/users/${user}/status`, env.keys.agent),
      ingest: () => call(env, "POST", "/v1/messages", env.keys.bot, { user_id: user, text: "hi", telegram_message_id: ++tg }),
      "pg-write": () => call(env, "POST", "/v1/interactions", env.keys.agent, interactionBody({ user_id: user })),
    };
    for (const f of FAULTS) {
      const names = f.store === "redis" ? (["cached-read", "ingest"] as const) : (["pg-write", "ingest"] as const);
      console.log(`  ${f.store} ${f.name}: ${N} sequential requests to ${names.join(" and ")} ...`);
      await setFault(f.store, f.spec);
      try {
        for (const r of names) {
          let errors = 0;
          const times = await sampleSequential(
            N,
            async () => {
              const res = await routes[r]();
              await res.arrayBuffer();
              if (res.status >= 500) errors++;
            },
            0,
          );
          const deadline = f.store === "redis" ? REDIS_MS : PG_MS;
          const base = `faults.${f.store}.${f.name}.${r}`;
          out.push(result(`${base}.p50`, percentile(times, 50), "ms", `${f.store} deadline`, deadline));
          out.push(result(`${base}.p99`, percentile(times, 99), "ms", `${f.store} deadline`, deadline));
          out.push(result(`${base}.error_rate`, (100 * errors) / N, "%", "requests", N));
        }
      } finally {
        await setFault(f.store);
      }
      // Let the breaker's cooldown pass, then one request closes it.
      await new Promise((r) => setTimeout(r, COOLDOWN_MS + 100));
      await (await routes[f.store === "redis" ? "ingest" : "pg-write"]()).arrayBuffer();
    }

    console.log("  warm-path ingest, deadlines on and off: 10 alternating blocks of 200 ...");
    const on: number[] = [];
    const without: number[] = [];
    for (let block = 0; block < 10; block++) {
      for (const [e, into] of [
        [env, on],
        [off, without],
      ] as const) {
        into.push(
          ...(await sampleSequential(
            200,
            async () => {
              const res = await call(e, "POST", "/v1/messages", e.keys.bot, {
                user_id: user,
                text: "warm",
                telegram_message_id: 1e9 + ++tg,
              });
              if (res.status !== 202) throw new Error(`ingest ${res.status}`);
              await res.arrayBuffer();
            },
            block === 0 ? 100 : 0,
          )),
        );
      }
    }
    out.push(result("faults.ingest.deadlines-on.p50", percentile(on, 50), "ms", "deadlines off p50", percentile(without, 50)));
    return out;
  } finally {
    await Promise.all([env.stop(), off.stop()]);
  }
}
