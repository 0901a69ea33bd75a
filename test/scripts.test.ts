import { createHash, randomBytes, randomUUID } from "node:crypto";
import { REDIS_SCRIPTS, migrateLegacyWal } from "@hitl/core";
import { snapshotKeys } from "@hitl/core/backup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startRedisServer, startUpstashBridge } from "@hitl/devstack";
import { createTestContext, type TestContext } from "./support/stack.js";

// The WAL's scripts go by hash (EVALSHA through the Upstash client's script helper): a warm
// instance never sends script text; a Redis without them (new, flushed) costs one EVAL, once.
let stop: () => Promise<void>;
let t: TestContext;
const bodies: string[] = [];
beforeAll(async () => {
  const redis = await startRedisServer({ port: await freePort() });
  const token = randomBytes(12).toString("hex");
  const bridge = await startUpstashBridge({ redisUrl: redis.url, token });
  stop = async () => {
    await bridge.stop();
    await redis.stop();
  };
  t = await createTestContext({ UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: token });
  // Every REST body the real client sends, through its own requester.
  const upstash = t.services.redis.client as unknown as { client: { request: (req: { body?: unknown }) => Promise<unknown> } };
  const request = upstash.client.request.bind(upstash.client);
  upstash.client.request = (req) => {
    bodies.push(JSON.stringify(req.body));
    return request(req);
  };
});
afterAll(async () => {
  await stop();
});

describe("Lua scripts", () => {
  it("a new Redis: EVALSHA, NOSCRIPT, then EVAL once; from then on EVALSHA only, never the script text", async () => {
    const ingest = (i: number) => t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: `s${i}`, text: `m${i}` } });
    expect((await ingest(1)).status).toBe(202);
    const commands = () =>
      bodies.map((b) => JSON.parse(b) as unknown[]).filter((c) => typeof c[0] === "string" && /^eval/i.test(c[0])) as string[][];
    const first = commands().map((c) => c[0]!.toLowerCase());
    // The first EVALSHA meets NOSCRIPT and the script goes once as text; the second use of it in this
    // request (the ingest runs again once the user's protocol is known) is by hash.
    expect(first.slice(0, 2)).toEqual(["evalsha", "eval"]);
    expect(first.filter((c) => c === "eval")).toHaveLength(1);
    bodies.length = 0;
    for (let i = 2; i < 5; i++) expect((await ingest(i)).status).toBe(202);
    const later = commands();
    expect(later.length).toBeGreaterThanOrEqual(3);
    expect(new Set(later.map((c) => c[0]!.toLowerCase()))).toEqual(new Set(["evalsha"]));
    expect(later.every((c) => c[1]!.length === 40 && !c[1]!.includes("redis.call"))).toBe(true);
    // A second instance on the same (now warm) Redis sends no script text either.
    const other = await createTestContext({ UPSTASH_REDIS_REST_URL: t.config.redis.url, UPSTASH_REDIS_REST_TOKEN: t.config.redis.token });
    expect((await other.call("POST", "/v1/messages/claim", { key: other.keys.agent, body: { max: 2 } })).status).toBe(200);
  });
});

describe("every script under Upstash's key locking", () => {
  it("every script the code defines carries allow-key-locking (read-only ones no-writes too) on its first line", () => {
    expect(REDIS_SCRIPTS.size).toBeGreaterThanOrEqual(10);
    for (const lua of REDIS_SCRIPTS) expect(lua.split("\n")[0]).toMatch(/^#!lua flags=(no-writes,)?allow-key-locking$/);
  });

  it("every script runs under the bridge's strict mode (a key not in KEYS is refused there): each one is driven through the code that runs it", async () => {
    bodies.length = 0;
    const u = `strict:${randomUUID().slice(0, 8)}`;
    const ok = async (res: Response | Promise<Response>, status = 200) => {
      const r = await res;
      expect(r.status, await r.clone().text()).toBe(status);
      return r;
    };
    // Ingest: a cold user (INGEST twice, SET_IF_NEWER in the protocol pipeline), an Idempotency-Key, a silenced user.
    await ok(
      t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: u, text: "one" }, headers: { "idempotency-key": "strict-1" } }),
      202,
    );
    await ok(
      t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: u, text: "two", telegram_message_id: 5, chat_id: 77 } }),
      202,
    );
    await ok(t.call("PUT", `/v1/users/${u}-q/protocol`, { key: t.keys.reviewer, body: { status: "ACTIVE" } }));
    await ok(t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: `${u}-q`, text: "shh", telegram_message_id: 6 } }), 202);
    // Claim only given ids (the pending list, the in-flight set and a body hash, all in KEYS), then claim (with a retry key), ack, stats.
    const picked = (await (
      await ok(t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: u, text: "picked", telegram_message_id: 7 } }), 202)
    ).json()) as { items: { message_id: string }[] };
    const only = (await (
      await ok(t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { message_ids: [picked.items[0]!.message_id] } }))
    ).json()) as { items: { message_id: string; lease_token: string }[] };
    expect(only.items.map((i) => i.message_id)).toEqual([picked.items[0]!.message_id]);
    await ok(t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items: only.items } }));
    const claimed = (await (
      await ok(
        t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 100 }, headers: { "idempotency-key": "strict-claim" } }),
      )
    ).json()) as { items: { message_id: string; lease_token: string; user_id: string; chat_id: unknown }[] };
    expect(claimed.items.filter((i) => i.user_id === u).map((i) => i.chat_id)).toEqual([null, 77]);
    await ok(t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items: claimed.items } }));
    await ok(t.call("GET", "/v1/messages/stats", { key: t.keys.agent }));
    // Caches: status, memory context and history (written, then read cold: the write-back pipeline).
    await ok(t.call("PUT", `/v1/users/${u}/status`, { key: t.keys.reviewer, body: { customer_status: "CUSTOMER", ltv_amount: 1 } }));
    await ok(t.call("PATCH", `/v1/users/${u}/memory/context`, { key: t.keys.agent, body: { updates: { name: "S" } } }));
    await ok(t.call("POST", `/v1/users/${u}/memory/history`, { key: t.keys.agent, body: { role: "user", content: "hi" } }), 201);
    await t.services.redis.client.del(t.services.redis.keys.user(u).ctx, t.services.redis.keys.user(u).history);
    expect(
      ((await (await ok(t.call("GET", `/v1/users/${u}/memory`, { key: t.keys.agent }))).json()) as { context: unknown }).context,
    ).toEqual({ name: "S" });
    // A message left by the layout before this one is moved (and keeps its place in the queue).
    const legacyId = randomUUID();
    const r = t.services.redis;
    await r.client.hset(r.keys.wal.legacyMessage(legacyId), {
      id: legacyId,
      user_id: u,
      text: "old",
      chat_id: "",
      telegram_message_id: "",
      telegram_date: "",
      received_at: new Date().toISOString(),
      enqueued_at: String(Date.now()),
      attempts: "0",
    });
    await r.client.rpush(r.keys.wal.pending, legacyId);
    expect(await migrateLegacyWal(r)).toEqual({ moved: 1, requeued: 0, dropped: 0 });
    const again = (await (await ok(t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 10 } }))).json()) as {
      items: { message_id: string; text: string }[];
    };
    expect(again.items.map((i) => [i.message_id, i.text])).toEqual([[legacyId, "old"]]);
    // An id without a body (erased meanwhile) is parked by the claim, and the migration it starts drops it.
    await r.client.rpush(r.keys.wal.pending, randomUUID());
    expect(
      ((await (await ok(t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 10 } }))).json()) as { items: unknown[] })
        .items,
    ).toEqual([]);
    for (let i = 0; i < 50 && (await r.client.llen(r.keys.wal.orphans)) > 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(await r.client.llen(r.keys.wal.orphans)).toBe(0);
    // A memory reset (its guard and cache drop), and the backlog's over-threshold marks (the status page records them).
    await ok(t.call("DELETE", `/v1/users/${u}-m/memory`, { key: t.keys.admin }));
    expect([200, 503]).toContain((await t.call("GET", "/status", { key: t.keys.admin })).status);
    // Erasure, and a Redis backup's snapshot.
    await ok(t.call("DELETE", `/v1/users/${u}`, { key: t.keys.admin }));
    expect(await snapshotKeys(r.client, [r.keys.wal.pending, ...r.keys.wal.messageBuckets])).toBeInstanceOf(Array);

    const sent = bodies
      .map((b) => JSON.parse(b) as unknown)
      .flatMap((b) => (Array.isArray(b) && Array.isArray(b[0]) ? b : [b])) as string[][];
    const ran = new Set<string>();
    for (const c of sent) {
      const name = String(c[0]).toLowerCase();
      if (name === "evalsha") ran.add(c[1]!);
      if (name === "eval") ran.add(createHash("sha1").update(c[1]!).digest("hex"));
    }
    const missing = [...REDIS_SCRIPTS].filter((lua) => !ran.has(createHash("sha1").update(lua).digest("hex")));
    expect(missing.map((l) => l.split("\n").slice(0, 3).join(" | "))).toEqual([]);
  });
});
