import { readFile } from "node:fs/promises";
import { result, type BenchEnv, type BenchResult } from "./support.js";
import { benchUser, injectLatency, walkOneMessage, type Step } from "./pipeline.js";

/**
 * `npm run bench -- cost`: what one message costs through the whole pipeline (ingest, claim,
 * interaction, ack, review claim, approve, outbox claim, sent, and the memory and status reads
 * before the next draft), counted at the stores' front doors: Upstash commands and requests,
 * Neon queries and bytes, Lambda invocations and billed duration at the API's memory size. Then
 * dollars per 1,000,000 messages and per month at the seed's 6-month projection (25,000
 * messages a day) and at 100x, at the list prices below.
 */

/** List prices, read on 2026-12-07 from the pages named (us-east-1 where a region applies). */
export const PRICES = {
  upstashPer100kCommands: {
    usd: 0.2,
    source: "upstash.com/docs/redis/overall/billing (Pay-As-You-Go: $0.20 per 100K commands; storage $0.25/GB-month after 1 GB)",
  },
  upstashStorageGbMonth: { usd: 0.25, source: "same page" },
  lambdaPerMillionRequests: { usd: 0.2, source: "aws.amazon.com/lambda/pricing ($0.20 per 1M requests)" },
  lambdaArmGbSecond: { usd: 0.0000133334, source: "aws.amazon.com/lambda/pricing (Arm, first 7.5B GB-s: $0.0000133334)" },
  neonCuHour: { usd: 0.14, source: "neon.com/docs/introduction/plans (Launch: $0.14/CU-hour; storage $0.35/GB-month)" },
  neonStorageGbMonth: { usd: 0.35, source: "same page" },
} as const;

/** The seed's 6-month projection (DATA_STORAGE_LAYER_ADDENDUM.md, Growth Projections) and 100x. */
const SCALES = [
  { name: "6-month projection", perDay: 25_000, postgresGb: 15, redisGb: 3, neonCu: 0.25 },
  { name: "100x", perDay: 2_500_000, postgresGb: 1500, redisGb: 300, neonCu: 4 },
] as const;

export async function costBench(env: BenchEnv): Promise<BenchResult[]> {
  const messages = Number(process.env.BENCH_COST_MESSAGES ?? 40);
  const memoryMb = await apiMemoryMb();
  // Warm code paths; then users with several messages each, as the projection has (25 a day each).
  for (let i = 0; i < 3; i++) await walkOneMessage(env, benchUser("warmup"), 800_000 + i, false);
  const users = Array.from({ length: Math.max(1, Math.floor(messages / 5)) }, () => benchUser("cost"));
  // Billed duration is the latency production sees: the stores' network latency is injected.
  const latency = { redis: Number(process.env.BENCH_REDIS_MS ?? 2), postgres: Number(process.env.BENCH_PG_MS ?? 6) };
  await injectLatency(env, latency);
  const walks: Step[][] = [];
  try {
    for (let i = 0; i < messages; i++) walks.push(await walkOneMessage(env, users[i % users.length]!, 700_000 + i));
  } finally {
    await injectLatency(env, { redis: 0, postgres: 0 });
  }

  const per = (f: (s: Step) => number) => walks.reduce((sum, w) => sum + w.reduce((a, s) => a + f(s), 0), 0) / walks.length;
  const m = {
    upstashCommands: per((s) => s.cost.redis.commands),
    upstashRequests: per((s) => s.cost.redis.requests),
    neonQueries: per((s) => s.cost.postgres.commands),
    neonRequests: per((s) => s.cost.postgres.requests),
    neonBytes: per((s) => s.cost.postgres.bytesOut),
    invocations: per(() => 1),
    // Lambda bills each invocation's duration rounded up to the millisecond.
    billedMs: per((s) => Math.ceil(s.answer.ms)),
  };
  const gbSeconds = (m.billedMs / 1000) * (memoryMb / 1024);
  const perMessage = {
    upstash: (m.upstashCommands / 100_000) * PRICES.upstashPer100kCommands.usd,
    lambdaRequests: (m.invocations / 1_000_000) * PRICES.lambdaPerMillionRequests.usd,
    lambdaDuration: gbSeconds * PRICES.lambdaArmGbSecond.usd,
  };
  const variable = perMessage.upstash + perMessage.lambdaRequests + perMessage.lambdaDuration;

  console.log(`  one message, mean of ${messages} (${users.length} users), through the API at ${memoryMb} MB:`);
  console.log(`    Upstash   ${m.upstashCommands.toFixed(2)} commands in ${m.upstashRequests.toFixed(2)} requests`);
  console.log(
    `    Neon      ${m.neonQueries.toFixed(2)} queries in ${m.neonRequests.toFixed(2)} requests, ${(m.neonBytes / 1024).toFixed(1)} KiB answered`,
  );
  console.log(
    `    Lambda    ${m.invocations.toFixed(0)} invocations, ${m.billedMs.toFixed(0)} ms billed (Redis +${latency.redis} ms, Postgres +${latency.postgres} ms injected), ${gbSeconds.toFixed(4)} GB-s`,
  );
  console.log(`    S3        0 requests (backups and archives are per day, not per message)`);
  console.log(
    `  per 1,000,000 messages: Upstash $${(perMessage.upstash * 1e6).toFixed(2)}, Lambda requests $${(perMessage.lambdaRequests * 1e6).toFixed(2)}, Lambda duration $${(perMessage.lambdaDuration * 1e6).toFixed(2)}: $${(variable * 1e6).toFixed(2)} + Neon compute time`,
  );
  for (const s of SCALES) {
    const monthly = s.perDay * 30;
    const neonCompute = s.neonCu * 730 * PRICES.neonCuHour.usd;
    const storage = s.postgresGb * PRICES.neonStorageGbMonth.usd + Math.max(0, s.redisGb - 1) * PRICES.upstashStorageGbMonth.usd;
    const total = variable * monthly + neonCompute + storage;
    console.log(
      `  ${s.name.padEnd(20)} ${monthly.toLocaleString("en-US")} messages/month: per-message $${(variable * monthly).toFixed(2)} + Neon ${s.neonCu} CU always on $${neonCompute.toFixed(2)} + storage $${storage.toFixed(2)} = $${total.toFixed(2)}/month`,
    );
  }
  console.log("  prices:");
  for (const [name, p] of Object.entries(PRICES)) console.log(`    ${name}: $${p.usd} (${p.source})`);

  return [
    result("cost Upstash commands per message", m.upstashCommands, "cmd", "Upstash requests per message", m.upstashRequests),
    result("cost Neon queries per message", m.neonQueries, "query", "Neon requests per message", m.neonRequests),
    result("cost Lambda invocations per message", m.invocations, "inv", "Lambda invocations per message", m.invocations),
    result("cost USD per 1M messages (variable)", variable * 1e6, "USD", "Upstash share", perMessage.upstash * 1e6),
  ];
}

/** The API function's memory size, as infra/api.ts sets it. */
async function apiMemoryMb(): Promise<number> {
  const src = await readFile("infra/api.ts", "utf8");
  const sizes = [...src.matchAll(/memory:\s*"(\d+) MB"/g)].map((x) => Number(x[1]));
  return sizes[sizes.length - 1] ?? 512;
}
