import { beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { UserHasher } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { interactionBody, approveBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const USER = "gdpr-user.42";
const SECRET = "my-secret-address-7781";
const OTHER = "other-user";

const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);

/** Every public table (partitions included) whose row text mentions `needle`. */
async function tablesMentioning(needle: string): Promise<string[]> {
  const tables = (await sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).map((r) => r.tablename as string);
  const hits: string[] = [];
  for (const table of tables) {
    const [r] = await sql(`SELECT count(*)::int AS n FROM "${table}" x WHERE strpos(x::text, $1) > 0`, [needle]);
    if (r.n > 0) hits.push(table);
  }
  return hits;
}

/** Every Redis key of this test (name or value) that mentions `needle`. */
async function keysMentioning(needle: string): Promise<string[]> {
  const r = t.services.redis.client;
  const hits: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, { match: `${t.config.redis.prefix}*`, count: 500 });
    cursor = String(next);
    for (const key of keys) {
      const type = await r.type(key);
      const value =
        type === "string"
          ? await r.get(key)
          : type === "hash"
            ? await r.hgetall(key)
            : type === "list"
              ? await r.lrange(key, 0, -1)
              : type === "zset"
                ? await r.zrange(key, 0, -1)
                : type === "set"
                  ? await r.smembers(key)
                  : null;
      if (key.includes(needle) || JSON.stringify(value).includes(needle)) hits.push(key);
    }
  } while (cursor !== "0");
  return hits;
}

async function populate(user: string, text: string) {
  const bot = (body: unknown) => t.call("POST", "/v1/messages", { key: t.keys.bot, body });
  await bot({
    messages: [
      { user_id: user, text: `${text} queued`, telegram_message_id: 1 },
      { user_id: user, text: `${text} in flight`, telegram_message_id: 2 },
    ],
  });
  await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 1 } });
  const { id } = await json(
    await t.call("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: user, user_message: `${text} stored`, telegram_message_id: 3 }),
    }),
  );
  await t.call("POST", `/v1/reviews/${id}/approve`, {
    key: t.keys.reviewer,
    body: approveBody({ final_bubbles: [`reply about ${text}`] }),
  });
  const [out] = (await json(await t.call("POST", "/v1/outbox/claim", { key: t.keys.bot, body: {} }))).items;
  await t.call("POST", `/v1/outbox/${out.interaction_id}/sent`, { key: t.keys.bot, body: { lease_token: out.lease_token } });
  await t.call("PATCH", `/v1/users/${user}/memory/context`, { key: t.keys.agent, body: { updates: { name: "Ana", address: text } } });
  await t.call("GET", `/v1/users/${user}/memory`, { key: t.keys.agent });
  await t.call("PUT", `/v1/users/${user}/nickname`, { key: t.keys.reviewer, body: { nickname: "Nick" } });
  await t.call("PUT", `/v1/users/${user}/status`, {
    key: t.keys.reviewer,
    body: { customer_status: "CUSTOMER", ltv_amount: 5, reason: text.slice(0, 50) },
  });
  await t.call("GET", `/v1/users/${user}/status`, { key: t.keys.agent });
  await t.call("PUT", `/v1/users/${user}/protocol`, { key: t.keys.reviewer, body: { status: "ACTIVE", reason: `because ${text}` } });
  await bot({ user_id: user, text: `${text} quarantined`, telegram_message_id: 4 });
  await t.call("PUT", `/v1/recovery/cursors/${user}`, {
    key: t.keys.bot,
    body: { last_processed_telegram_id: 4, last_processed_telegram_date: "2026-11-25T10:00:00Z" },
  });
  await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "manual", metadata: { user_ids: [user] } } });
}

describe("GDPR erasure", () => {
  it("removes the user from every table, key and queued message; others stay; a repeat answers zeros", async () => {
    await populate(USER, SECRET);
    await populate(OTHER, "other-text");
    // A dead-lettered message of the user too.
    const [dead] = (
      await json(await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: `${USER}`, text: `${SECRET} dead` } }))
    ).items;
    expect(dead.status).toBe("quarantined");
    expect(await tablesMentioning(USER)).not.toEqual([]);
    expect(await keysMentioning(USER)).not.toEqual([]);

    const res = await t.call("DELETE", `/v1/users/${USER}`, { key: t.keys.admin });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.user_id).toBe(USER);
    expect(body.deleted.postgres).toMatchObject({
      interactions: 1,
      interaction_keys: 1,
      user_current_status: 1,
      user_protocol_status: 1,
      quarantine_messages: 2,
      message_processing_cursors: 1,
      user_memory: 1,
      memory_messages: 2,
      protocol_audit_log: 1,
      recovery_operations: 1,
    });
    expect(body.deleted.wal_messages).toBe(2);
    expect(body.deleted.redis_keys).toBeGreaterThanOrEqual(6);
    expect(body.deleted.archives_rewritten).toBe(0);

    expect(await tablesMentioning(USER)).toEqual([]);
    expect(await tablesMentioning(SECRET)).toEqual([]);
    // Only the mark that refuses cache writes for the user while it is erased (15 minutes, no data).
    const erasing = t.services.redis.key("user", USER, "erasing");
    expect(await keysMentioning(USER)).toEqual([erasing]);
    expect(await t.services.redis.client.ttl(erasing)).toBeLessThanOrEqual(900);
    expect(await keysMentioning(SECRET)).toEqual([]);
    // The audit trail remains, pseudonymised; the erasure log holds a hash, not the id.
    expect(await sql("SELECT user_id, reason FROM protocol_audit_log WHERE user_id LIKE 'erased:%'")).toEqual([
      { user_id: expect.stringMatching(/^erased:\d+$/), reason: null },
    ]);
    expect((await sql("SELECT user_hash, requested_by FROM erasures"))[0]).toMatchObject({
      user_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      requested_by: "admin-key",
    });
    // Keyed: not the plain sha-256 anyone could recompute from a guessed id.
    const [{ user_hash }] = await sql("SELECT user_hash FROM erasures");
    expect(user_hash).toBe(t.services.hasher.hash(USER));
    expect(user_hash).not.toBe(createHash("sha256").update(USER).digest("hex"));
    // The other user is intact, including their queued message.
    expect(await tablesMentioning(OTHER)).toEqual(
      expect.arrayContaining(["interactions_" + new Date().toISOString().slice(0, 7).replace("-", "_"), "user_memory", "memory_messages"]),
    );
    const claimed = await json(await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 10 } }));
    expect(claimed.items.map((m: any) => m.user_id)).toEqual([OTHER, OTHER]);

    const again = await json(await t.call("DELETE", `/v1/users/${USER}`, { key: t.keys.admin }));
    expect(Object.values(again.deleted.postgres).every((n) => n === 0)).toBe(true);
    expect(again.deleted).toMatchObject({ redis_keys: 0, wal_messages: 0, archives_rewritten: 0 });
  });

  it("touches only its user: free-form JSON loses exactly the erased ids in its user_id / user_ids fields, nothing else", async () => {
    const op = async (metadata: unknown, error_details: unknown) => {
      const { id } = await json(
        await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "periodic", metadata } }),
      );
      expect(
        (await t.call("PATCH", `/v1/recovery/operations/${id}`, { key: t.keys.bot, body: { status: "failed", error_details } })).status,
      ).toBe(200);
      return id as string;
    };
    const read = async (id: string) => (await sql("SELECT metadata, error_details FROM recovery_operations WHERE id = $1", [id]))[0];
    // Unrelated: the ids appear inside keys, strings and as numbers, never in a user-id field.
    const unrelated = { error_type: "timeout", note: "checked 1500 users", count: 1, e: { "1": [1, "e", "1e1"] } };
    const untouched = await op(unrelated, { error_type: "timeout", errors: [{ code: 1, message: "e" }] });
    const naming = await op({ user_ids: ["e", "x", 1, "1", "ee"], batch: { user_id: "e", note: "e" }, count: 1 }, [
      { user_id: 1, error: "user 1 timed out" },
      { user_id: "other", error: "e" },
    ]);
    for (const user of ["e", "1"]) expect((await t.call("DELETE", `/v1/users/${user}`, { key: t.keys.admin })).status).toBe(200);
    expect(await read(untouched)).toEqual({
      metadata: unrelated,
      error_details: { error_type: "timeout", errors: [{ code: 1, message: "e" }] },
    });
    expect(await read(naming)).toEqual({
      metadata: { user_ids: ["[erased]", "x", "[erased]", "[erased]", "ee"], batch: { user_id: "[erased]", note: "e" }, count: 1 },
      error_details: [
        { user_id: "[erased]", error: "user 1 timed out" },
        { user_id: "other", error: "e" },
      ],
    });
  });

  it("is admin-only", async () => {
    expect((await t.call("DELETE", "/v1/users/x", { key: t.keys.reviewer })).status).toBe(403);
  });
});

describe("keyed user hashes", () => {
  it("Postgres computes the same HMAC as the service, for any id and key length", async () => {
    const ids = ["12345", "gdpr-user.42", "ünïcödé 🎉", "", "x".repeat(300)];
    for (const key of ["k".repeat(32), "a much longer key ".repeat(8)]) {
      const hasher = new UserHasher(key);
      const { expr, params } = hasher.sql("user_id", 2);
      const rows = await sql(`SELECT user_id, ${expr} AS h FROM unnest($1::text[]) AS u(user_id)`, [ids, ...params]);
      expect(rows.map((r) => r.h)).toEqual(ids.map((id) => hasher.hash(id)));
    }
  });
});
