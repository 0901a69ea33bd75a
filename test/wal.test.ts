import { beforeAll, describe, expect, it } from "vitest";
import { MAX_DELIVERIES, decodeVersioned } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { countRoundTrips } from "./support/round-trips.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});

const ingest = async (body: unknown) => {
  const res = await t.call("POST", "/v1/messages", { key: t.keys.bot, body });
  expect(res.status).toBe(202);
  return ((await res.json()) as { items: { message_id: string; status: string }[] }).items;
};
const claim = async (body: unknown = {}) => {
  const res = await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: any[] }).items;
};
const ack = async (items: { message_id: string; lease_token: string }[]) => {
  const res = await t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items } });
  expect(res.status).toBe(200);
  return (await res.json()) as { acked: number; stale: string[] };
};
/** Drains whatever earlier tests left, so each test reasons about its own messages. */
const drain = async () => {
  for (;;) {
    const items = await claim({ max: 100 });
    if (!items.length) return;
    await ack(items);
  }
};

describe("WAL ingest", () => {
  it("queues a single message and a batch, in order, with fresh ids", async () => {
    await drain();
    const one = await ingest({
      user_id: "u1",
      text: "hello",
      chat_id: 42,
      telegram_message_id: 1001,
      telegram_date: "2026-11-25T10:00:00Z",
    });
    expect(one).toEqual([{ message_id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: "queued" }]);
    const batch = await ingest({
      messages: [
        { user_id: "u1", text: "a" },
        { user_id: "u2", text: "b" },
        { user_id: "u1", text: "c" },
      ],
    });
    expect(batch.map((b) => b.status)).toEqual(["queued", "queued", "queued"]);
    const claimed = await claim({ max: 10 });
    expect(claimed.map((c) => c.text)).toEqual(["hello", "a", "b", "c"]);
    expect(claimed[0]).toMatchObject({
      message_id: one[0]!.message_id,
      user_id: "u1",
      chat_id: 42,
      telegram_message_id: 1001,
      telegram_date: "2026-11-25T10:00:00Z",
      attempts: 1,
    });
    expect(claimed[1]).toMatchObject({ chat_id: null, telegram_message_id: null, telegram_date: null });
    expect(new Date(claimed[1].received_at).getTime()).toBeGreaterThan(0);
    await ack(claimed);
  });

  it("answers duplicate for the same user and telegram id within 7 days, with the first id", async () => {
    await drain();
    const [first] = await ingest({ user_id: "dup", text: "x", telegram_message_id: 7 });
    const [again] = await ingest({ user_id: "dup", text: "x again", telegram_message_id: 7 });
    expect(again).toEqual({ message_id: first!.message_id, status: "duplicate" });
    const [otherUser] = await ingest({ user_id: "dup2", text: "x", telegram_message_id: 7 });
    expect(otherUser!.status).toBe("queued");
    const inBatch = await ingest({
      messages: [
        { user_id: "dup3", text: "1", telegram_message_id: 9 },
        { user_id: "dup3", text: "2", telegram_message_id: 9 },
      ],
    });
    expect(inBatch.map((b) => b.status)).toEqual(["queued", "duplicate"]);
    expect(inBatch[1]!.message_id).toBe(inBatch[0]!.message_id);
    const claimed = await claim({ max: 10 });
    expect(claimed.map((c) => c.text).sort()).toEqual(["1", "x", "x"]);
    await ack(claimed);
  });

  it("ingests with a warm protocol cache in one Redis round trip (budget: 2) and no Postgres", async () => {
    await ingest({ user_id: "rt-user", text: "warm up the protocol cache" });
    const rt = countRoundTrips(t.services);
    try {
      await ingest({ user_id: "rt-user", text: "counted" });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
      rt.reset();
      await ingest({ messages: Array.from({ length: 100 }, (_, i) => ({ user_id: "rt-user", text: `m${i}` })) });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
    } finally {
      rt.restore();
    }
    await drain();
  });
});

describe("WAL ingest, cold paths", () => {
  it("a user the cache does not know: one Postgres read, the cache filled, no second cache read", async () => {
    const rt = countRoundTrips(t.services);
    try {
      const [r] = await ingest({ user_id: "cold-user", text: "first" });
      expect(r!.status).toBe("queued");
      // EVAL (answers "unknown"), then the cache write and the second EVAL in one pipeline; one Postgres query.
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 2, postgres: 1 });
      rt.reset();
      await t.call("PUT", "/v1/users/cold-silenced/protocol", { key: t.keys.reviewer, body: { status: "ACTIVE" } });
      rt.reset();
      const [q] = await ingest({ user_id: "cold-silenced", text: "shh" });
      expect(q!.status).toBe("quarantined");
      // EVAL (answers "active" from the cache), the quarantine transaction, the cache refresh.
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 2, postgres: 1 });
    } finally {
      rt.restore();
    }
    await drain();
  });
});

describe("WAL ingest reads the protocol cache as JSON", () => {
  it('a cache value in either format (`<version>#<json>`, or `{"v":..}` written before it) is decoded, not searched as text', async () => {
    const r = t.services.redis;
    const base = {
      activated_by: null,
      activated_at: null,
      reason: null,
      messages_quarantined: 0,
      cost_saved_usd: 0,
      last_message_at: null,
    };
    await r.client.set(r.keys.user("fmt-old").protocol, JSON.stringify({ v: 1, user_id: "fmt-old", status: "INACTIVE", ...base }), {
      ex: 60,
    });
    await r.client.set(r.keys.user("fmt-new").protocol, `1#${JSON.stringify({ user_id: "fmt-new", status: "INACTIVE", ...base })}`, {
      ex: 60,
    });
    await r.client.set(r.keys.user("fmt-bad").protocol, "1#{not json", { ex: 60 });
    const rt = countRoundTrips(t.services);
    try {
      const items = await ingest({
        messages: [
          { user_id: "fmt-old", text: "a" },
          { user_id: "fmt-new", text: "b" },
        ],
      });
      expect(items.map((i) => i.status)).toEqual(["queued", "queued"]);
      // Both read as INACTIVE from the cache: one round trip, no Postgres.
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
      rt.reset();
      // An unreadable value counts as unknown: Postgres is asked.
      expect((await ingest({ user_id: "fmt-bad", text: "c" }))[0]!.status).toBe("queued");
      expect(rt.postgres).toBe(1);
    } finally {
      rt.restore();
    }
    await drain();
  });
});

describe("WAL claim and ack", () => {
  it("claims and acks in one Redis round trip each, no Postgres", async () => {
    await drain();
    await ingest({
      messages: [
        { user_id: "r", text: "1" },
        { user_id: "r", text: "2" },
      ],
    });
    const rt = countRoundTrips(t.services);
    try {
      const items = await claim({ max: 2 });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
      rt.reset();
      expect(await ack(items)).toEqual({ acked: 2, stale: [] });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
    } finally {
      rt.restore();
    }
  });

  it("50 concurrent claims never deliver a message twice while its lease is live", async () => {
    await drain();
    await ingest({ messages: Array.from({ length: 100 }, (_, i) => ({ user_id: `c${i % 7}`, text: `msg ${i}` })) });
    const results = await Promise.all(Array.from({ length: 50 }, () => claim({ max: 3, lease_seconds: 60 })));
    const ids = results.flat().map((m) => m.message_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(100);
    expect(await claim({ max: 10 })).toEqual([]);
    await ack(results.flat());
  });

  it("re-delivers an expired lease first, and reports the old token stale", async () => {
    await drain();
    await ingest({
      messages: [
        { user_id: "lease", text: "first" },
        { user_id: "lease", text: "second" },
      ],
    });
    const [first] = await claim({ max: 1, lease_seconds: 5 });
    // Expire the lease: move its in-flight score into the past.
    await t.services.redis.client.zadd(t.services.redis.key("wal", "inflight"), { score: Date.now() - 1, member: first.message_id });
    const again = await claim({ max: 2 });
    expect(again.map((m) => m.text)).toEqual(["first", "second"]);
    expect(again[0]).toMatchObject({ message_id: first.message_id, attempts: 2 });
    expect(again[0].lease_token).not.toBe(first.lease_token);
    const res = await ack([{ message_id: first.message_id, lease_token: first.lease_token }]);
    expect(res).toEqual({ acked: 0, stale: [first.message_id] });
    expect(await ack(again)).toEqual({ acked: 2, stale: [] });
    // A retried ack of an applied one is recognised, not reported stale.
    expect(await ack([again[0]])).toEqual({ acked: 1, stale: [] });
  });

  it("dead-letters a message instead of its 6th delivery", async () => {
    await drain();
    const [m] = await ingest({ user_id: "dead", text: "poison" });
    const inflight = t.services.redis.key("wal", "inflight");
    for (let i = 1; i <= MAX_DELIVERIES; i++) {
      const [got] = await claim({ max: 1, lease_seconds: 5 });
      expect(got).toMatchObject({ message_id: m!.message_id, attempts: i });
      await t.services.redis.client.zadd(inflight, { score: Date.now() - 1, member: m!.message_id });
    }
    const before = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    expect(await claim({ max: 1 })).toEqual([]);
    const stats = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    expect(stats.dead_letter).toBe(before.dead_letter + 1);
    expect(stats.in_flight).toBe(0);
    const deadList = await t.services.redis.client.lrange(t.services.redis.key("wal", "dead"), 0, -1);
    expect(deadList).toContain(m!.message_id);
  });

  it("reports depths and the oldest pending age", async () => {
    await drain();
    const empty = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    expect(empty).toMatchObject({ pending: 0, in_flight: 0, oldest_pending_age_seconds: null });
    await ingest({
      messages: [
        { user_id: "s", text: "1" },
        { user_id: "s", text: "2" },
      ],
    });
    await claim({ max: 1 });
    const stats = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    expect(stats).toMatchObject({ pending: 1, in_flight: 1 });
    expect(stats.oldest_pending_age_seconds).toBeGreaterThanOrEqual(0);
  });
});

describe("silence protocol on ingest", () => {
  it("quarantines messages of a user whose protocol is ACTIVE, once, updating the counters", async () => {
    await drain();
    const pg = (await import("pg")).default;
    const c = new pg.Client({ connectionString: t.databaseUrl });
    await c.connect();
    try {
      await c.query("INSERT INTO user_protocol_status (user_id, status, activated_by) VALUES ('silenced', 'ACTIVE', 'reviewer-key')");
      const items = await ingest({
        messages: [
          { user_id: "silenced", text: "let me in", telegram_message_id: 50 },
          { user_id: "free", text: "hello" },
          { user_id: "silenced", text: "again", telegram_message_id: 50 },
        ],
      });
      expect(items.map((i) => i.status)).toEqual(["quarantined", "queued", "duplicate"]);
      expect(items[2]!.message_id).toBe(items[0]!.message_id);
      const q = (
        await c.query(
          "SELECT message_id, message_text, telegram_message_id, processed, expires_at > now() + interval '6 days' AS week FROM quarantine_messages WHERE user_id = 'silenced'",
        )
      ).rows;
      expect(q).toEqual([
        { message_id: items[0]!.message_id, message_text: "let me in", telegram_message_id: "50", processed: false, week: true },
      ]);
      const p = (
        await c.query("SELECT messages_quarantined, cost_saved_usd::float8 AS saved FROM user_protocol_status WHERE user_id = 'silenced'")
      ).rows[0];
      expect(p).toEqual({ messages_quarantined: 1, saved: 0.000307 });
      // The cache was refreshed with the new counters, and only the free user's message is queued.
      const cached = decodeVersioned((await t.services.redis.client.get<string>(t.services.redis.key("user", "silenced", "protocol")))!);
      expect(cached).toMatchObject({ status: "ACTIVE", messages_quarantined: 1 });
      const claimed = await claim({ max: 10 });
      expect(claimed.map((m) => m.user_id)).toEqual(["free"]);
      await ack(claimed);
    } finally {
      await c.end();
    }
  });
});
