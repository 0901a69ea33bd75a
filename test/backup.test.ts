import { beforeAll, describe, expect, it } from "vitest";
import type { PoolDb } from "@hitl/core/postgres";
import {
  archiveOldPartitions,
  eraseArchivedUsers,
  backupPostgres,
  backupRedis,
  readArchive,
  restorePostgres,
  restoreRedis,
  verifySet,
  RestoreRefusedError,
  type S3BlobStore,
} from "@hitl/core/backup";
import { createServices } from "@hitl/core";
import { createApp } from "../functions/api/app.js";
import { createTestContext, type TestContext } from "./support/stack.js";
import { json } from "./support/sql.js";
import { createEmptyDatabase, createTestBucket, tableFingerprints, useBackupContext, withPg } from "./support/backup.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

const ctx = useBackupContext();
/** A WebSocket pool (COPY) on `url`, ended after the file. */
const dbFor = ctx.dbFor;
let t: TestContext;
let store: S3BlobStore;
let reader: PoolDb;
beforeAll(() => {
  ({ t, store } = ctx);
  reader = dbFor(t.databaseUrl);
});
/** A second app instance on the same stores (a second Lambda instance: its own memory). */
function secondApp(ctx: TestContext): TestContext["call"] {
  const services = createServices(ctx.config, {});
  const app = createApp(async () => services);
  return (method, path, opts = {}) =>
    Promise.resolve(
      app.request(path, {
        method,
        headers: {
          ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
          ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
          ...(opts.headers ?? {}),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      }),
    );
}

/** Every table gets rows: several partitions, unicode, nulls, arrays, JSON. */
async function populate() {
  const call = (m: string, p: string, key: string, body?: unknown) => t.call(m, p, { key, body });
  for (const [i, user] of ["ana", "bø-ñ", "李雷"].map((u, i) => [i, u] as const)) {
    const { id } = await json(
      await call(
        "POST",
        "/v1/interactions",
        t.keys.agent,
        interactionBody({
          user_id: `u${i}`,
          user_message: `héllo ${user} 🎉`,
          cta_data: i ? { nested: { a: [1, null, "x"] } } : undefined,
          llm1_model: i === 2 ? undefined : "m",
        }),
      ),
    );
    if (i < 2) await call("POST", `/v1/reviews/${id}/approve`, t.keys.reviewer, approveBody({ edit_tags: ["TONE_CASUAL", "CTA_SOFT"] }));
    await call("PATCH", `/v1/users/u${i}/memory/context`, t.keys.agent, { updates: { name: user, tags: ["a", "b"], n: i } });
    await call("PUT", `/v1/users/u${i}/nickname`, t.keys.reviewer, { nickname: user });
    await call("PUT", `/v1/users/u${i}/protocol`, t.keys.reviewer, { status: "ACTIVE", reason: i ? undefined : "spam" });
    await call("POST", "/v1/messages", t.keys.bot, { user_id: `u${i}`, text: `quarantined ${user}`, telegram_message_id: 10 + i });
    await call("PUT", `/v1/recovery/cursors/u${i}`, t.keys.bot, {
      last_processed_telegram_id: 100 + i,
      last_processed_telegram_date: "2026-11-25T10:00:00Z",
    });
  }
  await call("POST", "/v1/recovery/operations", t.keys.bot, { operation_type: "manual", metadata: { note: "ünïcode" } });
  // Past months are created on demand (partitions start at the current month).
  await withPg(t.databaseUrl, (c) => c.query("SELECT hitl_ensure_interaction_partitions(date '2025-06-01', 3)"));
  await withPg(t.databaseUrl, (c) =>
    c.query(`INSERT INTO interactions (user_id, conversation_id, user_message, user_message_timestamp, created_at, constitution_flags)
    VALUES ('old1', 'old1_20250701', 'from july', '2025-07-03T10:00:00Z', '2025-07-03T10:00:00Z', '{a,"b c"}'),
           ('old2', 'old2_20250815', 'from august', '2025-08-15T10:00:00Z', '2025-08-15T10:00:00.123456Z', '{}')`),
  );
}

describe("Postgres backup and restore", () => {
  it("round-trips every table into a fresh database: identical row counts and content hashes", async () => {
    await populate();
    const out = await backupPostgres({ db: t.services.db, reader, store });
    expect(out.status).toBe("complete");
    if (out.status !== "complete") return;
    expect(out.verified).toBe(true);
    expect(out.manifest.partitions).toEqual(expect.arrayContaining(["2025_07", "2025_08"]));
    const before = await tableFingerprints(t.databaseUrl, ["backup_sets", "schema_migrations"]);
    const target = await createEmptyDatabase();
    const restored = await restorePostgres(store, out.manifest.id, dbFor(target), { databaseUrl: target, hasher: t.services.hasher });
    expect(restored.rows).toBe(out.manifest.totals.rows);
    const after = await tableFingerprints(target, ["backup_sets", "schema_migrations"]);
    expect(after).toEqual(before);
    expect(before.interactions!.rows).toBeGreaterThanOrEqual(5);
    // Identity sequences continue after the restored ids.
    await withPg(target, async (c) => {
      const r = await c.query("INSERT INTO protocol_audit_log (user_id, action, performed_by) VALUES ('x', 'ACTIVATED', 'y') RETURNING id");
      const max = (await c.query("SELECT max(id) AS m FROM protocol_audit_log WHERE user_id <> 'x'")).rows[0].m;
      expect(Number(r.rows[0].id)).toBeGreaterThan(Number(max));
      // So does the protocol version sequence: a change after the restore numbers above the rest.
      const v = await c.query("UPDATE user_protocol_status SET reason = 'after restore' WHERE user_id = 'u0' RETURNING version");
      const top = (await c.query("SELECT max(version) AS m FROM user_protocol_status WHERE user_id <> 'u0'")).rows[0].m;
      expect(Number(v.rows[0].version)).toBeGreaterThan(Number(top));
    });
    const listed = await json(await t.call("GET", "/v1/backups", { key: t.keys.admin }));
    expect(listed.items[0]).toMatchObject({
      id: out.manifest.id,
      kind: "postgres",
      complete: true,
      verified: true,
      objects: out.manifest.totals.objects,
    });
  });

  it("reads by heap blocks in one snapshot; a table cut short twice is redone by key, across awkward keys", async () => {
    const ids = ["", "a\tb", "line\nbreak", "back\\slash", "\\N", "ünï 🎉", "x\r\\ty", ...Array.from({ length: 400 }, (_, i) => `k${i}`)];
    await withPg(t.databaseUrl, (c) =>
      c.query(
        "INSERT INTO user_current_status (user_id, nickname, reason) SELECT u, left(u, 50), repeat('r', 150) FROM unnest($1::text[]) u",
        [ids],
      ),
    );
    const tune = { pageBytes: 300, objectRows: 5 };
    const crash = new Error("killed");
    const killInside = {
      ...tune,
      afterObject: (name: string) => {
        if (name === "user_current_status") throw crash;
      },
    };
    const state = async (id: string) =>
      (
        JSON.parse((await store.get(`backups/postgres/${id}/state.json`))!.toString()) as {
          tables: { name: string; objects: { rows: number }[]; mode?: string; cut?: number }[];
        }
      ).tables.find((x) => x.name === "user_current_status")!;
    // Blocks: one heap block per page here, each page closing an object (pages are not split).
    await expect(backupPostgres({ db: t.services.db, reader, store }, killInside)).rejects.toBe(crash);
    const id = (await store.list("backups/postgres/"))
      .map((o) => o.key)
      .filter((k) => k.endsWith("state.json"))
      .map((k) => k.split("/")[2]!)
      .sort()
      .pop()!;
    const first = await state(id);
    expect([first.mode ?? "blocks", first.objects.length, first.cut ?? 0]).toEqual(["blocks", 1, 0]);
    expect(first.objects[0]!.rows).toBeGreaterThan(5);
    // Cut once: the next run starts it over by blocks, in a snapshot of its own.
    await expect(backupPostgres({ db: t.services.db, reader, store }, killInside)).rejects.toBe(crash);
    const second = await state(id);
    expect([second.mode, second.objects.length, second.cut]).toEqual(["blocks", 1, 1]);
    // Cut twice: too big for one run, so it starts over by key, in objects of exactly 5 rows,
    // paging across keys that need COPY's escapes.
    const out = await backupPostgres({ db: t.services.db, reader, store }, tune);
    if (out.status !== "complete") throw new Error("incomplete");
    expect(out.manifest.id).toBe(id);
    const table = out.manifest.tables!.find((x) => x.name === "user_current_status")!;
    expect(table.rows).toBeGreaterThanOrEqual(ids.length);
    expect(table.objects.map((o) => o.rows)).toEqual(
      Array.from({ length: Math.ceil(table.rows / 5) }, (_, i) => Math.min(5, table.rows - i * 5)),
    );
    // The planner setting and cursors were local to the workers' transactions: both pooled
    // sessions are back to defaults (a pooler would otherwise hand them to other clients).
    const settings = await Promise.all(
      [0, 1].map(() =>
        reader.session((s) =>
          s.query("SELECT current_setting('enable_sort') AS sort, current_setting('hitl.backup_after_0', true) AS cursor"),
        ),
      ),
    );
    expect(settings.flat().map((r) => [r.sort, r.cursor || null])).toEqual([
      ["on", null],
      ["on", null],
    ]);
    const target = await createEmptyDatabase();
    await restorePostgres(store, out.manifest.id, dbFor(target), { databaseUrl: target, hasher: t.services.hasher });
    expect(await tableFingerprints(target, ["backup_sets", "schema_migrations"])).toEqual(
      await tableFingerprints(t.databaseUrl, ["backup_sets", "schema_migrations"]),
    );
  });

  it("one snapshot for the run: rows rewritten into other blocks mid-backup are backed up once, as they were", async () => {
    await withPg(t.databaseUrl, (c) =>
      c.query("INSERT INTO user_current_status (user_id, reason) SELECT 'snap' || g, 'before' FROM generate_series(1, 300) g"),
    );
    const before = await withPg(
      t.databaseUrl,
      async (c) => (await c.query("SELECT count(*)::int AS n FROM user_current_status")).rows[0].n as number,
    );
    let rewritten = false;
    // After the first object of the table: every row grows into new blocks, and some are deleted.
    const out = await backupPostgres(
      { db: t.services.db, reader, store },
      {
        pageBytes: 300,
        objectRows: 5,
        afterObject: async (name) => {
          if (name !== "user_current_status" || rewritten) return;
          rewritten = true;
          await withPg(t.databaseUrl, async (c) => {
            await c.query("UPDATE user_current_status SET reason = repeat('after', 40)");
            await c.query("DELETE FROM user_current_status WHERE user_id LIKE 'snap1%'");
          });
        },
      },
    );
    if (out.status !== "complete") throw new Error("incomplete");
    expect(rewritten).toBe(true);
    expect(out.manifest.tables!.find((x) => x.name === "user_current_status")!.rows).toBe(before);
    const target = await createEmptyDatabase();
    await restorePostgres(store, out.manifest.id, dbFor(target), { databaseUrl: target, hasher: t.services.hasher });
    const restored = await withPg(
      target,
      async (c) =>
        (await c.query("SELECT count(*)::int AS n, count(*) FILTER (WHERE reason LIKE 'after%')::int AS changed FROM user_current_status"))
          .rows[0],
    );
    expect(restored).toEqual({ n: before, changed: 0 });
  });

  it("COPY through the WebSocket driver: a failed statement or source rejects, writes nothing, and the pool goes on", async () => {
    await expect(reader.session((s) => s.copyOut("COPY no_such_table TO STDOUT", () => {}))).rejects.toMatchObject({ code: "42P01" });
    async function* failing() {
      yield Buffer.from("zz-copy-fail\tPROSPECT\n");
      throw new Error("bucket read failed");
    }
    await expect(
      reader.session((s) => s.copyIn("COPY user_current_status (user_id, customer_status) FROM STDIN", failing())),
    ).rejects.toThrow("bucket read failed");
    expect(await reader.query("SELECT count(*)::int AS n FROM user_current_status WHERE user_id = 'zz-copy-fail'")).toEqual([{ n: 0 }]);
    const lines: Buffer[] = [];
    const r = await reader.session(async (s) => {
      await s.query("SELECT set_config('hitl.t', $1, false)", ["a\tb"]);
      return s.copyOut("COPY (SELECT current_setting('hitl.t') AS v) TO STDOUT", (c) => lines.push(Buffer.from(c)));
    });
    expect(r.rows).toBe(1);
    expect(Buffer.concat(lines).toString()).toBe("a\\tb\n");
  });

  it("refuses a non-empty target without the confirmation flag", async () => {
    const out = await backupPostgres({ db: t.services.db, reader, store });
    if (out.status !== "complete") throw new Error("incomplete");
    await expect(
      restorePostgres(store, out.manifest.id, reader, { databaseUrl: t.databaseUrl, hasher: t.services.hasher }),
    ).rejects.toBeInstanceOf(RestoreRefusedError);
  });

  it("a flipped byte fails verification naming the object, and the restore refuses the set", async () => {
    const out = await backupPostgres({ db: t.services.db, reader, store });
    if (out.status !== "complete") throw new Error("incomplete");
    const victim = out.manifest.tables!.find((x) => x.parent === "interactions" && x.rows > 0)!.objects[0]!;
    const body = (await store.get(victim.key))!;
    const at = Math.floor(body.length / 2);
    body[at] = body[at]! ^ 0xff;
    await store.put(victim.key, body);
    const v = await verifySet(store, "postgres", out.manifest.id);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.key)).toEqual([victim.key]);
    const target = await createEmptyDatabase();
    await expect(
      restorePostgres(store, out.manifest.id, dbFor(target), { databaseUrl: target, hasher: t.services.hasher }),
    ).rejects.toThrow(victim.key);
  });

  it("an interrupted backup leaves no manifest; the next run resumes and completes", async () => {
    const crash = new Error("killed");
    let first = ""; // a table that always has rows (seeded by the migrations)
    await expect(
      backupPostgres(
        { db: t.services.db, reader, store },
        {
          afterTable: (name) => {
            if (name === "edit_taxonomy") {
              first = name;
              throw crash;
            }
          },
        },
      ),
    ).rejects.toBe(crash);
    const sets = (await store.list("backups/postgres/")).map((o) => o.key);
    const id = sets.find((k) => k.endsWith("state.json"))!.split("/")[2]!;
    expect(sets.filter((k) => k.startsWith(`backups/postgres/${id}/`)).some((k) => k.endsWith("manifest.json"))).toBe(false);
    const firstObjects = sets.filter((k) => k.startsWith(`backups/postgres/${id}/data/${first}/`));
    expect(firstObjects.length).toBe(1);
    const resumed = await backupPostgres({ db: t.services.db, reader, store });
    expect(resumed.status).toBe("complete");
    if (resumed.status !== "complete") return;
    expect(resumed.manifest.id).toBe(id);
    expect(resumed.manifest.tables!.find((x) => x.name === first)!.objects.map((o) => o.key)).toEqual(firstObjects);
    expect(resumed.verified).toBe(true);
  });

  it("restore re-applies erasures: a user erased after the backup stays gone", async () => {
    const op = await json(
      await t.call("POST", "/v1/recovery/operations", {
        key: t.keys.bot,
        body: { operation_type: "manual", metadata: { user_ids: ["u1", "u0"], note: "u1 and 1", count: 1 } },
      }),
    );
    const out = await backupPostgres({ db: t.services.db, reader, store });
    if (out.status !== "complete") throw new Error("incomplete");
    const erase = await json(await t.call("DELETE", "/v1/users/u1", { key: t.keys.admin }));
    expect(erase.deleted.postgres.interactions).toBe(1);
    const target = await createEmptyDatabase();
    const r = await restorePostgres(store, out.manifest.id, dbFor(target), { databaseUrl: target, hasher: t.services.hasher });
    expect(r.erased_rows).toBeGreaterThan(0);
    const left = await withPg(
      target,
      async (c) =>
        (
          await c.query(
            "SELECT (SELECT count(*) FROM interactions WHERE user_id = 'u1') + (SELECT count(*) FROM user_memory WHERE user_id = 'u1') + (SELECT count(*) FROM quarantine_messages WHERE user_id = 'u1') AS n",
          )
        ).rows[0].n,
    );
    expect(Number(left)).toBe(0);
    const others = await withPg(
      target,
      async (c) => (await c.query("SELECT count(*)::int AS n FROM interactions WHERE user_id = 'u0'")).rows[0].n,
    );
    expect(others).toBe(1);
    // Free-form JSON loses the erased id in its user-id fields only, matched by keyed hash.
    const [meta] = await withPg(
      target,
      async (c) => (await c.query("SELECT metadata FROM recovery_operations WHERE id = $1", [op.id])).rows,
    );
    expect(meta.metadata).toEqual({ user_ids: ["[erased]", "u0"], note: "u1 and 1", count: 1 });
  });

  it("a restore with the API serving on two instances: no cache newer than the restored rows is served, the next writes win, the catalog stays", async () => {
    const b = await createTestBucket();
    const r = await createTestContext({ S3_BUCKET: b.bucket });
    const two = secondApp(r);
    const u = "rs-user";
    const call = (via: typeof r.call, m: string, p: string, key: string, body?: unknown) => via(m, p, { key, body });
    await call(r.call, "PATCH", `/v1/users/${u}/memory/context`, r.keys.agent, { updates: { a: 1 } });
    await call(r.call, "POST", `/v1/users/${u}/memory/history`, r.keys.agent, { role: "user", content: "before the backup" });
    await call(r.call, "PUT", `/v1/users/${u}/protocol`, r.keys.reviewer, { status: "ACTIVE" });
    await call(r.call, "PUT", `/v1/users/${u}/status`, r.keys.reviewer, { customer_status: "CUSTOMER", ltv_amount: 10 });
    const set = await backupPostgres({ db: r.services.db, reader: dbFor(r.databaseUrl), store: b.store });
    if (set.status !== "complete") throw new Error("incomplete");
    // After the backup: newer versions everywhere, all cached.
    await call(two, "PATCH", `/v1/users/${u}/memory/context`, r.keys.agent, { updates: { b: 2 } });
    await call(r.call, "PATCH", `/v1/users/${u}/memory/context`, r.keys.agent, { updates: { c: 3 } });
    await call(two, "POST", `/v1/users/${u}/memory/history`, r.keys.agent, { role: "assistant", content: "after the backup" });
    await call(r.call, "PUT", `/v1/users/${u}/protocol`, r.keys.reviewer, { status: "INACTIVE" });
    await call(two, "PUT", `/v1/users/${u}/protocol`, r.keys.reviewer, { status: "ACTIVE" });
    await call(r.call, "PUT", `/v1/users/${u}/status`, r.keys.reviewer, { customer_status: "CHURNED" });
    const later = await backupPostgres({ db: r.services.db, reader: dbFor(r.databaseUrl), store: b.store });
    if (later.status !== "complete") throw new Error("incomplete");
    expect((await json(await call(r.call, "GET", `/v1/users/${u}/memory`, r.keys.agent))).context).toMatchObject({ a: 1, b: 2, c: 3 });

    // The API keeps serving reads on both instances while the restore runs.
    let serving = true;
    const answers: number[] = [];
    const load = (async () => {
      for (let i = 0; serving; i++) {
        const via = i % 2 ? two : r.call;
        const got = await Promise.all(
          [`/v1/users/${u}/memory`, `/v1/users/${u}/protocol`, `/v1/users/${u}/status`, "/v1/dashboard/metrics"].map((p) =>
            call(via, "GET", p, r.keys.admin),
          ),
        );
        answers.push(...got.map((g) => g.status));
      }
    })();
    await restorePostgres(b.store, set.manifest.id, dbFor(r.databaseUrl), {
      databaseUrl: r.databaseUrl,
      hasher: r.services.hasher,
      confirmOverwrite: true,
      caches: r.services.redis,
      cacheSettleMs: 300,
    });
    serving = false;
    await load;
    expect(answers.length).toBeGreaterThan(0);

    // Nothing newer than the restored rows is served, on either instance.
    for (const via of [r.call, two]) {
      const memory = await json(await call(via, "GET", `/v1/users/${u}/memory?recent=10`, r.keys.agent));
      expect(memory.context).toEqual({ a: 1 });
      expect(memory.recent_messages.map((m: any) => m.content)).toEqual(["before the backup"]);
      expect(await json(await call(via, "GET", `/v1/users/${u}/status`, r.keys.agent))).toMatchObject({
        customer_status: "CUSTOMER",
        ltv_usd: 10,
      });
    }
    // The next writes win and are what the next reads return.
    const patched = await json(await call(r.call, "PATCH", `/v1/users/${u}/memory/context`, r.keys.agent, { updates: { d: 4 } }));
    expect(patched.context).toEqual({ a: 1, d: 4 });
    expect((await json(await call(two, "GET", `/v1/users/${u}/memory`, r.keys.agent))).context).toEqual({ a: 1, d: 4 });
    await call(two, "POST", `/v1/users/${u}/memory/history`, r.keys.agent, { role: "assistant", content: "after the restore" });
    expect(
      (await json(await call(r.call, "GET", `/v1/users/${u}/memory?recent=10`, r.keys.agent))).recent_messages.map((m: any) => m.content),
    ).toEqual(["before the backup", "after the restore"]);
    expect((await call(two, "PUT", `/v1/users/${u}/protocol`, r.keys.reviewer, { status: "INACTIVE" })).status).toBe(200);
    const sent = await json(
      await call(r.call, "POST", "/v1/messages", r.keys.bot, { user_id: u, text: "after the restore", telegram_message_id: 99 }),
    );
    expect(sent.items[0].status).toBe("queued");
    expect(
      (await json(await call(two, "PUT", `/v1/users/${u}/status`, r.keys.reviewer, { customer_status: "CUSTOMER", ltv_amount: 5 })))
        .ltv_usd,
    ).toBe(15);
    expect((await json(await call(r.call, "GET", `/v1/users/${u}/status`, r.keys.agent))).ltv_usd).toBe(15);

    // The catalog outlives the restore: both sets listed, complete and verified.
    const listed = (await json(await call(r.call, "GET", "/v1/backups", r.keys.admin))).items.filter((i: any) => i.kind === "postgres");
    expect(listed.map((i: any) => [i.id, i.complete, i.verified]).sort()).toEqual(
      [
        [set.manifest.id, true, true],
        [later.manifest.id, true, true],
      ].sort(),
    );
  }, 120_000);
});

describe("Redis snapshot and restore", () => {
  it("round-trips strings, hashes, lists, zsets and sets with their TTLs", async () => {
    const r = t.services.redis.client;
    const p = `${t.config.redis.prefix}snap:`;
    await r.set(`${p}s`, "välue ✓", { ex: 300 });
    await r.set(`${p}forever`, "no ttl");
    await r.hset(`${p}h`, { a: "1", b: "two" });
    await r.expire(`${p}h`, 600);
    await r.rpush(`${p}l`, "x", "y", "x");
    await r.zadd(`${p}z`, { score: 1.5, member: "m1" }, { score: -2, member: "m2" });
    await r.sadd(`${p}set`, "a", "b");
    await r.expire(`${p}set`, 900);
    const { manifest, verified } = await backupRedis({ redis: r, prefix: p, store, db: t.services.db });
    expect(verified).toBe(true);
    expect(manifest.key_counts).toEqual({ string: 2, hash: 1, list: 1, zset: 1, set: 1 });
    await r.del(`${p}s`, `${p}forever`, `${p}h`, `${p}l`, `${p}z`, `${p}set`);
    await expect(restoreRedis(store, manifest.id, r, { prefix: p, hasher: t.services.hasher })).resolves.toEqual({ keys: 6, skipped: 0 });
    expect(await r.get(`${p}s`)).toBe("välue ✓");
    expect(await r.get(`${p}forever`)).toBe("no ttl");
    expect(await r.hgetall(`${p}h`)).toEqual(["a", "1", "b", "two"]);
    expect(await r.lrange(`${p}l`, 0, -1)).toEqual(["x", "y", "x"]);
    expect(await r.zrange(`${p}z`, 0, -1, { withScores: true })).toEqual(["m2", "-2", "m1", "1.5"]);
    expect((await r.smembers(`${p}set`)).sort()).toEqual(["a", "b"]);
    for (const [k, ttl] of [
      ["s", 300],
      ["h", 600],
      ["set", 900],
    ] as const)
      expect(Math.abs((await r.ttl(`${p}${k}`)) - ttl)).toBeLessThanOrEqual(2);
    expect(await r.ttl(`${p}forever`)).toBe(-1);
    // Keys elsewhere fill SCAN's batches: the restore must still find the prefix is not empty.
    const others = r.pipeline();
    for (let i = 0; i < 5000; i++) others.set(`${t.config.redis.prefix}other:${i}`, "x");
    await others.exec();
    await expect(restoreRedis(store, manifest.id, r, { prefix: p, hasher: t.services.hasher })).rejects.toBeInstanceOf(RestoreRefusedError);
  });
});

describe("archival", () => {
  it("moves partitions older than the hot window to S3, out of Postgres, readable back identically; erasure rewrites them", async () => {
    const before = await withPg(t.databaseUrl, async (c) =>
      (await c.query("SELECT row_to_json(i)::text AS j FROM interactions_2025_07 i ORDER BY id")).rows.map((r) => r.j),
    );
    expect(before.length).toBe(1);
    await withPg(t.databaseUrl, (c) =>
      c.query(
        "INSERT INTO quarantine_messages (message_id, user_id, message_text, expires_at) VALUES ('expired', 'q', 'x', now() - interval '1 day')",
      ),
    );
    const out = await archiveOldPartitions({
      db: t.services.db,
      reader,
      hasher: t.services.hasher,
      store,
      now: () => new Date("2025-12-01T00:00:00Z"),
    });
    // Months with rows are archived; empty ones are dropped without writing an empty set.
    expect(out.archived.map((a) => a.partition)).toContain("interactions_2025_07");
    expect(out.archived.every((a) => a.rows > 0)).toBe(true);
    expect(out.archived.length + out.empty_partitions_dropped).toBe(3);
    for (const p of ["interactions_2025_06", "interactions_2025_07", "interactions_2025_08"]) {
      expect(await withPg(t.databaseUrl, async (c) => (await c.query("SELECT to_regclass($1) AS t", [p])).rows[0].t), p).toBeNull();
      const archivedHere = out.archived.some((a) => a.partition === p);
      expect((await store.get(`archives/interactions/month=${p.slice(13, 17)}-${p.slice(18)}/_manifest.json`)) !== null, p).toBe(
        archivedHere,
      );
    }
    expect(out.purged_quarantine).toBe(1);
    const gone = await withPg(t.databaseUrl, async (c) => (await c.query("SELECT to_regclass('interactions_2025_07') AS t")).rows[0].t);
    expect(gone).toBeNull();
    const lines: string[] = [];
    await readArchive(store, "interactions_2025_07", (l) => lines.push(l));
    // Parquet holds typed columns; read back, each row is the JSON row_to_json gave (same fields and values).
    expect(lines.map((l) => JSON.parse(l))).toEqual(before.map((l) => JSON.parse(l)));
    expect((await store.list("archives/interactions/month=2025-07/")).map((o) => o.key).sort()).toEqual([
      "archives/interactions/month=2025-07/_manifest.json",
      "archives/interactions/month=2025-07/part-00000.parquet",
    ]);
    const erased = await json(await t.call("DELETE", "/v1/users/old1", { key: t.keys.admin }));
    expect(erased.deleted.archives_rewritten).toBe(1);
    // The Archive job rewrites them (the API may not write archives/).
    await expect(eraseArchivedUsers({ db: t.services.db, hasher: t.services.hasher, store })).resolves.toEqual({ erasures: 1, objects: 1 });
    const after: string[] = [];
    await readArchive(store, "interactions_2025_07", (l) => after.push(l));
    expect(after).toEqual([]);
  });
});

describe("every byte of a set is checked", () => {
  /** Flips one byte of an object in place (as bit rot or a tampering hand would). */
  async function flip(key: string, at: (body: Buffer) => number) {
    const body = (await store.get(key))!;
    const i = at(body);
    body[i] = body[i]! ^ 0x01;
    await store.put(key, body);
    return () => {
      body[i] = body[i]! ^ 0x01;
      return store.put(key, body);
    };
  }

  it("a flipped byte in a Postgres set's manifest, schema or data fails verify, and restore refuses the set", async () => {
    const out = await backupPostgres({ db: t.services.db, reader, store });
    if (out.status !== "complete") throw new Error("backup incomplete");
    const m = out.manifest;
    const manifestKey = `${m.prefix}manifest.json`;
    expect(JSON.parse((await store.get(manifestKey))!.toString())).toMatchObject({
      format: 2,
      checksum: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const targets: [string, (b: Buffer) => number][] = [
      // A digit of the row total: the JSON stays valid, only the checksum can tell.
      [manifestKey, (b) => b.indexOf(Buffer.from(`"rows": ${m.totals.rows}`)) + 9],
      [m.schema_objects![0]!.key, (b) => Math.floor(b.length / 2)],
      [m.tables!.find((tb) => tb.objects.length)!.objects[0]!.key, (b) => b.length - 12],
    ];
    for (const [key, at] of targets) {
      const restore = await flip(key, at);
      try {
        const v = await verifySet(store, "postgres", m.id);
        expect(v.ok, key).toBe(false);
        expect(
          v.problems.map((p) => p.key),
          key,
        ).toContain(key);
        const target = await createEmptyDatabase();
        await expect(
          restorePostgres(store, m.id, dbFor(target), { databaseUrl: target, hasher: t.services.hasher }),
        ).rejects.toBeInstanceOf(RestoreRefusedError);
      } finally {
        await restore();
      }
    }
    expect((await verifySet(store, "postgres", m.id)).ok).toBe(true);
  });

  it("the same for a Redis set and an archive's manifest", async () => {
    const r = t.services.redis.client;
    const p = `${t.config.redis.prefix}flip:`;
    await r.set(`${p}a`, "1");
    const { manifest } = await backupRedis({ redis: r, prefix: p, store, db: t.services.db });
    for (const key of [`${manifest.prefix}manifest.json`, manifest.objects![0]!.key]) {
      const restore = await flip(key, (b) =>
        key.endsWith("manifest.json") ? b.indexOf(Buffer.from('"started_at": "')) + 20 : b.length - 12,
      );
      try {
        expect((await verifySet(store, "redis", manifest.id)).ok, key).toBe(false);
        await expect(restoreRedis(store, manifest.id, r, { prefix: `${p}x:`, hasher: t.services.hasher })).rejects.toBeInstanceOf(
          RestoreRefusedError,
        );
      } finally {
        await restore();
      }
    }
    // The archive written by the archival test above: its manifest is checked when read.
    const archiveManifest = "archives/interactions/month=2025-07/_manifest.json";
    const restore = await flip(archiveManifest, (b) => b.indexOf(Buffer.from('"started_at": "')) + 20);
    try {
      await expect(readArchive(store, "interactions_2025_07", () => {})).rejects.toThrow(/checksum mismatch/);
    } finally {
      await restore();
    }
    await expect(readArchive(store, "interactions_2025_07", () => {})).resolves.toMatchObject({ rows: expect.any(Number) });
  });
});
