import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { percentile, result, type BenchEnv, type BenchResult } from "./support.js";
import { benchUser, call, delta, injectLatency, snapshot, walkOneMessage, type Step, type Store } from "./pipeline.js";

/**
 * `npm run bench -- latency`: every route a bot or the LLM pipeline calls per message, under the
 * latency production's network adds (Redis +2 ms, Postgres +6 ms by default; BENCH_REDIS_MS,
 * BENCH_PG_MS), cold (a user's first message: every cache empty) and warm (the same user's next
 * message). Each route's floor is what its own round trips cost at that latency: the Redis and
 * Postgres requests it made (counted at the stores' front doors) times the injected latency. The
 * floor is the baseline; the target is p50 ≤ 1.3x the floor. The same walk with nothing injected,
 * in the same run, shows what the local HTTP hops cost (client to API, API to the REST bridge and
 * the Neon proxy, all on this machine): the last column, (p50 − p50 at zero) / floor, is what the
 * injected latency cost beside what it had to cost. Then the first request after 10 s idle beside
 * a warm one (a sparse Lambda's stale connections).
 */
export async function latencyBench(env: BenchEnv): Promise<BenchResult[]> {
  const ms: Record<Store, number> = { redis: Number(process.env.BENCH_REDIS_MS ?? 2), postgres: Number(process.env.BENCH_PG_MS ?? 6) };
  const rounds = Number(process.env.BENCH_LATENCY_ROUNDS ?? 30);
  const out: BenchResult[] = [];
  // Warm the server's code paths and connections before measuring.
  for (let i = 0; i < 5; i++) await walkOneMessage(env, benchUser("warmup"), 900_000 + i, false);
  try {
    await injectLatency(env, { redis: 0, postgres: 0 });
    const zero = await walk(env, rounds, 100_000);
    await injectLatency(env, ms);
    const injected = await walk(env, rounds, 200_000);
    console.log(
      `  injected: Redis +${ms.redis} ms, Postgres +${ms.postgres} ms per request; ${rounds} messages cold, ${rounds} warm, each with and without`,
    );
    console.log(
      `  ${"route".padEnd(30)} ${"phase".padEnd(5)} ${"redis".padStart(5)} ${"pg".padStart(3)} ${"floor".padStart(6)} ${"p50@0".padStart(6)} ${"p50".padStart(6)} ${"p99".padStart(6)} ${"x".padStart(5)} ${"Δ/floor".padStart(8)}`,
    );
    for (const phase of ["cold", "warm"] as const) {
      for (const [route, steps] of injected[phase]) {
        const lat = steps.map((s) => s.answer.ms);
        const redis = median(steps.map((s) => s.cost.redis.requests));
        const pg = median(steps.map((s) => s.cost.postgres.requests));
        const floor = redis * ms.redis + pg * ms.postgres;
        const p50 = percentile(lat, 50);
        const p99 = percentile(lat, 99);
        const p50zero = percentile(
          (zero[phase].get(route) ?? []).map((s) => s.answer.ms),
          50,
        );
        const overFloor = floor ? (p50 - p50zero) / floor : 0;
        console.log(
          `  ${route.padEnd(30)} ${phase.padEnd(5)} ${String(redis).padStart(5)} ${String(pg).padStart(3)} ${floor.toFixed(0).padStart(6)} ${p50zero.toFixed(1).padStart(6)} ${p50.toFixed(1).padStart(6)} ${p99.toFixed(1).padStart(6)} ${(floor ? p50 / floor : 0).toFixed(2).padStart(5)} ${overFloor.toFixed(2).padStart(8)}`,
        );
        const trips = `floor: ${redis} Redis + ${pg} Postgres round trips`;
        out.push(result(`latency ${phase} ${route} p50`, p50, "ms", trips, floor));
        out.push(result(`latency ${phase} ${route} p99`, p99, "ms", trips, floor));
        out.push(result(`latency ${phase} ${route} p50 − p50 at zero`, p50 - p50zero, "ms", trips, floor));
      }
    }
    // A sparse Lambda: the first request after 10 s without traffic, beside a warm one. Connections
    // are kept 60 s (core's resilience/keep-alive.ts): the idle one reuses them. Before, they were
    // dropped after 4 s, so it paid a new connection to each store it called: locally a TCP connect,
    // in production TCP + TLS 1.3 (2 round trips) and the handshake's CPU, measured here for real.
    const user = benchUser("idle");
    await walkOneMessage(env, user, 990_000, false);
    const idleMs = Number(process.env.BENCH_IDLE_MS ?? 10_000);
    const warms: number[] = [];
    const idles: number[] = [];
    let opened = 0;
    const idleRounds = Number(process.env.BENCH_IDLE_ROUNDS ?? 3);
    for (let i = 0; i < idleRounds; i++) {
      warms.push((await call(env, "GET", `/v1/users/${user}/status`, env.keys.agent)).ms);
      await new Promise((r) => setTimeout(r, idleMs));
      const before = await snapshot(env);
      idles.push((await call(env, "GET", `/v1/users/${user}/status`, env.keys.agent)).ms);
      const cost = delta(before, await snapshot(env));
      opened += cost.redis.connections + cost.postgres.connections;
    }
    const warm = percentile(warms, 50);
    const idle = percentile(idles, 50);
    const tls = await measureHandshake();
    // GET status (warm) calls Redis once: with connections dropped at 4 s it paid one new connection.
    const before = idle + 2 * ms.redis + tls.handshakeMs;
    console.log(
      `  GET status warm ${warm.toFixed(1)} ms; first after ${idleMs / 1000} s idle ${idle.toFixed(1)} ms, opening ${(opened / idleRounds).toFixed(1)} new store connections per request`,
    );
    console.log(
      `  a new TLS connection, measured on loopback: ${tls.freshMs.toFixed(2)} ms per request vs ${tls.reusedMs.toFixed(2)} reused (handshake CPU ${tls.handshakeMs.toFixed(2)} ms);`,
    );
    console.log(
      `  with the 4 s idle timeout it replaced, the same request after ${idleMs / 1000} s: ${before.toFixed(1)} ms (+ TCP and TLS 1.3 round trips, 2 x ${ms.redis} ms, + handshake CPU)`,
    );
    out.push(result(`latency GET status after ${idleMs / 1000} s idle`, idle, "ms", "the same request warm", warm));
    out.push(
      result(`latency new store connections per request after ${idleMs / 1000} s idle`, opened / idleRounds, "", "none when kept", 0),
    );
    out.push(
      result(`latency GET status after ${idleMs / 1000} s idle, 4 s keep-alive (model)`, before, "ms", "the same request warm", warm),
    );
    out.push(
      result("latency new TLS connection + request (loopback)", tls.freshMs, "ms", "the same request on a kept connection", tls.reusedMs),
    );
  } finally {
    await injectLatency(env, { redis: 0, postgres: 0 });
  }
  return out;
}

type Samples = Record<"cold" | "warm", Map<string, Step[]>>;

/** `rounds` new users, each with a first (cold) and a second (warm) message through the pipeline. */
async function walk(env: BenchEnv, rounds: number, base: number): Promise<Samples> {
  const samples: Samples = { cold: new Map(), warm: new Map() };
  for (let r = 0; r < rounds; r++) {
    const user = benchUser("lat");
    for (const [phase, n] of [
      ["cold", 2 * r],
      ["warm", 2 * r + 1],
    ] as const) {
      for (const s of await walkOneMessage(env, user, base + n)) {
        const list = samples[phase].get(s.route) ?? [];
        list.push(s);
        samples[phase].set(s.route, list);
      }
    }
  }
  return samples;
}

function median(xs: number[]): number {
  return percentile(xs, 50);
}

/**
 * What a new connection costs beyond a kept one, measured for real: requests to a local HTTPS
 * server (a self-signed certificate made by openssl, TLS 1.3) each on a new connection, beside the
 * same requests on one kept-alive connection. On loopback the handshake's round trips cost nothing,
 * so the difference is its CPU (key exchange, certificate, both ends on this machine).
 */
export async function measureHandshake(n = 40): Promise<{ freshMs: number; reusedMs: number; handshakeMs: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-bench-tls-"));
  try {
    const [key, cert] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")];
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"].concat([
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key,
        "-out",
        cert,
      ]),
      { stdio: "ignore" },
    );
    const ca = await readFile(cert);
    const server = https.createServer({ key: await readFile(key), cert: ca, minVersion: "TLSv1.3" }, (_req, res) =>
      res.end('{"result":"OK"}'),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const timeOne = (agent: https.Agent) =>
      new Promise<number>((resolve, reject) => {
        const t = performance.now();
        https
          .request({ host: "127.0.0.1", port, method: "POST", agent, ca }, (res) => {
            res.resume();
            res.on("end", () => resolve(performance.now() - t));
          })
          .on("error", reject)
          .end("[]");
      });
    const sample = async (agent: https.Agent) => {
      const xs: number[] = [];
      for (let i = 0; i < n + 5; i++) xs.push(await timeOne(agent));
      return percentile(xs.slice(5), 50);
    };
    try {
      const kept = new https.Agent({ keepAlive: true, maxSockets: 1 });
      const reusedMs = await sample(kept);
      kept.destroy();
      const freshMs = await sample(new https.Agent({ keepAlive: false }));
      return { freshMs, reusedMs, handshakeMs: Math.max(0, freshMs - reusedMs) };
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
