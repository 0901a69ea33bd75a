import { NeonDb } from "@hitl/core";
import { PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import { S3BlobStore, backupPostgres } from "@hitl/core/backup";
import type { StackEndpoints } from "@hitl/devstack";

/** One Postgres backup of the stack given on stdin; prints {seconds, peak, id, rows, bytes}. */
const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const s = JSON.parse(Buffer.concat(chunks).toString()) as StackEndpoints;
useLocalNeonProxy(s.neonProxyUrl);
const db = new NeonDb({
  url: s.databaseUrl,
  retry: { attempts: 3, baseMs: 200 },
  timeoutMs: 30_000,
  breaker: { failureThreshold: 3, cooldownMs: 60_000 },
});
const store = new S3BlobStore({
  bucket: s.s3Bucket,
  region: "us-east-1",
  endpoint: s.s3Endpoint,
  credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey },
});
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 100);
const t = performance.now();
const reader = new PoolDb(s.databaseUrl);
const out = await backupPostgres(
  { db, reader, store, progress: (l) => process.stderr.write(`${((performance.now() - t) / 1000).toFixed(1).padStart(6)} s ${l}\n`) },
  { verify: false },
);
await reader.end();
clearInterval(sampler);
if (out.status !== "complete") throw new Error("backup incomplete");
const cpu = process.cpuUsage();
process.stderr.write(`  backup process CPU: user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s\n`);
console.log(
  JSON.stringify({
    seconds: (performance.now() - t) / 1000,
    peak,
    id: out.manifest.id,
    rows: out.manifest.totals.rows,
    bytes: out.manifest.totals.bytes,
  }),
);
