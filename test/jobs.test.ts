// Metrics (EMF) lines of the handler are CloudWatch's; here they would only flood the output.
process.env.POWERTOOLS_METRICS_DISABLED = "true";
import { describe, expect, it, vi } from "vitest";

// Whole backup runs: on a loaded 2-core machine they take longer than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });
import { createServices, parseConfig } from "@hitl/core";
import { backupAges, publishBackupAges } from "@hitl/core/backup";
import { Registry } from "prom-client";
import { createTestDatabase, testEnv, testKeys } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";
import { jobHandler, JobIncompleteError } from "../functions/lib/job.js";
import type { JobEvent } from "../functions/lib/continuation.js";

describe("scheduled function handlers", () => {
  it("a Postgres backup longer than one run continues by re-invoking itself with its checkpoint, never through a failed invocation", async () => {
    const { bucket, store } = await createTestBucket();
    const databaseUrl = await createTestDatabase();
    await withPg(databaseUrl, (c) =>
      c.query("INSERT INTO user_current_status (user_id, reason) SELECT 'u' || g, repeat('r', 100) FROM generate_series(1, 60) g"),
    );
    const config = parseConfig(testEnv(databaseUrl, JSON.stringify(testKeys().entries), { S3_BUCKET: bucket }));
    const next: Required<JobEvent>[] = [];
    // The smallest time limit: every run stops after its first checkpoint, and hands over.
    const handler = jobHandler("backup-postgres", {
      config: async () => config,
      continueWith: async (e) => {
        next.push(e);
      },
      tuning: { marginMs: 0, backup: { objectRows: 5, pageBytes: 300 } },
      maxRuns: 500,
    });
    const context = { getRemainingTimeInMillis: () => 1 };
    // The scheduler's event first, then each continuation's, as Lambda would deliver them.
    let event: unknown = { source: "aws.scheduler", "detail-type": "Scheduled Event", detail: {} };
    const results: Record<string, unknown>[] = [];
    for (let i = 0; i < 500; i++) {
      const before = next.length;
      results.push(await handler(event, context));
      if (next.length === before) break;
      event = next[next.length - 1];
    }
    const last = results[results.length - 1]!;
    expect(last).toMatchObject({ status: "complete", verified: true, run: results.length });
    expect(results.length).toBeGreaterThanOrEqual(5);
    // Every continuation named the same set and counted one more run.
    expect(new Set(next.map((e) => e.resume))).toEqual(new Set([last.id]));
    expect(next.map((e) => e.run)).toEqual(results.slice(1).map((_, i) => i + 2));
    const sets = new Set((await store.list("backups/postgres/")).map((o) => o.key.split("/")[2]));
    expect(sets).toEqual(new Set([last.id]));
    const rows = await withPg(
      databaseUrl,
      async (c) => (await c.query("SELECT count(*)::int AS n FROM user_current_status")).rows[0].n as number,
    );
    expect(last.rows).toBeGreaterThanOrEqual(rows);
  });

  it("an incomplete set at the last allowed run fails the invocation (retried, then dead-lettered) instead of continuing", async () => {
    const { bucket } = await createTestBucket();
    const config = parseConfig(testEnv(await createTestDatabase(), JSON.stringify(testKeys().entries), { S3_BUCKET: bucket }));
    const next: unknown[] = [];
    const handler = jobHandler("backup-postgres", {
      config: async () => config,
      continueWith: async (e) => {
        next.push(e);
      },
      tuning: { marginMs: 0 },
      maxRuns: 3,
    });
    await expect(handler({ resume: "x", run: 3 }, { getRemainingTimeInMillis: () => 1 })).rejects.toBeInstanceOf(JobIncompleteError);
    expect(next).toEqual([]);
    // A failed self-invocation fails the run too: Lambda's retry resumes from the checkpoint.
    const refusing = jobHandler("backup-postgres", {
      config: async () => config,
      continueWith: async () => {
        throw new Error("refused");
      },
      tuning: { marginMs: 0 },
    });
    await expect(refusing({}, { getRemainingTimeInMillis: () => 1 })).rejects.toThrow("refused");
  });

  it("publishes the age of each kind's newest verified set (since the first migration while there is none), as the backup alarms read it", async () => {
    const { bucket } = await createTestBucket();
    const databaseUrl = await createTestDatabase();
    const config = parseConfig(testEnv(databaseUrl, JSON.stringify(testKeys().entries), { S3_BUCKET: bucket }));
    const { db } = createServices(config);
    await withPg(databaseUrl, (c) => c.query("UPDATE schema_migrations SET applied_at = now() - interval '2 days'"));
    const fresh = await backupAges(db);
    expect(fresh.postgres).toBeGreaterThanOrEqual(2 * 86_400 - 60);
    expect(fresh.redis).toBeGreaterThanOrEqual(2 * 86_400 - 60);
    await jobHandler("backup-redis", { config: async () => config })({}, { getRemainingTimeInMillis: () => 900_000 });
    const after = await backupAges(db);
    expect(after.redis).toBeLessThan(120);
    expect(after.postgres).toBeGreaterThanOrEqual(2 * 86_400 - 60);
    const registry = new Registry();
    publishBackupAges(registry, after);
    publishBackupAges(registry, after);
    const values = Object.fromEntries((await registry.getMetricsAsJSON()).map((m) => [m.name, m.values[0]?.value]));
    expect(values).toEqual({ postgres_backup_age_seconds: after.postgres, redis_backup_age_seconds: after.redis });
  });
});
