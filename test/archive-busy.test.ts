// The archive job against a long reader (an export's or dataset's REPEATABLE READ cursor on
// `interactions`): its detach gives up its lock wait after DETACH_LOCK_TIMEOUT_SECONDS, the partition
// is reported busy and kept, and queries queued behind the detach go on instead of waiting for the
// reader to end. Real Postgres (behind the local Neon proxy) and S3 (s3rver).
process.env.POWERTOOLS_METRICS_DISABLED = "true";
import { createHash } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { useLocalNeonProxy, PoolDb } from "@hitl/core/postgres";
import { archiveOldPartitions, DETACH_LOCK_TIMEOUT_SECONDS, type S3BlobStore } from "@hitl/core/backup";
import { createTestContext, stack, type TestContext } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";

vi.setConfig({ testTimeout: 120_000 });

const pools: PoolDb[] = [];
let t: TestContext;
let store: S3BlobStore;
beforeAll(async () => {
  useLocalNeonProxy(stack().neonProxyUrl);
  const b = await createTestBucket();
  store = b.store;
  t = await createTestContext({ S3_BUCKET: b.bucket });
});
afterAll(() => Promise.all(pools.map((p) => p.end())));

const deps = () => {
  const reader = new PoolDb(t.databaseUrl);
  pools.push(reader);
  return { db: t.services.db, reader, hasher: t.services.hasher, store, now: () => new Date("2025-12-01T00:00:00Z") };
};
const exists = (partition: string) =>
  withPg(t.databaseUrl, async (c) => (await c.query("SELECT to_regclass($1) IS NOT NULL AS e", [partition])).rows[0].e as boolean);
const count = (sql: string, params: unknown[] = []) => withPg(t.databaseUrl, async (c) => Number((await c.query(sql, params)).rows[0].n));

/** A REPEATABLE READ transaction that has read `interactions` (`where` narrows the partitions it locks), left open. */
async function longReader(where: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: t.databaseUrl });
  await c.connect();
  await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  await c.query(`SELECT count(*) FROM interactions ${where}`);
  return c;
}

/** Resolves when some backend waits for a lock on `interactions` or one of its partitions (the detach's queue). */
async function detachWaiting(): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const n = await count(
      `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND relation IN (SELECT 'interactions'::regclass UNION ALL SELECT inhrelid FROM pg_inherits WHERE inhparent = 'interactions'::regclass)`,
    );
    if (n > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("no lock wait on interactions appeared");
}

/** An ingest-like INSERT into the current month, on its own connection; rejects if it is still blocked after `ms`. */
async function insertWithin(ms: number): Promise<void> {
  const c = new pg.Client({ connectionString: t.databaseUrl });
  await c.connect();
  try {
    const insert = c.query(
      "INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp) VALUES ('new', 'new_c', 'hi', now())",
    );
    let timer: NodeJS.Timeout | undefined;
    const blocked = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`INSERT into interactions still blocked after ${ms} ms`)), ms);
    });
    await Promise.race([insert, blocked]).finally(() => clearTimeout(timer));
  } finally {
    await c.end().catch(() => {});
  }
}

describe("archive vs a long reader of interactions", () => {
  it("an export-like reader of this month: the commit's detach gives up, the month is busy and kept, nothing catalogued; ingest is not blocked; the next run archives it over the same keys", async () => {
    await withPg(t.databaseUrl, (c) => c.query("SELECT hitl_ensure_interaction_partitions(date '2025-07-01', 1)"));
    await withPg(t.databaseUrl, (c) =>
      c.query(`INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at)
        VALUES ('old1', 'old1_c', 'x', '2025-07-03T10:00:00Z', '2025-07-03T10:00:00Z'), ('old2', 'old2_c', 'y', '2025-07-04T10:00:00Z', '2025-07-04T10:00:00Z')`),
    );
    // Reads only this month's partition (a constant bound: pruned when planned), so it holds
    // ACCESS SHARE on `interactions` and not on the July partition: the export runs, the commit's
    // lock of `interactions` (guard, DETACH) waits.
    let busyKeys: string[] = [];
    const reader = await longReader(`WHERE created_at >= '${new Date().toISOString().slice(0, 7)}-01'`);
    try {
      const run = archiveOldPartitions(deps());
      await detachWaiting();
      // Queued behind the waiting detach: it goes on once the detach gives up, the reader still open.
      await insertWithin(DETACH_LOCK_TIMEOUT_SECONDS * 1000 + 15_000);
      const out = await run;
      expect(out.busy).toEqual(["interactions_2025_07"]);
      expect(out.archived).toEqual([]);
      expect(await exists("interactions_2025_07")).toBe(true);
      expect(await count("SELECT count(*)::int AS n FROM ONLY interactions_2025_07")).toBe(2);
      // Nothing committed (the set written stays in the bucket, uncatalogued).
      expect(await count("SELECT count(*)::int AS n FROM archived_partitions")).toBe(0);
      expect(await count("SELECT count(*)::int AS n FROM archive_objects")).toBe(0);
      expect(await count("SELECT count(*)::int AS n FROM archive_users")).toBe(0);
      busyKeys = (await store.list("archives/")).map((o) => o.key).sort();
      expect(await count("SELECT count(*)::int AS n FROM interactions WHERE user_id = 'new'")).toBe(1);
    } finally {
      await reader.query("COMMIT").catch(() => {});
      await reader.end();
    }
    const out = await archiveOldPartitions(deps());
    expect(out.busy).toEqual([]);
    expect(out.archived).toEqual([{ partition: "interactions_2025_07", rows: 2 }]);
    expect(await exists("interactions_2025_07")).toBe(false);
    // The same keys, written again and catalogued: the catalog's hash is the stored object's.
    const keys = ["archives/interactions/month=2025-07/_manifest.json", "archives/interactions/month=2025-07/part-00000.parquet"];
    expect(busyKeys).toEqual(keys);
    expect((await store.list("archives/")).map((o) => o.key).sort()).toEqual(keys);
    const stored = createHash("sha256")
      .update((await store.get(keys[1]!))!)
      .digest("hex");
    expect(await count("SELECT count(*)::int AS n FROM archive_objects WHERE key = $1 AND sha256 = $2", [keys[1], stored])).toBe(1);
  });

  it("a reader of the whole table: an empty old month's drop gives up too (busy, kept), and goes once the reader ends", async () => {
    await withPg(t.databaseUrl, (c) => c.query("SELECT hitl_ensure_interaction_partitions(date '2025-08-01', 1)"));
    const reader = await longReader("");
    try {
      const run = archiveOldPartitions(deps());
      await detachWaiting();
      await insertWithin(DETACH_LOCK_TIMEOUT_SECONDS * 1000 + 15_000);
      const out = await run;
      expect(out.busy).toEqual(["interactions_2025_08"]);
      expect(out.empty_partitions_dropped).toBe(0);
      expect(await exists("interactions_2025_08")).toBe(true);
    } finally {
      await reader.query("COMMIT").catch(() => {});
      await reader.end();
    }
    const out = await archiveOldPartitions(deps());
    expect(out).toMatchObject({ busy: [], empty_partitions_dropped: 1 });
    expect(await exists("interactions_2025_08")).toBe(false);
  });
});
