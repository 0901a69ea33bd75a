import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { countRoundTrips } from "./support/round-trips.js";
import { cacheProtocols, decodeVersioned, writeVersioned } from "@hitl/core";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);
const put = (path: string, body: unknown) => t.call("PUT", path, { key: t.keys.reviewer, body });

describe("user status and nickname", () => {
  it("answers PROSPECT/0/null for an unknown user", async () => {
    expect(await json(await t.call("GET", "/v1/users/nobody/status", { key: t.keys.agent }))).toEqual({
      user_id: "nobody",
      customer_status: "PROSPECT",
      ltv_usd: 0,
      nickname: null,
      updated_at: null,
    });
  });

  it("grows LTV only on CUSTOMER, refreshes the cache, and keeps the nickname", async () => {
    await put("/v1/users/s1/nickname", { nickname: "Sunny" });
    expect((await json(await put("/v1/users/s1/status", { customer_status: "LEAD_QUALIFIED", ltv_amount: 50 }))).ltv_usd).toBe(0);
    expect((await json(await put("/v1/users/s1/status", { customer_status: "CUSTOMER", ltv_amount: 99.5, reason: "paid" }))).ltv_usd).toBe(
      99.5,
    );
    const after = await json(await put("/v1/users/s1/status", { customer_status: "CUSTOMER", ltv_amount: 0.5 }));
    expect(after).toMatchObject({ customer_status: "CUSTOMER", ltv_usd: 100, nickname: "Sunny" });
    expect((await json(await put("/v1/users/s1/status", { customer_status: "CHURNED", ltv_amount: 10 }))).ltv_usd).toBe(100);
    const cached = decodeVersioned((await t.services.redis.client.get<string>(t.services.redis.key("user", "s1", "status")))!);
    expect(cached).toMatchObject({ customer_status: "CHURNED", ltv_usd: 100, nickname: "Sunny" });
    expect(await t.services.redis.client.ttl(t.services.redis.key("user", "s1", "status"))).toBeGreaterThan(290);
  });

  it("a status written back late by a stale reader never replaces a newer one in the cache", async () => {
    const now = await json(await put("/v1/users/s9/status", { customer_status: "CUSTOMER", ltv_amount: 10 }));
    const [row] = await sql("SELECT version FROM user_current_status WHERE user_id = 's9'");
    const key = t.services.redis.key("user", "s9", "status");
    await writeVersioned(
      t.services.redis,
      key,
      { value: { ...now, customer_status: "PROSPECT", ltv_usd: 0 }, version: Number(row.version) - 1 },
      300,
    );
    expect(await json(await t.call("GET", "/v1/users/s9/status", { key: t.keys.agent }))).toEqual(now);
    // A newer state does replace it, and the API never shows the version.
    const later = await json(await put("/v1/users/s9/nickname", { nickname: "Nine" }));
    expect(await json(await t.call("GET", "/v1/users/s9/status", { key: t.keys.agent }))).toEqual(later);
    expect(later.nickname).toBe("Nine");
  });

  it("a cached status or protocol read is 1 Redis round trip and no Postgres", async () => {
    await t.call("GET", "/v1/users/s1/status", { key: t.keys.agent });
    await t.call("GET", "/v1/users/s1/protocol", { key: t.keys.agent });
    const rt = countRoundTrips(t.services);
    try {
      expect((await t.call("GET", "/v1/users/s1/status", { key: t.keys.agent })).status).toBe(200);
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
      rt.reset();
      expect((await t.call("GET", "/v1/users/s1/protocol", { key: t.keys.agent })).status).toBe(200);
      expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 1, postgres: 0 });
    } finally {
      rt.restore();
    }
  });

  it("validates the bodies", async () => {
    expect((await put("/v1/users/s1/status", { customer_status: "VIP" })).status).toBe(400);
    expect((await put("/v1/users/s1/status", { customer_status: "CUSTOMER", ltv_amount: 10_001 })).status).toBe(400);
    expect((await put("/v1/users/s1/status", { customer_status: "CUSTOMER", reason: "r".repeat(201) })).status).toBe(400);
    expect((await put("/v1/users/s1/nickname", { nickname: "" })).status).toBe(400);
    expect((await put("/v1/users/s1/nickname", { nickname: "n".repeat(51) })).status).toBe(400);
    expect((await t.call("PUT", "/v1/users/s1/status", { key: t.keys.agent, body: { customer_status: "CUSTOMER" } })).status).toBe(403);
  });
});

describe("silence protocol", () => {
  it("audits the true previous status and refreshes the cache at once", async () => {
    expect((await json(await t.call("GET", "/v1/users/p1/protocol", { key: t.keys.agent }))).status).toBe("INACTIVE");
    const on = await json(await put("/v1/users/p1/protocol", { status: "ACTIVE", reason: "spam" }));
    expect(on).toMatchObject({ user_id: "p1", status: "ACTIVE", activated_by: "reviewer-key", reason: "spam" });
    expect((await json(await t.call("GET", "/v1/users/p1/protocol", { key: t.keys.agent }))).status).toBe("ACTIVE");
    await put("/v1/users/p1/protocol", { status: "ACTIVE" });
    await put("/v1/users/p1/protocol", { status: "INACTIVE", reason: "ok now" });
    const audit = await sql(
      "SELECT action, previous_status, new_status, performed_by FROM protocol_audit_log WHERE user_id = 'p1' ORDER BY id",
    );
    expect(audit).toEqual([
      { action: "ACTIVATED", previous_status: "INACTIVE", new_status: "ACTIVE", performed_by: "reviewer-key" },
      { action: "ACTIVATED", previous_status: "ACTIVE", new_status: "ACTIVE", performed_by: "reviewer-key" },
      { action: "DEACTIVATED", previous_status: "ACTIVE", new_status: "INACTIVE", performed_by: "reviewer-key" },
    ]);
    expect((await json(await t.call("GET", "/v1/users/p1/protocol", { key: t.keys.agent }))).status).toBe("INACTIVE");
  });

  it("the protocol cache keeps the newest state whatever order writers reach it in", async () => {
    const on = await json(await put("/v1/users/race1/protocol", { status: "ACTIVE", reason: "spam" }));
    expect(on.status).toBe("ACTIVE");
    const [row] = await sql("SELECT version FROM user_protocol_status WHERE user_id = 'race1'");
    // A reader that loaded INACTIVE just before the PUT committed writes it back afterwards: ignored.
    await cacheProtocols(t.services.redis, [{ value: { ...on, status: "INACTIVE" }, version: Number(row.version) - 1 }]);
    expect((await json(await t.call("GET", "/v1/users/race1/protocol", { key: t.keys.agent }))).status).toBe("ACTIVE");
    const [sent] = (
      await json(await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "race1", text: "still silenced" } }))
    ).items;
    expect(sent.status).toBe("quarantined");
    // Concurrent toggles: the cache ends where Postgres ends.
    await Promise.all(Array.from({ length: 12 }, (_, i) => put("/v1/users/race1/protocol", { status: i % 2 ? "ACTIVE" : "INACTIVE" })));
    const [final] = await sql("SELECT status FROM user_protocol_status WHERE user_id = 'race1'");
    expect((await json(await t.call("GET", "/v1/users/race1/protocol", { key: t.keys.agent }))).status).toBe(final.status);
    const raw = (await t.services.redis.client.get<string>(t.services.redis.key("user", "race1", "protocol")))!;
    expect(decodeVersioned<{ status: string }>(raw).status).toBe(final.status);
    // The version stays inside the cache: the API answers the documented shape.
    expect(Object.keys(await json(await t.call("GET", "/v1/users/race1/protocol", { key: t.keys.agent })))).not.toContain("v");
    await put("/v1/users/race1/protocol", { status: "INACTIVE" });
    await sql("DELETE FROM quarantine_messages WHERE user_id = 'race1'");
  });

  it("quarantines, lists, processes back onto the WAL queue, deletes, batches, and reports", async () => {
    await put("/v1/users/q1/protocol", { status: "ACTIVE" });
    await put("/v1/users/q1/nickname", { nickname: "Quinn" });
    const ingest = await json(
      await t.call("POST", "/v1/messages", {
        key: t.keys.bot,
        body: {
          messages: [
            { user_id: "q1", text: "one", telegram_message_id: 1 },
            { user_id: "q1", text: "two", telegram_message_id: 2 },
            { user_id: "q1", text: "three", telegram_message_id: 3 },
            { user_id: "q1", text: "four", telegram_message_id: 4 },
          ],
        },
      }),
    );
    expect(ingest.items.map((i: any) => i.status)).toEqual(["quarantined", "quarantined", "quarantined", "quarantined"]);
    const [m1, m2, m3, m4] = ingest.items.map((i: any) => i.message_id);

    const list = await json(await t.call("GET", "/v1/quarantine?user_id=q1&limit=3", { key: t.keys.reviewer }));
    expect(list.items.map((i: any) => i.message_text)).toEqual(["four", "three", "two"]);
    expect(list.items[0]).toMatchObject({ nickname: "Quinn", customer_status: "PROSPECT", processed: false });
    expect(list.items[0].age_hours).toBeGreaterThanOrEqual(0);
    const rest = await json(await t.call("GET", `/v1/quarantine?user_id=q1&limit=3&cursor=${list.next_cursor}`, { key: t.keys.reviewer }));
    expect(rest.items.map((i: any) => i.message_text)).toEqual(["one"]);

    const processed = await t.call("POST", `/v1/quarantine/${m1}/process`, { key: t.keys.reviewer, body: {} });
    expect(processed.status).toBe(200);
    expect((await t.call("POST", `/v1/quarantine/${m1}/process`, { key: t.keys.reviewer })).status).toBe(409);
    expect((await t.call("POST", "/v1/quarantine/nope/process", { key: t.keys.reviewer })).status).toBe(404);
    const claimed = await json(await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 10 } }));
    expect(claimed.items.map((m: any) => [m.message_id, m.text])).toEqual([[m1, "one"]]);
    await t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items: claimed.items } });
    const pass = await sql(
      "SELECT action, previous_status, new_status FROM protocol_audit_log WHERE user_id = 'q1' AND action = 'ONE_TIME_PASS'",
    );
    expect(pass).toEqual([{ action: "ONE_TIME_PASS", previous_status: "ACTIVE", new_status: "ACTIVE" }]);

    expect((await t.call("DELETE", `/v1/quarantine/${m2}`, { key: t.keys.reviewer })).status).toBe(200);
    expect((await t.call("DELETE", `/v1/quarantine/${m2}`, { key: t.keys.reviewer })).status).toBe(404);
    const batch = await json(
      await t.call("POST", "/v1/quarantine/batch", { key: t.keys.reviewer, body: { message_ids: [m3, "ghost"], action: "process" } }),
    );
    expect(batch).toMatchObject({ processed: 1, not_found: ["ghost"] });
    const del = await json(
      await t.call("POST", "/v1/quarantine/batch", { key: t.keys.reviewer, body: { message_ids: [m4, m2], action: "delete" } }),
    );
    expect(del).toEqual({ deleted: 1, already_processed: 0, not_found: [m2] });
    // A message let through is not deleted: it was delivered.
    expect((await t.call("DELETE", `/v1/quarantine/${m1}`, { key: t.keys.reviewer })).status).toBe(409);
    expect(
      (
        await t.call("POST", "/v1/quarantine/batch", {
          key: t.keys.reviewer,
          body: { message_ids: Array(101).fill("x"), action: "delete" },
        })
      ).status,
    ).toBe(400);

    const stats = await json(await t.call("GET", "/v1/protocol/stats", { key: t.keys.reviewer }));
    expect(stats).toMatchObject({ active_protocols: 1, total_messages_quarantined: 4 });
    expect(stats.total_cost_saved_usd).toBeCloseTo(4 * 0.000307, 6);
    const audit = await json(await t.call("GET", "/v1/protocol/audit?user_id=q1", { key: t.keys.reviewer }));
    expect(audit.items[0]).toMatchObject({ action: "ONE_TIME_PASS", nickname: "Quinn" });
  });

  it("processing with deactivate_protocol turns the protocol off, audited and cached", async () => {
    await put("/v1/users/q2/protocol", { status: "ACTIVE" });
    const [m] = (await json(await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "q2", text: "let me out" } }))).items;
    expect(m.status).toBe("quarantined");
    const res = await t.call("POST", `/v1/quarantine/${m.message_id}/process`, {
      key: t.keys.reviewer,
      body: { deactivate_protocol: true },
    });
    expect(res.status).toBe(200);
    expect((await json(await t.call("GET", "/v1/users/q2/protocol", { key: t.keys.agent }))).status).toBe("INACTIVE");
    const actions = (await sql("SELECT action, previous_status FROM protocol_audit_log WHERE user_id = 'q2' ORDER BY id")).map(
      (r) => `${r.action}:${r.previous_status}`,
    );
    expect(actions).toEqual(["ACTIVATED:INACTIVE", "ONE_TIME_PASS:ACTIVE", "DEACTIVATED:ACTIVE"]);
    const next = await json(await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "q2", text: "free now" } }));
    expect(next.items[0].status).toBe("queued");
  });

  it("purges expired quarantine messages", async () => {
    const { purgeExpiredQuarantine } = await import("@hitl/core");
    await sql(
      "INSERT INTO quarantine_messages (message_id, user_id, message_text, expires_at) VALUES ('old', 'q3', 'x', now() - interval '1 hour'), ('new', 'q3', 'y', now() + interval '1 day')",
    );
    expect(await purgeExpiredQuarantine(t.services.db)).toBe(1);
    expect((await sql("SELECT message_id FROM quarantine_messages WHERE user_id = 'q3'")).map((r) => r.message_id)).toEqual(["new"]);
  });
});
