import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { withPg } from "./support/backup.js";
import { approveBody, interactionBody } from "./support/fixtures.js";
import { seedInteractions } from "./support/analytics-seed.js";
import { computeReport } from "@hitl/core";

const utcDay = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describe("admin: test-data cleanup", () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext();
    await seedInteractions(t.databaseUrl, { n: 300, days: 10, users: 6, seed: 5 });
    await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin });
  }, 60_000);

  const post = (path: string, body: unknown, key = t.keys.admin) => t.call("POST", path, { key, body });
  const n = async (where: string) =>
    (await withPg(t.databaseUrl, (c) => c.query(`SELECT count(*)::int AS n FROM interactions WHERE ${where}`))).rows[0].n as number;

  it("previews counts and a token, then deletes exactly that in one transaction; rollups follow; audited; a repeat answers the same", async () => {
    const criteria = { user_ids: ["u1", "u2"], pattern: "CANCION" };
    const want = await n(
      "user_id IN ('u1','u2') AND hitl_fold(user_message || ' ' || array_to_string(llm2_bubbles, ' ') || ' ' || coalesce(array_to_string(final_bubbles, ' '), '')) LIKE '%cancion%'",
    );
    expect(want).toBeGreaterThan(0);
    const range = { from: utcDay(-12), to: utcDay(-1), tz: "UTC" };
    const before = await computeReport(t.services.db, "volume", range);
    const preview = await post("/v1/admin/cleanup/preview", criteria);
    expect(preview.status).toBe(200);
    const p = (await preview.json()) as any;
    expect(p.interactions).toBe(want);
    const res = await post("/v1/admin/cleanup", { token: p.token });
    expect(res.status).toBe(200);
    const done = (await res.json()) as any;
    expect(done).toMatchObject({ deleted: { interactions: want }, repeated: false });
    expect(await n("user_id IN ('u1','u2') AND hitl_fold(user_message) LIKE '%cancion%'")).toBe(0);
    expect(await n("user_id IN ('u1','u2')")).toBeGreaterThan(0); // only the matched rows went
    // The rollups were recounted in the same transaction.
    expect((await computeReport(t.services.db, "volume", range)).total).toBe(before.total - want);
    const [audit] = (await withPg(t.databaseUrl, (c) => c.query("SELECT performed_by, criteria, deleted FROM analytics_cleanup_audit")))
      .rows;
    expect(audit).toEqual({ performed_by: "admin-key", criteria, deleted: { interactions: want, interaction_keys: 0 } });
    // A retry whose answer was lost: the recorded result, nothing more deleted, no second audit row.
    const again = (await (await post("/v1/admin/cleanup", { token: p.token })).json()) as any;
    expect(again).toMatchObject({ deleted: done.deleted, audit_id: done.audit_id, repeated: true });
  });

  it("refuses (409, nothing deleted) when the matched rows changed since the preview", async () => {
    const p = (await (await post("/v1/admin/cleanup/preview", { user_ids: ["u3"] })).json()) as any;
    expect(p.interactions).toBeGreaterThan(0);
    await withPg(t.databaseUrl, (c) =>
      c.query("UPDATE interactions SET reviewer_notes = 'changed' WHERE id = (SELECT id FROM interactions WHERE user_id = 'u3' LIMIT 1)"),
    );
    const res = await post("/v1/admin/cleanup", { token: p.token });
    expect(res.status).toBe(409);
    expect(await n("user_id = 'u3'")).toBe(p.interactions);
    // A row added to the criteria counts as a change too.
    const p2 = (await (await post("/v1/admin/cleanup/preview", { user_ids: ["u3"] })).json()) as any;
    await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "u3" }) });
    expect((await post("/v1/admin/cleanup", { token: p2.token })).status).toBe(409);
    expect(await n("user_id = 'u3'")).toBe(p.interactions + 1);
  });

  it("refuses a forged, tampered or expired token, empty criteria, and non-admins", async () => {
    const p = (await (await post("/v1/admin/cleanup/preview", { user_ids: ["u4"] })).json()) as any;
    const [body, sig] = p.token.split(".");
    const claims = JSON.parse(Buffer.from(body, "base64url").toString());
    const forged = `${Buffer.from(JSON.stringify({ ...claims, criteria: { user_ids: ["u5"] } })).toString("base64url")}.${sig}`;
    for (const token of ["x", forged, `${body}.${sig.slice(0, -2)}AA`]) {
      const res = await post("/v1/admin/cleanup", { token });
      expect(res.status, token.slice(0, 20)).toBe(400);
    }
    expect((await post("/v1/admin/cleanup/preview", {})).status).toBe(400);
    expect((await post("/v1/admin/cleanup/preview", { pattern: "ab" })).status).toBe(400);
    expect((await post("/v1/admin/cleanup/preview", { user_ids: ["u4"] }, t.keys.reviewer)).status).toBe(403);
    expect(await n("user_id = 'u4'")).toBe(p.interactions);
  });
});

describe("admin: integrity report", () => {
  it("is clean on a healthy stack, and names each fault it is given", async () => {
    const t = await createTestContext();
    // Seeded up to today's UTC midnight, so yesterday (the recount's sample day) has rows whatever the hour.
    const midnight = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    await seedInteractions(t.databaseUrl, { n: 120, days: 5, users: 4, seed: 9, now: new Date(midnight.getTime() + 86_400_000) });
    await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin });
    const get = async () => {
      const res = await t.call("GET", "/v1/admin/integrity", { key: t.keys.admin });
      expect(res.status).toBe(200);
      return (await res.json()) as { ok: boolean; checks: { name: string; ok: boolean; count: number | null }[] };
    };
    const byName = (r: Awaited<ReturnType<typeof get>>) => Object.fromEntries(r.checks.map((c) => [c.name, c]));
    // The seed's 'reviewing' rows have no lease: make them final first, so the baseline is clean.
    await withPg(t.databaseUrl, (c) => c.query("UPDATE interactions SET review_status = 'rejected' WHERE review_status = 'reviewing'"));
    await withPg(t.databaseUrl, (c) => c.query("UPDATE interactions SET messages_sent_at = now() WHERE review_status = 'approved'"));
    await t.call("POST", "/v1/admin/analytics/refresh", { key: t.keys.admin });
    const clean = await get();
    expect(clean.checks.filter((c) => !c.ok)).toEqual([]);
    expect(clean.ok).toBe(true);
    expect(clean.checks.map((c) => c.name).sort()).toEqual([
      "approved_unsent",
      "erasures_pending",
      "interactions_missing_for_acked_wal",
      "partitions_ahead",
      "protocol_cache_versions",
      "reviews_past_lease",
      "rollups_recount",
      "wal_missing_for_interactions",
    ]);

    // Faults, one of each.
    const res = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "i1" }) });
    const { id } = (await res.json()) as { id: string };
    await t.call("POST", `/v1/reviews/${id}/approve`, { key: t.keys.reviewer, body: approveBody() });
    await withPg(t.databaseUrl, async (c) => {
      await c.query("UPDATE interactions SET review_completed_at = now() - interval '3 hours' WHERE id = $1", [id]);
      await c.query(
        "UPDATE interactions SET review_status = 'reviewing', reviewer_id = 'r', review_lease_expires_at = now() - interval '1 minute' WHERE id = (SELECT id FROM interactions WHERE review_status = 'pending' LIMIT 1)",
      );
      await c.query("INSERT INTO pending_erasures (user_id) VALUES ('gone')");
      await c.query(
        "UPDATE analytics_hourly SET interactions = interactions + 1 WHERE kind = 'all' AND hour = (SELECT max(hour) FROM analytics_hourly WHERE hour < date_trunc('day', now(), 'UTC'))",
      );
      await c.query("UPDATE analytics_rollup_state SET watermark = now() + interval '1 hour'"); // no pending refresh excuses the difference
    });
    await t.services.redis.client.set(`${t.config.redis.prefix}wal:msg:orphan-1:acked`, "tok", { ex: 60 });
    const faulty = byName(await get());
    expect(faulty.approved_unsent).toMatchObject({ ok: false, count: 1 });
    expect(faulty.reviews_past_lease).toMatchObject({ ok: false, count: 1 });
    expect(faulty.erasures_pending).toMatchObject({ ok: false, count: 1 });
    expect(faulty.rollups_recount).toMatchObject({ ok: false, count: 1 });
    // The API-created interaction's message id was never in the WAL.
    expect(faulty.wal_missing_for_interactions).toMatchObject({ ok: false, count: 1 });
    expect(faulty.interactions_missing_for_acked_wal).toMatchObject({ ok: false, count: 1 });
    expect((await t.call("GET", "/v1/admin/integrity", { key: t.keys.reviewer })).status).toBe(403);
  }, 60_000);
});
