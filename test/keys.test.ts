import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeSegment, encodeSegment, redisKeys, type DedupeId } from "@hitl/core";
import { backupRedis, restoreRedis } from "@hitl/core/backup";
import { createTestContext, type TestContext } from "./support/stack.js";
import { createTestBucket } from "./support/backup.js";

// Issue 24 finding 2: user-supplied parts of Redis keys are encoded (cache/keys.ts), so no two
// distinct ids map to one key, in any key family.
const keys = redisKeys("hitl:");
/** Ids as the API allows them, and then anything at all (the encoding must not rest on the API's limits). */
const apiId = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/);
const anyId = fc.oneof(apiId, fc.string({ maxLength: 40 }), fc.constantFrom("", ":", "%", "%3A", "{x}", "a:b", "a%3Ab", "k"));
const dedupe: fc.Arbitrary<DedupeId> = fc.oneof(
  fc.record({ telegramMessageId: fc.nat() }),
  fc.record({ requestKey: anyId, index: fc.nat({ max: 99 }) }),
);
const runs = { numRuns: 2000 };

/** Every key a user id (and other outside values) can shape, tagged with its family and inputs. */
function everyKey(user: string, other: string, d: DedupeId): [string, unknown][] {
  const u = keys.user(user);
  return [
    ...Object.entries(u).map(([name, k]): [string, unknown] => [k, ["user", name, user]]),
    [keys.wal.dedupe(user, d), ["dedupe", user, d]],
    [keys.wal.claim(user, other), ["claim", user, other]],
    [keys.wal.acked(other), ["acked", other]],
    [keys.wal.legacyMessage(other), ["legacy-msg", other]],
    [keys.key("ratelimit", keys.rateLimitId(user)), ["ratelimit", user]],
  ];
}

describe("Redis key layout: identifiers cannot collide", () => {
  it("encodeSegment is reversible, leaves no ':' '{' '}', and is the identity for plain ids", () => {
    fc.assert(
      fc.property(anyId, (s) => {
        const e = encodeSegment(s);
        expect(decodeSegment(e)).toBe(s);
        expect(e).not.toMatch(/[:{}]/);
      }),
      runs,
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/), (s) => {
        expect(encodeSegment(s)).toBe(s);
      }),
      runs,
    );
  });

  it("distinct (user, dedupe id) tuples give distinct dedupe keys", () => {
    fc.assert(
      fc.property(anyId, dedupe, anyId, dedupe, (u1, d1, u2, d2) => {
        fc.pre(u1 !== u2 || JSON.stringify(d1) !== JSON.stringify(d2));
        expect(keys.wal.dedupe(u1, d1)).not.toBe(keys.wal.dedupe(u2, d2));
      }),
      runs,
    );
  });

  it("distinct inputs give distinct keys across every family (user caches, dedupe, claim, ack, rate limit)", () => {
    fc.assert(
      fc.property(anyId, anyId, dedupe, anyId, anyId, dedupe, (u1, o1, d1, u2, o2, d2) => {
        const seen = new Map<string, string>();
        for (const [k, tag] of [...everyKey(u1, o1, d1), ...everyKey(u2, o2, d2)]) {
          const t = JSON.stringify(tag);
          const prior = seen.get(k);
          if (prior !== undefined) expect(prior, k).toBe(t);
          seen.set(k, t);
        }
      }),
      runs,
    );
  });

  it("a user's owners range holds that user's messages and no one else's", () => {
    fc.assert(
      fc.property(anyId, anyId, fc.uuid(), (u1, u2, id) => {
        fc.pre(u1 !== u2);
        const [lo, hi] = keys.wal.ownerRange(u1);
        const inRange = (m: string) =>
          Buffer.compare(Buffer.from(m), Buffer.from(lo.slice(1))) >= 0 && Buffer.compare(Buffer.from(m), Buffer.from(hi.slice(1))) <= 0;
        expect(inRange(keys.wal.ownerMember(u1, id))).toBe(true);
        expect(inRange(keys.wal.ownerMember(u2, id))).toBe(false);
      }),
      runs,
    );
  });

  it("ownerOf reads the user back out of every user-scoped key", () => {
    fc.assert(
      fc.property(anyId, dedupe, (u, d) => {
        for (const k of [...Object.values(keys.user(u)), keys.wal.dedupe(u, d)]) expect(keys.ownerOf(k)).toBe(u);
      }),
      runs,
    );
  });

  it("the two ids of the finding no longer share a dedupe key", () => {
    // Before: both were hitl:wal:dedupe:v:k:K:0.
    expect(keys.wal.dedupe("v", { requestKey: "K", index: 0 })).toBe("hitl:wal:dedupe:v:k:K:0");
    expect(keys.wal.dedupe("v:k:K", { telegramMessageId: 0 })).toBe("hitl:wal:dedupe:v%3Ak%3AK:0");
  });
});

describe("Redis key layout, through the API", () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext();
  });
  const ingest = async (body: unknown, headers: Record<string, string> = {}) => {
    const res = await t.call("POST", "/v1/messages", { key: t.keys.bot, body, headers });
    expect(res.status).toBe(202);
    return ((await res.json()) as { items: { message_id: string; status: string }[] }).items;
  };

  it("user v with Idempotency-Key K and user v:k:K with telegram id 0 are two messages, neither a duplicate of the other", async () => {
    const [a] = await ingest({ user_id: "v", text: "from v" }, { "idempotency-key": "K" });
    const [b] = await ingest({ user_id: "v:k:K", text: "from v:k:K", telegram_message_id: 0 });
    expect(a!.status).toBe("queued");
    expect(b).toEqual({ message_id: expect.any(String), status: "queued" });
    expect(b!.message_id).not.toBe(a!.message_id);
    // And each is still a duplicate of itself.
    expect(await ingest({ user_id: "v", text: "from v" }, { "idempotency-key": "K" })).toEqual([
      { message_id: a!.message_id, status: "duplicate" },
    ]);
    expect(await ingest({ user_id: "v:k:K", text: "again", telegram_message_id: 0 })).toEqual([
      { message_id: b!.message_id, status: "duplicate" },
    ]);
  });

  it("a user whose id holds ':' has caches of its own (status of a:b is not user a's key family)", async () => {
    const put = (u: string, s: string) =>
      t.call("PUT", `/v1/users/${encodeURIComponent(u)}/status`, { key: t.keys.reviewer, body: { customer_status: s } });
    expect((await put("kx:status", "CUSTOMER")).status).toBe(200);
    expect((await put("kx", "CHURNED")).status).toBe(200);
    const get = async (u: string) =>
      (
        (await (await t.call("GET", `/v1/users/${encodeURIComponent(u)}/status`, { key: t.keys.agent })).json()) as {
          customer_status: string;
        }
      ).customer_status;
    expect(await get("kx:status")).toBe("CUSTOMER");
    expect(await get("kx")).toBe("CHURNED");
    expect(await t.services.redis.client.exists(t.services.redis.keys.user("kx:status").status)).toBe(1);
  });

  it("erasing a user whose id holds ':' removes that user's keys and messages only, keys of the layout before included", async () => {
    const r = t.services.redis;
    const users = ["ea", "ea:b", "ea:b:wal"];
    for (const u of users) {
      await ingest({ user_id: u, text: `from ${u}`, telegram_message_id: 9 });
      expect(
        (await t.call("PUT", `/v1/users/${encodeURIComponent(u)}/status`, { key: t.keys.reviewer, body: { customer_status: "CUSTOMER" } }))
          .status,
      ).toBe(200);
    }
    // What the layout before this one left for ea:b (raw id in the key): a cache, a message hash in its WAL set, a dedupe key in its set.
    const legacyId = crypto.randomUUID();
    const legacy = r.keys.legacyUser("ea:b");
    await r.client.set(`${r.keys.prefix}user:ea:b:ctx`, "old");
    await r.client.hset(r.keys.wal.legacyMessage(legacyId), { id: legacyId, user_id: "ea:b", text: "old" });
    await r.client.sadd(legacy.wal, legacyId);
    await r.client.set(`${r.keys.prefix}wal:dedupe:ea:b:7`, legacyId);
    await r.client.sadd(legacy.dedupe, `${r.keys.prefix}wal:dedupe:ea:b:7`);
    const res = await t.call("DELETE", `/v1/users/${encodeURIComponent("ea:b")}`, { key: t.keys.admin });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { deleted: { wal_messages: number } }).deleted.wal_messages).toBe(2);
    for (const k of [
      r.keys.user("ea:b").status,
      r.keys.wal.dedupe("ea:b", { telegramMessageId: 9 }),
      `${r.keys.prefix}user:ea:b:ctx`,
      r.keys.wal.legacyMessage(legacyId),
      legacy.wal,
      legacy.dedupe,
      `${r.keys.prefix}wal:dedupe:ea:b:7`,
    ])
      expect(await r.client.exists(k), k).toBe(0);
    for (const u of ["ea", "ea:b:wal"]) {
      expect(await r.client.exists(r.keys.user(u).status), u).toBe(1);
      expect(await r.client.exists(r.keys.wal.dedupe(u, { telegramMessageId: 9 })), u).toBe(1);
    }
    const claimed: { user_id: string }[] = [];
    for (;;) {
      const items = (
        (await (await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 100 } })).json()) as {
          items: { user_id: string; message_id: string; lease_token: string }[];
        }
      ).items;
      if (!items.length) break;
      claimed.push(...items);
      await t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items } });
    }
    expect(
      claimed
        .map((c) => c.user_id)
        .filter((u) => u.startsWith("ea"))
        .sort(),
    ).toEqual(["ea", "ea:b:wal"]);
  });

  it("a Redis restore leaves an erased user's messages out of the WAL's shared hashes, owners index and queue", async () => {
    const r = t.services.redis;
    const { store } = await createTestBucket();
    const [keep] = await ingest({ user_id: "rs-keep", text: "stay" });
    const [gone] = await ingest({ user_id: "rs:gone", text: "go" });
    const { manifest } = await backupRedis({ redis: r.client, prefix: r.keys.prefix, store, db: t.services.db });
    expect((await t.call("DELETE", `/v1/users/${encodeURIComponent("rs:gone")}`, { key: t.keys.admin })).status).toBe(200);
    await restoreRedis(store, manifest.id, r.client, {
      prefix: r.keys.prefix,
      hasher: t.services.hasher,
      db: t.services.db,
      confirmOverwrite: true,
    });
    expect(await r.client.hexists(r.keys.wal.messagesOf(keep!.message_id), keep!.message_id)).toBe(1);
    expect(await r.client.hexists(r.keys.wal.messagesOf(gone!.message_id), gone!.message_id)).toBe(0);
    const owners = await r.client.zrange<string[]>(r.keys.wal.owners, 0, -1);
    expect(owners).toContain(r.keys.wal.ownerMember("rs-keep", keep!.message_id));
    expect(owners.filter((m) => m.endsWith(gone!.message_id))).toEqual([]);
    const pending = await r.client.lrange(r.keys.wal.pending, 0, -1);
    expect(pending).toContain(keep!.message_id);
    expect(pending).not.toContain(gone!.message_id);
  });
});
