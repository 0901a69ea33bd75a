// Jobs are single-flight (issue 24, finding 10), an erasure racing the archive job cannot leave its
// user in a new archive (finding 11), each job writes and deletes under its own prefix only, and
// S3's per-key delete errors fail the call. Real Postgres, Redis and S3 (s3rver) throughout.
process.env.POWERTOOLS_METRICS_DISABLED = "true";
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// Whole backup and archive runs: on a loaded 2-core machine they take longer than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });
import { erasureStatements, parseConfig } from "@hitl/core";
import { useLocalNeonProxy, PoolDb } from "@hitl/core/postgres";
import { acquireLease, archiveOldPartitions, readArchive, S3BlobStore } from "@hitl/core/backup";
import { scopedStore, OutsidePrefixError } from "../packages/core/src/storage/scoped.js";
import { DeleteObjectsFailedError } from "../packages/core/src/storage/s3-blob.js";
import { createTestContext, createTestDatabase, stack, testEnv, testKeys, type TestContext } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";
import { jobHandler } from "../functions/lib/job.js";

const pools: PoolDb[] = [];
beforeAll(() => useLocalNeonProxy(stack().neonProxyUrl));
afterAll(() => Promise.all(pools.map((p) => p.end())));

const ctx = (id: string) => ({ getRemainingTimeInMillis: () => 900_000, awsRequestId: id });

describe("single-flight jobs", () => {
  it("two deliveries of one schedule at once: one run backs up, the other exits without touching anything", async () => {
    const { bucket, store } = await createTestBucket();
    const databaseUrl = await createTestDatabase();
    const config = parseConfig(testEnv(databaseUrl, JSON.stringify(testKeys().entries), { S3_BUCKET: bucket }));
    const handler = jobHandler("backup-postgres", {
      config: async () => config,
      continueWith: async () => {
        throw new Error("no continuation expected");
      },
    });
    const [a, b] = await Promise.all([handler({}, ctx("delivery-1")), handler({}, ctx("delivery-2"))]);
    const outcomes = [a, b].map((r) => (r as Record<string, unknown>).status).sort();
    expect(outcomes).toEqual(["complete", "skipped"]);
    const sets = new Set((await store.list("backups/postgres/")).map((o) => o.key.split("/")[2]));
    expect(sets.size).toBe(1);
    // The finished run freed its lease: the next scheduled run works.
    await expect(handler({}, ctx("delivery-3"))).resolves.toMatchObject({ status: "complete" });
  });

  it("a duplicate delivery while a chain holds the lease exits; the chain's continuation carries on; an expired lease is free", async () => {
    const { bucket, store } = await createTestBucket();
    const databaseUrl = await createTestDatabase();
    const config = parseConfig(testEnv(databaseUrl, JSON.stringify(testKeys().entries), { S3_BUCKET: bucket }));
    const services = { query: (sql: string, params?: unknown[]) => withPg(databaseUrl, async (c) => (await c.query(sql, params)).rows) };
    // A chain whose first run handed over (the lease kept for its continuation).
    expect(await acquireLease(services as never, "backup-postgres", "chain-A", 1800)).toBe(true);
    const handler = jobHandler("backup-postgres", { config: async () => config, continueWith: async () => {} });
    await expect(handler({}, ctx("duplicate"))).resolves.toMatchObject({ status: "skipped", run: 1 });
    expect(await store.list("backups/postgres/")).toEqual([]);
    expect(await withPg(databaseUrl, async (c) => (await c.query("SELECT count(*)::int AS n FROM backup_sets")).rows[0].n)).toBe(0);
    // Another chain's continuation is a different holder too.
    await expect(handler({ resume: "x", run: 2, lease: "chain-B" }, ctx("b2"))).resolves.toMatchObject({ status: "skipped", run: 2 });
    // The chain's own continuation runs under its lease.
    await expect(handler({ resume: "x", run: 2, lease: "chain-A" }, ctx("a2"))).resolves.toMatchObject({ status: "complete", run: 2 });
    // Expired leases are free (a run that died): a new holder takes it.
    await withPg(databaseUrl, (c) =>
      c.query("INSERT INTO job_leases (job, holder, expires_at) VALUES ('backup-redis', 'dead', now() - interval '1 second')"),
    );
    await expect(jobHandler("backup-redis", { config: async () => config })({}, ctx("fresh"))).resolves.toMatchObject({
      status: "complete",
    });
  });
});

describe("archive and erasure", () => {
  let t: TestContext;
  let store: S3BlobStore;
  beforeAll(async () => {
    const b = await createTestBucket();
    store = b.store;
    t = await createTestContext({ S3_BUCKET: b.bucket });
  });

  async function oldPartition(users: string[]) {
    await withPg(t.databaseUrl, (c) => c.query("SELECT hitl_ensure_interaction_partitions(date '2025-07-01', 1)"));
    for (const [i, u] of users.entries()) {
      await withPg(t.databaseUrl, (c) =>
        c.query(
          `INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at)
        VALUES ($1, $1 || '_c', 'old text', '2025-07-03T10:00:00Z', '2025-07-03T10:00:00Z'::timestamptz + make_interval(secs => $2))`,
          [u, i],
        ),
      );
    }
  }
  const deps = () => {
    const reader = new PoolDb(t.databaseUrl);
    pools.push(reader);
    return { db: t.services.db, reader, hasher: t.services.hasher, store, now: () => new Date("2025-12-01T00:00:00Z") };
  };
  const archivedUsers = async () => {
    const users: string[] = [];
    await readArchive(store, "interactions_2025_07", (l) => users.push(JSON.parse(l).user_id));
    return users.sort();
  };

  it("an erasure committed between the export and the archive's commit never reaches the archive (the export starts over)", async () => {
    await oldPartition(["keeps", "erased-midway"]);
    let erasures = 0;
    const out = await archiveOldPartitions({
      ...deps(),
      afterExport: async () => {
        // Once: the first export holds the user's row; the erasure commits before the archive's commit.
        if (erasures++ === 0) await t.services.db.transaction(erasureStatements(t.services.hasher, "erased-midway", "test"));
      },
    });
    expect(out.archived).toEqual([{ partition: "interactions_2025_07", rows: 1 }]);
    expect(erasures).toBe(2);
    expect(await archivedUsers()).toEqual(["keeps"]);
    const hash = t.services.hasher.hash("erased-midway");
    expect(
      await withPg(
        t.databaseUrl,
        async (c) => (await c.query("SELECT count(*)::int AS n FROM archive_users WHERE user_hash = $1", [hash])).rows[0].n,
      ),
    ).toBe(0);
    expect(
      await withPg(
        t.databaseUrl,
        async (c) =>
          (await c.query("SELECT archives_erased_at IS NOT NULL AS done FROM erasures WHERE user_hash = $1", [hash])).rows[0].done,
      ),
    ).toBe(true);
  });

  it("an erasure committed after the archive is rewritten by the Archive job, and only then marked done; the API never writes archives/", async () => {
    await withPg(t.databaseUrl, (c) => c.query("SELECT hitl_ensure_interaction_partitions(date '2025-08-01', 1)"));
    await withPg(t.databaseUrl, (c) =>
      c.query(`INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at)
      VALUES ('late', 'late_c', 'x', '2025-08-03T10:00:00Z', '2025-08-03T10:00:00Z'), ('stays', 'stays_c', 'y', '2025-08-04T10:00:00Z', '2025-08-04T10:00:00Z')`),
    );
    await archiveOldPartitions(deps());
    const users = async () => {
      const u: string[] = [];
      await readArchive(store, "interactions_2025_08", (l) => u.push(JSON.parse(l).user_id));
      return u.sort();
    };
    expect(await users()).toEqual(["late", "stays"]);
    const before = (await store.list("archives/")).length;
    const erased = (await (await t.call("DELETE", "/v1/users/late", { key: t.keys.admin })).json()) as {
      deleted: { archives_rewritten: number };
    };
    // The API counted the archived object to rewrite, and wrote nothing under archives/.
    expect(erased.deleted.archives_rewritten).toBe(1);
    expect(await users()).toEqual(["late", "stays"]);
    expect((await store.list("archives/")).length).toBe(before);
    const out = await archiveOldPartitions(deps());
    expect(out).toMatchObject({ archive_erasures: 1, archive_objects_rewritten: 1 });
    expect(await users()).toEqual(["stays"]);
    // Repeating the pass finds nothing left to do.
    expect(await archiveOldPartitions(deps())).toMatchObject({ archive_erasures: 0, archive_objects_rewritten: 0 });
  });
});

describe("each job's own prefix; S3's per-key errors", () => {
  it("a job's store refuses to write or delete outside its prefix", async () => {
    const { store } = await createTestBucket();
    await store.put("backups/redis/x/manifest.json", "{}");
    const pg = scopedStore(store, "backups/postgres/");
    await expect(pg.delete(["backups/redis/x/manifest.json"])).rejects.toBeInstanceOf(OutsidePrefixError);
    await expect(pg.put("archives/a", "x")).rejects.toBeInstanceOf(OutsidePrefixError);
    expect(await store.get("backups/redis/x/manifest.json")).not.toBeNull();
    await pg.put("backups/postgres/s/a", "x");
    await pg.delete(["backups/postgres/s/a"]);
    expect(await store.get("backups/postgres/s/a")).toBeNull();
  });

  it("DeleteObjects answering 200 with per-key Errors fails the call, naming the keys", async () => {
    // An S3 endpoint that answers DeleteObjects as S3 does when the role may not delete a key.
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/xml" });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><DeleteResult><Deleted><Key>backups/postgres/ok</Key></Deleted><Error><Key>backups/postgres/denied</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>`,
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as { port: number }).port;
      const s3 = new S3BlobStore({
        bucket: "b",
        region: "us-east-1",
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: "k", secretAccessKey: "s" },
      });
      const err = await s3.delete(["backups/postgres/ok", "backups/postgres/denied"]).catch((e) => e);
      expect(err).toBeInstanceOf(DeleteObjectsFailedError);
      expect(err.failed).toEqual([{ key: "backups/postgres/denied", code: "AccessDenied" }]);
    } finally {
      server.close();
    }
  });
});
