import { NeonDb, UserHasher, LOCAL_ERASURE_KEY } from "@hitl/core";
import { PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import { S3BlobStore } from "@hitl/core/backup";
import { runExport } from "@hitl/core/exports";
import type { StackEndpoints } from "@hitl/devstack";

/**
 * One export job in a process of its own (as the export function runs it, same heap limit), so the
 * peak RSS is the job's alone. stdin: {stack, databaseUrl, id}; prints {seconds, peak, maxrss, rows, bytes}.
 */
const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const {
  stack: s,
  databaseUrl,
  id,
} = JSON.parse(Buffer.concat(chunks).toString()) as { stack: StackEndpoints; databaseUrl: string; id: string };
useLocalNeonProxy(s.neonProxyUrl);
const db = new NeonDb({
  url: databaseUrl,
  retry: { attempts: 3, baseMs: 200 },
  timeoutMs: 30_000,
  breaker: { failureThreshold: 3, cooldownMs: 60_000 },
});
const store = new S3BlobStore({
  bucket: s.s3Bucket,
  region: "us-east-1",
  endpoint: s.s3Endpoint,
  credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey },
  timeoutMs: 60_000,
});
process.stderr.write(`  export process RSS before the export: ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB\n`);
if (process.env.BENCH_EXPORT_SOURCE_ONLY) {
  const { interactionsSource } = await import("@hitl/core/exports");
  const reader = new PoolDb(databaseUrl);
  const t = performance.now();
  let n = 0;
  for await (const _ of interactionsSource({ db, reader, store, hasher: new UserHasher(LOCAL_ERASURE_KEY) }, {}).rows()) n++;
  process.stderr.write(`  source only: ${n} rows in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  await reader.end();
}
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 50);
const reader = new PoolDb(databaseUrl);
const t = performance.now();
const r = await runExport({ db, reader, store, hasher: new UserHasher(LOCAL_ERASURE_KEY) }, id);
const seconds = (performance.now() - t) / 1000;
await reader.end();
clearInterval(sampler);
if (r.status !== "done") throw new Error(`export ${r.status}: ${"reason" in r ? r.reason : ""}`);
const cpu = process.cpuUsage();
process.stderr.write(`  export process CPU: user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s\n`);
// maxRSS (KiB) is the kernel's own high-water mark of the process, sampled or not.
console.log(JSON.stringify({ seconds, peak, maxrss: process.resourceUsage().maxRSS * 1024, rows: r.rows, bytes: r.bytes }));
