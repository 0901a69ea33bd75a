import { beforeAll, describe, expect, it } from "vitest";
import { MAX_CONTEXT_BYTES, sweepOversizedContexts } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { interactionBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);
const redisKey = (user: string, suffix: string) => t.services.redis.key("user", user, suffix);

describe("memory reset", () => {
  it("empties the context, history and summary, drops the caches, keeps the interactions, and is audited", async () => {
    await t.call("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: "mr-1", user_message: "I work as a chef" }),
    });
    await t.call("PATCH", "/v1/users/mr-1/memory/context", { key: t.keys.agent, body: { updates: { name: "Ana", likes: "jazz" } } });
    await t.call("POST", "/v1/users/mr-1/memory/history", { key: t.keys.agent, body: { role: "assistant", content: "Tell me more?" } });
    await t.call("GET", "/v1/users/mr-1/memory", { key: t.keys.agent });
    await t.call("GET", "/v1/users/mr-1/status", { key: t.keys.agent });
    expect(await t.services.redis.client.exists(redisKey("mr-1", "ctx"), redisKey("mr-1", "history"))).toBe(2);

    const res = await t.call("DELETE", "/v1/users/mr-1/memory", { key: t.keys.admin });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ user_id: "mr-1", performed_by: "admin-key", history_messages_removed: 2, interactions_kept: 1 });
    expect(body.context_bytes_removed).toBeGreaterThan(10);
    expect(body.cache_keys_removed).toBeGreaterThanOrEqual(3);
    expect(await t.services.redis.client.exists(redisKey("mr-1", "ctx"), redisKey("mr-1", "history"), redisKey("mr-1", "status"))).toBe(0);

    const view = await json(await t.call("GET", "/v1/users/mr-1/memory", { key: t.keys.agent }));
    expect(view).toMatchObject({ context: {}, recent_messages: [], total_messages: 0, temporal_summary: "" });
    expect(await sql("SELECT count(*)::int AS n FROM interactions WHERE user_id = 'mr-1'")).toEqual([{ n: 1 }]);
    expect(await sql("SELECT user_id, performed_by, history_messages FROM memory_resets")).toEqual([
      { user_id: "mr-1", performed_by: "admin-key", history_messages: 2 },
    ]);
    // New memory after the reset works as before (the cache guard lasts seconds, reads go to Postgres meanwhile).
    await t.call("PATCH", "/v1/users/mr-1/memory/context", { key: t.keys.agent, body: { updates: { name: "Bea" } } });
    expect((await json(await t.call("GET", "/v1/users/mr-1/memory", { key: t.keys.agent }))).context).toEqual({ name: "Bea" });
  });

  it("a read that loaded the memory before the reset cannot put it back in the cache", async () => {
    await t.call("PATCH", "/v1/users/mr-2/memory/context", { key: t.keys.agent, body: { updates: { secret: "old" } } });
    await t.call("DELETE", "/v1/users/mr-2/memory", { key: t.keys.admin });
    // What a stale reader's write-back does: the context with the version it had read.
    await t.services.memory.cacheContext("mr-2", { secret: "old" }, 1);
    expect(await t.services.redis.client.exists(redisKey("mr-2", "ctx"))).toBe(0);
    expect((await json(await t.call("GET", "/v1/users/mr-2/memory", { key: t.keys.agent }))).context).toEqual({});
  });

  it("is admin-only, touches only its user, and a repeat answers zeros", async () => {
    await t.call("PATCH", "/v1/users/mr-3/memory/context", { key: t.keys.agent, body: { updates: { name: "Keep" } } });
    expect((await t.call("DELETE", "/v1/users/mr-4/memory", { key: t.keys.reviewer })).status).toBe(403);
    await t.call("DELETE", "/v1/users/mr-4/memory", { key: t.keys.admin });
    const again = await json(await t.call("DELETE", "/v1/users/mr-4/memory", { key: t.keys.admin }));
    expect(again).toMatchObject({ context_bytes_removed: 0, history_messages_removed: 0 });
    expect((await json(await t.call("GET", "/v1/users/mr-3/memory", { key: t.keys.agent }))).context).toEqual({ name: "Keep" });
  });
});

describe("users with memory and the oversized-context sweep", () => {
  it("lists users with a context, largest first, paged", async () => {
    for (const [u, n] of [
      ["sz-a", 10],
      ["sz-b", 3000],
      ["sz-c", 300],
    ] as const) {
      await t.call("PATCH", `/v1/users/${u}/memory/context`, { key: t.keys.agent, body: { updates: { notes: "x".repeat(n) } } });
    }
    const p1 = await json(await t.call("GET", "/v1/memory/users?limit=2", { key: t.keys.admin }));
    expect(p1.items.map((u: any) => u.user_id)).toEqual(["sz-b", "sz-c"]);
    expect(p1.items[0].context_size_kb).toBeGreaterThan(p1.items[1].context_size_kb);
    const all: string[] = [];
    for (let cursor: string | null = null, n = 0; n < 10; n++) {
      const page: any = await json(
        await t.call("GET", `/v1/memory/users?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { key: t.keys.admin }),
      );
      all.push(...page.items.map((u: any) => u.user_id));
      if (!(cursor = page.next_cursor)) break;
    }
    expect(all.indexOf("sz-b")).toBeLessThan(all.indexOf("sz-c"));
    expect(all.indexOf("sz-c")).toBeLessThan(all.indexOf("sz-a"));
    expect(all).not.toContain("mr-2"); // reset: no context left
    expect((await t.call("GET", "/v1/memory/users", { key: t.keys.reviewer })).status).toBe(403);
  });

  it("the daily sweep compacts what the levels bring under the limit and flags what they cannot, reporting both", async () => {
    const big = {
      name: "Zoe",
      conversation_summary: Array.from({ length: 40 }, (_, i) => `summary ${i} ${"s".repeat(4000)}`),
      other: "o".repeat(50_000),
    };
    const huge = { name: "Neo", last_interaction: "L".repeat(MAX_CONTEXT_BYTES + 1000) }; // even L3 keeps last_interaction
    await sql(
      "INSERT INTO user_memory (user_id, context, context_bytes, version) VALUES ('sw-1', $1::jsonb, octet_length($1::text), 7), ('sw-2', $2::jsonb, octet_length($2::text), 3)",
      [JSON.stringify(big), JSON.stringify(huge)],
    );
    const report = await sweepOversizedContexts({ db: t.services.db, memory: t.services.memory });
    expect(report.compacted).toEqual([expect.objectContaining({ user_id: "sw-1" })]);
    expect(report.compacted[0]!.bytes_after).toBeLessThanOrEqual(MAX_CONTEXT_BYTES);
    expect(report.flagged).toEqual([expect.objectContaining({ user_id: "sw-2" })]);
    const rows = await sql(
      "SELECT user_id, context_bytes <= $1 AS under, compression_level, oversized_at IS NOT NULL AS flagged, version FROM user_memory WHERE user_id LIKE 'sw-%' ORDER BY user_id",
      [MAX_CONTEXT_BYTES],
    );
    expect(rows).toEqual([
      { user_id: "sw-1", under: true, compression_level: expect.any(Number), flagged: false, version: "8" },
      { user_id: "sw-2", under: false, compression_level: 0, flagged: true, version: "3" },
    ]);
    expect(rows[0].compression_level).toBeGreaterThan(0);
    const view = await json(await t.call("GET", "/v1/users/sw-1/memory", { key: t.keys.agent }));
    expect(view.context.name).toBe("Zoe");
    const listed = await json(await t.call("GET", "/v1/memory/users?limit=1", { key: t.keys.admin }));
    expect(listed.items[0]).toMatchObject({ user_id: "sw-2", context_limit_exceeded: true, oversized_since: expect.any(String) });
  });
});
