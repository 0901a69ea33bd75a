import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { spawn } from "node:child_process";
import { useLocalNeonProxy } from "@hitl/core/postgres";
import { S3BlobStore, backupRedis, verifySet } from "@hitl/core/backup";
import { Redis } from "@upstash/redis";
import { result, type BenchEnv, type BenchResult } from "./support.js";

const TARGET_BYTES = Number(process.env.BENCH_DB_BYTES ?? 1024 ** 3);
const REDIS_KEYS = Number(process.env.BENCH_REDIS_KEYS ?? 100_000);

/** Fills interactions with ~1 KB rows until the table holds TARGET_BYTES of row data. */
async function generate(url: string, log: (l: string) => void): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const size = async () =>
      Number((await c.query("SELECT coalesce(sum(pg_column_size(i.*)), 0)::bigint AS b FROM interactions i")).rows[0].b);
    let bytes = await size();
    // The rows span the last 60 days: their months' partitions (only the current one exists at first).
    await c.query("SELECT hitl_ensure_interaction_partitions((now() - interval '70 days')::date, 4)");
    while (bytes < TARGET_BYTES) {
      await c.query(`INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, llm1_raw_response, llm2_bubbles,
          constitution_flags, cta_data, created_at)
        SELECT 'user-' || (g % 5000), 'c', repeat('message text ünïcode ', 12) || g, now(), repeat('draft reply ', 40), ARRAY['bubble one', 'bubble two'],
          ARRAY['flag'], jsonb_build_object('n', g), now() - (g % 60) * interval '1 day'
        FROM generate_series(1, 200000) g`);
      bytes = await size();
      log(`  generated ${(bytes / 1e6).toFixed(0)} MB`);
    }
    return bytes;
  } finally {
    await c.end();
  }
}

/** COPY TO STDOUT with pg over TCP into a counting sink: the fastest raw extraction here. */
async function rawCopy(url: string): Promise<{ bytes: number; seconds: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  let bytes = 0;
  const t = performance.now();
  try {
    await pipeline(
      c.query(copyTo("COPY (SELECT * FROM interactions) TO STDOUT")),
      new Writable({
        write(chunk, _e, cb) {
          bytes += chunk.length;
          cb();
        },
      }),
    );
  } finally {
    await c.end();
  }
  return { bytes, seconds: (performance.now() - t) / 1000 };
}

export async function backupBench(env: BenchEnv): Promise<BenchResult[]> {
  const s = env.stack;
  const log = (l: string) => console.log(l);
  console.log(`  generating >= ${(TARGET_BYTES / 1e6).toFixed(0)} MB of interactions ...`);
  const dataBytes = await generate(s.databaseUrl, log);
  const raw = await rawCopy(s.databaseUrl);
  console.log(`  raw COPY: ${(raw.bytes / 1e6).toFixed(0)} MB in ${raw.seconds.toFixed(1)} s`);

  // The backup runs in a process of its own, as a scheduled function would (same heap settings as
  // infra/jobs.ts), so its peak RSS is the job's alone.
  const child = await runChild(
    [
      ...(process.env.BENCH_CHILD_FLAGS ?? "--max-old-space-size=128 --max-semi-space-size=4").split(" ").filter(Boolean),
      "--import",
      "tsx",
      "bench/backup-child.ts",
    ],
    JSON.stringify(s),
  );
  const { seconds, peak, id, rows, bytes } = JSON.parse(child) as {
    seconds: number;
    peak: number;
    id: string;
    rows: number;
    bytes: number;
  };
  console.log(
    `  backup: ${rows} rows, ${(bytes / 1e6).toFixed(0)} MB stored, ${seconds.toFixed(1)} s, peak RSS ${(peak / 1e6).toFixed(0)} MB`,
  );
  useLocalNeonProxy(s.neonProxyUrl);
  const store = new S3BlobStore({
    bucket: s.s3Bucket,
    region: "us-east-1",
    endpoint: s.s3Endpoint,
    credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey },
  });
  const tv = performance.now();
  const verification = await verifySet(store, "postgres", id);
  const verifySeconds = (performance.now() - tv) / 1000;
  if (!verification.ok) throw new Error("backup did not verify");

  // Redis: REDIS_KEYS keys of every type, then the snapshot beside a raw SCAN of the same keys.
  const redis = new Redis({
    url: s.upstashUrl,
    token: s.upstashToken,
    enableTelemetry: false,
    automaticDeserialization: false,
    enableAutoPipelining: false,
  });
  for (let i = 0; i < REDIS_KEYS; i += 1000) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(i + 1000, REDIS_KEYS); j++) {
      const k = `hitl:bench:${j}`;
      if (j % 5 === 0) p.set(k, `value ${j}`, { ex: 3600 });
      else if (j % 5 === 1) p.hset(k, { a: "1", b: String(j) });
      else if (j % 5 === 2) p.rpush(k, "x", "y");
      else if (j % 5 === 3) p.zadd(k, { score: j, member: "m" });
      else p.sadd(k, "a", "b");
    }
    await p.exec();
  }
  let scanned = 0;
  const ts = performance.now();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, { match: "hitl:*", count: 1000 });
    cursor = String(next);
    scanned += keys.length;
  } while (cursor !== "0");
  const scanRate = scanned / ((performance.now() - ts) / 1000);
  const tr = performance.now();
  const snap = await backupRedis({ redis, prefix: "hitl:", store });
  const snapRate = snap.manifest.totals.rows / ((performance.now() - tr) / 1000);
  return [
    result(
      "backup.postgres.throughput",
      dataBytes / 1e6 / seconds,
      "MB/s",
      "raw COPY TO STDOUT (pg, TCP) MB/s",
      raw.bytes / 1e6 / raw.seconds,
    ),
    result("backup.postgres.peak_rss", peak / 1e6, "MB", "target: < 256 MB", 256),
    result(
      "backup.postgres.verify_throughput",
      dataBytes / 1e6 / verifySeconds,
      "MB/s",
      "raw COPY TO STDOUT (pg, TCP) MB/s",
      raw.bytes / 1e6 / raw.seconds,
    ),
    result("backup.postgres.data", dataBytes / 1e6, "MB", "target: >= 1000 MB of table data", 1000),
    result("backup.redis.snapshot_rate", snapRate, "keys/s", "raw SCAN of the same keys, keys/s", scanRate),
  ];
}

/** Runs node with `args`, feeding `input` on stdin; resolves with its last stdout line. */
function runChild(args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.on("exit", (code) => (code === 0 ? resolve(out.trim().split("\n").pop()!) : reject(new Error(`backup child exited ${code}`))));
    child.stdin.end(input);
  });
}
