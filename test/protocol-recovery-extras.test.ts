import { beforeAll, describe, expect, it } from "vitest";
import { RECOVERY_THRESHOLDS } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { countRoundTrips } from "./support/round-trips.js";
import { interactionBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);
const reviewer = (method: string, path: string, body?: unknown) => t.call(method, path, { key: t.keys.reviewer, body });

describe("protocol: silenced users, stats, quarantine context", () => {
  it("lists the silenced users, most recently silenced first, with since, by, reason and quarantined counts", async () => {
    await reviewer("PUT", "/v1/users/sil-1/protocol", { status: "ACTIVE", reason: "spam" });
    await reviewer("PUT", "/v1/users/sil-2/protocol", { status: "ACTIVE", reason: "abuse" });
    await reviewer("PUT", "/v1/users/sil-3/protocol", { status: "ACTIVE" });
    await reviewer("PUT", "/v1/users/sil-3/protocol", { status: "INACTIVE" });
    await reviewer("PUT", "/v1/users/sil-1/nickname", { nickname: "Spammy" });
    await t.call("POST", "/v1/messages", {
      key: t.keys.bot,
      body: {
        messages: [
          { user_id: "sil-1", text: "one" },
          { user_id: "sil-1", text: "two" },
        ],
      },
    });
    const page1 = await json(await reviewer("GET", "/v1/protocol/active?limit=1"));
    expect(page1.items).toEqual([
      expect.objectContaining({ user_id: "sil-2", by: "reviewer-key", reason: "abuse", messages_quarantined: 0, quarantined_pending: 0 }),
    ]);
    const page2 = await json(await reviewer("GET", `/v1/protocol/active?limit=5&cursor=${page1.next_cursor}`));
    expect(page2.items).toEqual([
      expect.objectContaining({ user_id: "sil-1", nickname: "Spammy", reason: "spam", messages_quarantined: 2, quarantined_pending: 2 }),
    ]);
    expect(Date.parse(page2.items[0].since)).toBeGreaterThan(Date.now() - 60_000);
    expect(page2.next_cursor).toBeNull();
    expect((await t.call("GET", "/v1/protocol/active", { key: t.keys.agent })).status).toBe(403);
  });

  it("stats add the averages per silenced user and the monthly savings estimate (last 24 h x $0.000307 x 30)", async () => {
    const s = await json(await reviewer("GET", "/v1/protocol/stats"));
    expect(s).toMatchObject({ active_protocols: 2, total_messages_quarantined: 2, avg_messages_per_user: 1 });
    expect(s.avg_cost_saved_per_user_usd).toBeCloseTo(0.000307, 6);
    const [{ n }] = await sql("SELECT count(*)::int AS n FROM quarantine_messages WHERE received_at > now() - interval '24 hours'");
    expect(n).toBe(2);
    expect(s.estimated_monthly_savings_usd).toBeCloseTo(n * 0.000307 * 30, 6);
  });

  it("quarantine items carry the user's last N turns before the message with ?context=N, in one query", async () => {
    for (const [role, content] of [
      ["user", "first"],
      ["assistant", "hello!"],
      ["user", "second"],
    ]) {
      await t.call("POST", "/v1/users/ctx-1/memory/history", {
        key: t.keys.agent,
        body: { role, content, timestamp: new Date(Date.now() - 60_000).toISOString() },
      });
    }
    await reviewer("PUT", "/v1/users/ctx-1/protocol", { status: "ACTIVE" });
    await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "ctx-1", text: "quarantined one" } });
    const rt = countRoundTrips(t.services);
    let with2;
    try {
      with2 = await json(await reviewer("GET", "/v1/quarantine?user_id=ctx-1&context=2"));
      expect({ postgres: rt.postgres, redis: rt.redis }).toEqual({ postgres: 1, redis: 0 });
    } finally {
      rt.restore();
    }
    expect(with2.items[0].context.map((h: any) => [h.role, h.content])).toEqual([
      ["assistant", "hello!"],
      ["user", "second"],
    ]);
    const plain = await json(await reviewer("GET", "/v1/quarantine?user_id=ctx-1"));
    expect(plain.items[0].context).toBeUndefined();
    expect((await reviewer("GET", "/v1/quarantine?context=21")).status).toBe(400);
    expect((await reviewer("GET", "/v1/quarantine?context=-1")).status).toBe(400);
  });
});

describe("recovery: recovered messages, status and health, operation figures", () => {
  it("lists recovered messages newest Telegram date first with their delay in hours", async () => {
    const tg = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();
    await t.call("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: "rec-1", is_recovered_message: true, telegram_message_id: 10, telegram_date: tg(5) }),
    });
    await t.call("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: "rec-1", is_recovered_message: true, telegram_message_id: 11, telegram_date: tg(2) }),
    });
    await t.call("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: "rec-1", telegram_message_id: 12, telegram_date: tg(1) }),
    });
    const r = await json(await t.call("GET", "/v1/recovery/recovered-messages?user_id=rec-1", { key: t.keys.bot }));
    expect(r.items.map((m: any) => m.telegram_message_id)).toEqual([11, 10]);
    expect(r.items[0].recovery_delay_hours).toBeCloseTo(2, 1);
    expect(r.items[1].recovery_delay_hours).toBeCloseTo(5, 1);
    expect(r.items[0]).toMatchObject({ user_id: "rec-1", customer_status: "PROSPECT", nickname: null });
    const p1 = await json(await t.call("GET", "/v1/recovery/recovered-messages?limit=1", { key: t.keys.admin }));
    const p2 = await json(await t.call("GET", `/v1/recovery/recovered-messages?limit=1&cursor=${p1.next_cursor}`, { key: t.keys.admin }));
    expect([p1.items[0].telegram_message_id, p2.items[0].telegram_message_id]).toEqual([11, 10]);
  });

  it("operations answer their duration and messages per user", async () => {
    const { id } = await json(await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "manual" } }));
    const running = await json(
      await t.call("PATCH", `/v1/recovery/operations/${id}`, { key: t.keys.bot, body: { users_checked: 4, messages_recovered: 10 } }),
    );
    expect(running).toMatchObject({ duration_seconds: null, messages_per_user: 2.5 });
    await sql("UPDATE recovery_operations SET started_at = now() - interval '90 seconds' WHERE id = $1", [id]);
    const done = await json(await t.call("PATCH", `/v1/recovery/operations/${id}`, { key: t.keys.bot, body: { status: "completed" } }));
    expect(done.duration_seconds).toBeGreaterThanOrEqual(90);
    expect(done.duration_seconds).toBeLessThan(100);
    const listed = await json(await t.call("GET", "/v1/recovery/operations", { key: t.keys.admin }));
    expect(listed.items.find((o: any) => o.id === id)).toMatchObject({ messages_per_user: 2.5 });
  });

  it("status reports the last operation, hours since, stale cursors and a health verdict with its thresholds", async () => {
    const { id: ok } = await json(
      await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "startup" } }),
    );
    await t.call("PATCH", `/v1/recovery/operations/${ok}`, {
      key: t.keys.bot,
      body: { status: "completed", users_checked: 2, messages_recovered: 4 },
    });
    const healthy = await json(await t.call("GET", "/v1/recovery/status", { key: t.keys.admin }));
    expect(healthy.health).toMatchObject({ status: "healthy", issues: [], thresholds: { ...RECOVERY_THRESHOLDS } });
    expect(healthy.last_operation).toMatchObject({
      id: ok,
      operation_type: "startup",
      status: "completed",
      users_checked: 2,
      messages_recovered: 4,
    });
    expect(healthy.hours_since_last_operation).toBeLessThan(0.1);
    // Stale cursors (over half unchecked for > 24 h) are a warning; an operation stuck over 30 minutes is critical.
    for (const u of ["cur-a", "cur-b", "cur-c"]) {
      await t.call("PUT", `/v1/recovery/cursors/${u}`, {
        key: t.keys.bot,
        body: { last_processed_telegram_id: 1, last_processed_telegram_date: "2026-11-01T00:00:00Z" },
      });
    }
    await sql(
      "UPDATE message_processing_cursors SET last_recovery_check = now() - interval '30 hours' WHERE user_id IN ('cur-a', 'cur-b')",
    );
    const warned = await json(await t.call("GET", "/v1/recovery/status", { key: t.keys.bot }));
    expect(warned.cursors).toMatchObject({ total: 3, stale: 2, checked_last_24h: 1, stale_users: ["cur-a", "cur-b"] });
    expect(warned.health.status).toBe("warning");
    expect(warned.health.issues.join()).toContain("2 of 3 cursors");
    const { id } = await json(await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "periodic" } }));
    await sql("UPDATE recovery_operations SET started_at = now() - interval '31 minutes' WHERE id = $1", [id]);
    const stuck = await json(await t.call("GET", "/v1/recovery/status", { key: t.keys.bot }));
    expect(stuck.health.status).toBe("critical");
    expect(stuck.health.issues.join()).toContain("running for over 30 minutes");
    expect(stuck.hours_since_last_recovery).not.toBeNull();
    // An error rate over 10% in the last day is critical too, whatever else.
    await t.call("PATCH", `/v1/recovery/operations/${id}`, {
      key: t.keys.bot,
      body: { status: "failed", messages_recovered: 0, errors_encountered: 8 },
    });
    const errors = await json(await t.call("GET", "/v1/recovery/status", { key: t.keys.bot }));
    expect(errors.last_24h).toMatchObject({ failed: 1, errors: 8 });
    expect(errors.last_24h.success_rate).toBeCloseTo(errors.last_24h.completed / (errors.last_24h.completed + 1), 5);
    expect(errors.health.status).toBe("critical");
    expect(errors.health.issues.join()).toMatch(/error rate .* over 10%/);
  });
});
