import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { countRoundTrips } from "./support/round-trips.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const get = (user: string, q = "") => t.call("GET", `/v1/users/${user}/memory${q}`, { key: t.keys.agent });
const patch = (user: string, updates: unknown) =>
  t.call("PATCH", `/v1/users/${user}/memory/context`, { key: t.keys.agent, body: { updates } });
const append = (user: string, body: unknown, key = t.keys.agent) => t.call("POST", `/v1/users/${user}/memory/history`, { key, body });
const ctxKey = (user: string) => t.services.redis.key("user", user, "ctx");
const historyKey = (user: string) => t.services.redis.key("user", user, "history");
const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);
const metric = async (name: string) => {
  const text = await t.services.metrics.registry.getSingleMetricAsString(name);
  return text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
};

describe("memory: context", () => {
  it("merges updates (Postgres first, then the cache) and reads them back", async () => {
    expect(await json(await patch("ctx1", { name: "Ana", age: 29 }))).toEqual({ context: { name: "Ana", age: 29 }, compression_level: 0 });
    expect((await json(await patch("ctx1", { age: 30, location: "MTY" }))).context).toEqual({ name: "Ana", age: 30, location: "MTY" });
    expect((await sql("SELECT context FROM user_memory WHERE user_id = 'ctx1'"))[0].context).toEqual({
      name: "Ana",
      age: 30,
      location: "MTY",
    });
    const cached = await t.services.redis.client.get<string>(ctxKey("ctx1"));
    expect(cached).toMatch(/^2#1\|n\|[0-9a-f]{8}\|/);
    expect(await t.services.redis.client.ttl(ctxKey("ctx1"))).toBeGreaterThan(29 * 86_400);
    expect((await json(await get("ctx1"))).context).toEqual({ name: "Ana", age: 30, location: "MTY" });
  });

  it("concurrent patches never lose each other", async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => patch("ctx2", { [`k${i}`]: i })));
    const ctx = (await json(await get("ctx2"))).context;
    expect(Object.keys(ctx).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`).sort());
  });

  it("applies and reports the compression levels over 100 KB, stored compressed in the cache", async () => {
    const r1 = await json(await patch("big1", { name: "Ana", scratch: "x".repeat(110 * 1024) }));
    expect(r1.compression_level).toBe(1);
    expect(r1.context.scratch).toBeUndefined();
    const summaries = Array.from({ length: 8 }, (_, i) => ({ i, text: `${i} `.repeat(8 * 1024) }));
    const r2 = await json(await patch("big2", { name: "Bo", conversation_summary: summaries }));
    expect(r2.compression_level).toBe(2);
    expect(r2.context.conversation_summary.map((s: any) => s.i)).toEqual([5, 6, 7]);
    const r3 = await json(await patch("big3", { name: "Cy", preferences: { essay: "y".repeat(120 * 1024) }, last_interaction: "t" }));
    expect(r3).toMatchObject({
      compression_level: 3,
      context: { name: "Cy", last_interaction: "t", aggressive_compression_applied: true },
    });
    const [row] = await sql("SELECT compression_level, context_bytes FROM user_memory WHERE user_id = 'big2'");
    expect(row.compression_level).toBe(2);
    const cached = (await t.services.redis.client.get<string>(ctxKey("big2")))!;
    expect(cached).toMatch(/^\d+#1\|b\|/);
    expect(cached.length).toBeLessThan(JSON.stringify(r2.context).length / 3);
    expect(await metric("compression_events_total")).toBeGreaterThanOrEqual(6);
  });

  it("PATCH costs one Postgres and one Redis round trip, the audit row inside the Postgres one", async () => {
    const rt = countRoundTrips(t.services);
    try {
      await patch("rt1", { a: 1 });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 1 });
    } finally {
      rt.restore();
    }
  });

  it("rejects a body without an updates object", async () => {
    expect((await t.call("PATCH", "/v1/users/x/memory/context", { key: t.keys.agent, body: { updates: [1] } })).status).toBe(400);
    expect((await t.call("PATCH", "/v1/users/bad id/memory/context", { key: t.keys.agent, body: { updates: {} } })).status).toBe(400);
  });
});

describe("memory: history", () => {
  it("keeps the last messages, summary of the older ones, and the anti-interrogation flag", async () => {
    for (let i = 0; i < 14; i++) {
      const role = i % 2 === 0 ? "user" : "assistant";
      const content = i === 0 ? "I hate my job" : i === 13 ? "what do you do for fun?" : `message ${i}`;
      expect((await append("h1", { role, content })).status).toBe(201);
    }
    const view = await json(await get("h1"));
    expect(view.total_messages).toBe(14);
    expect(view.recent_messages.map((m: any) => m.content)).toEqual([
      ...Array.from({ length: 9 }, (_, i) => `message ${i + 4}`),
      "what do you do for fun?",
    ]);
    expect(view.temporal_summary).toBe("- Just now: Discussed work/profession");
    expect(view.last_assistant_asked_question).toBe(true);
    expect((await json(await get("h1", "?recent=3"))).recent_messages).toHaveLength(3);
    expect((await get("h1", "?recent=51")).status).toBe(400);
  });

  it("stores bubbles of assistant turns and answers an empty history for a new user", async () => {
    await append("h2", { role: "assistant", content: "a b", bubbles: ["a", "b"] }, t.keys.bot);
    expect((await json(await get("h2"))).recent_messages[0]).toMatchObject({ role: "assistant", content: "a b", bubbles: ["a", "b"] });
    expect(await json(await get("nobody"))).toEqual({
      user_id: "nobody",
      context: {},
      recent_messages: [],
      temporal_summary: "",
      total_messages: 0,
      last_assistant_asked_question: false,
    });
  });

  it("100 concurrent appends: all in Postgres, the cache holds the last 50 in order", async () => {
    await append("h3", { role: "user", content: "first" });
    // Only a rebuild from Postgres marks a window complete (a read does it); appends then keep it exact.
    await get("h3");
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => append("h3", { role: "user", content: `c${i}` })));
    expect(results.every((r) => r.status === 201)).toBe(true);
    const durable = await sql("SELECT id, content FROM memory_messages WHERE user_id = 'h3' ORDER BY id");
    expect(durable).toHaveLength(101);
    const members = await t.services.redis.client.zrange<string[]>(historyKey("h3"), 0, -1);
    expect(members[0]).toBe("__complete");
    expect(members).toHaveLength(51);
    const view = await json(await get("h3", "?recent=50"));
    expect(view.recent_messages.map((m: any) => m.id)).toEqual(durable.slice(-50).map((r) => Number(r.id)));
  });

  it("POST history costs one Postgres and one Redis round trip, the audit row inside the Postgres one", async () => {
    await append("rt2", { role: "user", content: "x" });
    const rt = countRoundTrips(t.services);
    try {
      await append("rt2", { role: "user", content: "y" });
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 1 });
    } finally {
      rt.restore();
    }
  });
});

describe("memory: cache behaviour", () => {
  it("GET costs 1 pipelined Redis round trip warm; 1 Postgres and at most 2 Redis cold", async () => {
    await patch("warm", { name: "W" });
    await append("warm", { role: "user", content: "hi" });
    await get("warm");
    const rt = countRoundTrips(t.services);
    try {
      await get("warm");
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
      await t.services.redis.client.del(ctxKey("warm"), historyKey("warm"));
      rt.reset();
      const view = await json(await get("warm"));
      expect(view).toMatchObject({ context: { name: "W" }, total_messages: 1 });
      expect(rt.postgres).toBe(1);
      expect(rt.redis).toBeLessThanOrEqual(2);
      rt.reset();
      await get("warm");
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
    } finally {
      rt.restore();
    }
  });

  it("a flipped byte in a cached value is counted, dropped and rebuilt from Postgres in the same request", async () => {
    await patch("corrupt", { name: "Zoe", notes: "z".repeat(3000) });
    await append("corrupt", { role: "user", content: "hello there" });
    await get("corrupt");
    const before = await metric("memory_corruption_total");
    const ctx = (await t.services.redis.client.get<string>(ctxKey("corrupt")))!;
    const at = ctx.indexOf("|", ctx.indexOf("#") + 4) + 1 + 10;
    await t.services.redis.client.set(ctxKey("corrupt"), ctx.slice(0, at) + (ctx[at] === "A" ? "B" : "A") + ctx.slice(at + 1));
    const [member] = await t.services.redis.client.zrange<string[]>(historyKey("corrupt"), 1, 1);
    await t.services.redis.client.zrem(historyKey("corrupt"), member!);
    await t.services.redis.client.zadd(historyKey("corrupt"), { score: 999_999_999, member: member!.replace("hello", "jello") });
    const view = await json(await get("corrupt"));
    expect(view.context).toEqual({ name: "Zoe", notes: "z".repeat(3000) });
    expect(view.recent_messages.map((m: any) => m.content)).toEqual(["hello there"]);
    expect(await metric("memory_corruption_total")).toBe(before + 2);
    // The rebuilt values are healthy again.
    const again = await json(await get("corrupt"));
    expect(again.recent_messages.map((m: any) => m.content)).toEqual(["hello there"]);
    expect(await metric("memory_corruption_total")).toBe(before + 2);
  });
});

describe("memory: stats", () => {
  it("reports per-user sizes and limits", async () => {
    await patch("st", { name: "S" });
    for (let i = 0; i < 3; i++) await append("st", { role: "user", content: `m${i}` });
    const s = await json(await t.call("GET", "/v1/users/st/memory/stats", { key: t.keys.reviewer }));
    expect(s).toMatchObject({
      user_id: "st",
      history_length: 3,
      max_history_length: 50,
      max_context_size_kb: 100,
      context_limit_exceeded: false,
      history_limit_exceeded: false,
      compression_applied: false,
    });
    expect(s.context_size_kb).toBeGreaterThan(0);
    expect(s.total_size_kb).toBeCloseTo(s.context_size_kb + s.history_size_kb, 1);
    const h3 = await json(await t.call("GET", "/v1/users/h3/memory/stats", { key: t.keys.agent }));
    expect(h3).toMatchObject({ history_length: 50, history_limit_exceeded: true });
  });

  it("reports totals across users to admins only", async () => {
    expect((await t.call("GET", "/v1/memory/stats", { key: t.keys.reviewer })).status).toBe(403);
    const s = await json(await t.call("GET", "/v1/memory/stats", { key: t.keys.admin }));
    expect(s.users_with_context).toBeGreaterThan(3);
    expect(s.largest_contexts.length).toBeGreaterThan(0);
    expect(s.compression_levels["0"]).toBeGreaterThan(0);
  });
});
