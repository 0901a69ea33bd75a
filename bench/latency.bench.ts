import { percentile, result, type BenchEnv, type BenchResult } from "./support.js";
import { benchUser, call, injectLatency, walkOneMessage, type Step } from "./pipeline.js";

/**
 * `npm run bench -- latency`: every route a bot or the LLM pipeline calls per message, under the
 * latency production's network adds (Redis +2 ms, Postgres +6 ms by default; BENCH_REDIS_MS,
 * BENCH_PG_MS), cold (a user's first message: every cache empty) and warm (the same user's next
 * message). Each route's floor is what its own round trips cost at that latency: the Redis and
 * Postgres requests it made (counted at the stores' front doors) times the injected latency. The
 * floor is the baseline; the target is p50 ≤ 1.3x the floor. Then the first request after 10 s idle
 * beside a warm one (a sparse Lambda's stale connections).
 */
export async function latencyBench(env: BenchEnv): Promise<BenchResult[]> {
  const ms = { redis: Number(process.env.BENCH_REDIS_MS ?? 2), postgres: Number(process.env.BENCH_PG_MS ?? 6) };
  const rounds = Number(process.env.BENCH_LATENCY_ROUNDS ?? 30);
  const out: BenchResult[] = [];
  // Warm the server's code paths and connections before measuring.
  for (let i = 0; i < 5; i++) await walkOneMessage(env, benchUser("warmup"), 900_000 + i, false);
  await injectLatency(env, ms);
  try {
    const samples = { cold: new Map<string, Step[]>(), warm: new Map<string, Step[]>() };
    for (let r = 0; r < rounds; r++) {
      const user = benchUser("lat");
      for (const [phase, n] of [
        ["cold", 2 * r],
        ["warm", 2 * r + 1],
      ] as const) {
        for (const s of await walkOneMessage(env, user, 100_000 + n)) {
          const list = samples[phase].get(s.route) ?? [];
          list.push(s);
          samples[phase].set(s.route, list);
        }
      }
    }
    console.log(`  injected: Redis +${ms.redis} ms, Postgres +${ms.postgres} ms per request; ${rounds} messages cold, ${rounds} warm`);
    console.log(
      `  ${"route".padEnd(34)} ${"phase".padEnd(5)} ${"redis".padStart(5)} ${"pg".padStart(3)} ${"floor".padStart(6)} ${"p50".padStart(7)} ${"p99".padStart(7)} ${"x".padStart(5)}`,
    );
    for (const phase of ["cold", "warm"] as const) {
      for (const [route, steps] of samples[phase]) {
        const lat = steps.map((s) => s.answer.ms);
        const redis = median(steps.map((s) => s.cost.redis.requests));
        const pg = median(steps.map((s) => s.cost.postgres.requests));
        const floor = redis * ms.redis + pg * ms.postgres;
        const p50 = percentile(lat, 50);
        const p99 = percentile(lat, 99);
        console.log(
          `  ${route.padEnd(34)} ${phase.padEnd(5)} ${String(redis).padStart(5)} ${String(pg).padStart(3)} ${floor.toFixed(0).padStart(6)} ${p50.toFixed(1).padStart(7)} ${p99.toFixed(1).padStart(7)} ${(floor ? p50 / floor : 0).toFixed(2).padStart(5)}`,
        );
        out.push(result(`latency ${phase} ${route} p50`, p50, "ms", `floor: ${redis} Redis + ${pg} Postgres round trips`, floor));
        out.push(result(`latency ${phase} ${route} p99`, p99, "ms", `floor: ${redis} Redis + ${pg} Postgres round trips`, floor));
      }
    }
    // A sparse Lambda: the first request after 10 s without traffic, beside a warm one.
    const user = benchUser("idle");
    await walkOneMessage(env, user, 990_000, false);
    const warm = (await call(env, "GET", `/v1/users/${user}/status`, env.keys.agent)).ms;
    await new Promise((r) => setTimeout(r, Number(process.env.BENCH_IDLE_MS ?? 10_000)));
    const idle = (await call(env, "GET", `/v1/users/${user}/status`, env.keys.agent)).ms;
    out.push(result("latency GET status after 10 s idle", idle, "ms", "the same request warm", warm));
  } finally {
    await injectLatency(env, { redis: 0, postgres: 0 });
  }
  return out;
}

function median(xs: number[]): number {
  return percentile(xs, 50);
}
