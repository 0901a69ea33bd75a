import { randomUUID } from "node:crypto";
import { loadPost, percentile, result, sampleSequential, sampleSustained, type BenchEnv, type BenchResult } from "./support.js";

const N = 2000;

/**
 * Ingest, claim and ack through the HTTP API, each beside the same operation done with one raw
 * @upstash/redis call through the same REST bridge (the physical floor of a WAL write).
 */
export async function walBench(env: BenchEnv): Promise<BenchResult[]> {
  const post = async (path: string, key: string, body: unknown) => {
    const res = await loadPost(
      env.apiUrl + path,
      { authorization: `Bearer ${key}`, "content-type": "application/json" },
      JSON.stringify(body),
    );
    if (res.status >= 300) throw new Error(`${path}: ${res.status} ${res.text}`);
    return JSON.parse(res.text) as any;
  };
  const rawKey = "bench:raw:list";
  const msg = (i: number) => ({
    user_id: `bench-${i % 200}`,
    text: `benchmark message ${i} with a realistic length of text to send`,
    telegram_message_id: 1_000_000 + i,
    chat_id: 42,
  });

  console.log(`  ingest: ${N} sequential requests ...`);
  let seq = 0;
  const apiIngest = await sampleSequential(N, () => post("/v1/messages", env.keys.bot, msg(seq++)), 500);
  const rawIngest = await sampleSequential(N, () => env.raw.rpush(rawKey, JSON.stringify({ id: randomUUID(), ...msg(seq++) })), 500);

  console.log(`  claim + ack: ${N} sequential requests each ...`);
  const claimed: { message_id: string; lease_token: string }[] = [];
  const apiClaim = await sampleSequential(
    N,
    async () => {
      const r = await post("/v1/messages/claim", env.keys.agent, { max: 1 });
      claimed.push(...r.items);
    },
    0,
  );
  const rawClaim = await sampleSequential(N, () => env.raw.lpop(rawKey), 0);
  let a = 0;
  const apiAck = await sampleSequential(claimed.length, () => post("/v1/messages/ack", env.keys.agent, { items: [claimed[a++]] }), 0);
  const rawAck = await sampleSequential(N, (i) => env.raw.zrem("bench:raw:inflight", String(i)), 0);

  console.log("  sustained ingest: 5 s at 16 concurrent requests ...");
  const sustained = await sampleSustained(5, 16, () => post("/v1/messages", env.keys.bot, msg(seq++)));
  const rawSustained = await sampleSustained(5, 16, () => env.raw.rpush(rawKey, JSON.stringify(msg(seq++))));
  if (sustained.errors) throw new Error(`${sustained.errors} errors during sustained ingest`);
  console.log("  sustained ingest in batches of 10 (as the userbot sends them): 5 s at 8 concurrent requests ...");
  const batched = await sampleSustained(5, 8, () =>
    post("/v1/messages", env.keys.bot, { messages: Array.from({ length: 10 }, () => msg(seq++)) }),
  );
  const rawBatched = await sampleSustained(5, 8, () =>
    env.raw.rpush(rawKey, ...Array.from({ length: 10 }, () => JSON.stringify(msg(seq++)))),
  );

  const p = (s: number[], q: number) => percentile(s, q);
  return [
    result("wal.ingest.http.p50", p(apiIngest, 50), "ms", "raw upstash RPUSH p50", p(rawIngest, 50)),
    result("wal.ingest.http.p99", p(apiIngest, 99), "ms", "raw upstash RPUSH p99", p(rawIngest, 99)),
    result("wal.claim.http.p50", p(apiClaim, 50), "ms", "raw upstash LPOP p50", p(rawClaim, 50)),
    result("wal.claim.http.p99", p(apiClaim, 99), "ms", "raw upstash LPOP p99", p(rawClaim, 99)),
    result("wal.ack.http.p50", p(apiAck, 50), "ms", "raw upstash ZREM p50", p(rawAck, 50)),
    result("wal.ack.http.p99", p(apiAck, 99), "ms", "raw upstash ZREM p99", p(rawAck, 99)),
    result("wal.ingest.sustained.throughput", sustained.perSecond, "msg/s", "raw upstash RPUSH, same concurrency", rawSustained.perSecond),
    result(
      "wal.ingest.sustained.p99",
      p(sustained.latencies, 99),
      "ms",
      "raw upstash RPUSH p99, same concurrency",
      p(rawSustained.latencies, 99),
    ),
    result(
      "wal.ingest.batched10.throughput",
      batched.perSecond * 10,
      "msg/s",
      "raw upstash RPUSH of 10, same concurrency",
      rawBatched.perSecond * 10,
    ),
    result("wal.ingest.batched10.p99", p(batched.latencies, 99), "ms", "raw upstash RPUSH of 10 p99", p(rawBatched.latencies, 99)),
  ];
}
