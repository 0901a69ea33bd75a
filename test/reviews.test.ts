import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { countRoundTrips } from "./support/round-trips.js";
import { approveBody, interactionBody } from "./support/fixtures.js";
import { generateKey, KeyDirectory } from "@hitl/core";

let t: TestContext;
let otherReviewer: string;
beforeAll(async () => {
  const other = generateKey("reviewer-2", ["reviewer"]);
  otherReviewer = other.key;
  t = await createTestContext();
  // A second reviewer key on the same app: rebuild the key ring with it added.
  t.services.keys = new KeyDirectory({
    db: t.services.db,
    bootstrap: [...t.config.apiKeys, other.entry],
    maxAgeMs: t.config.apiKeyMaxAgeMs,
  });
});

const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);

beforeEach(async () => {
  await sql("DELETE FROM interactions");
  await sql("DELETE FROM interaction_keys");
});

const create = async (over: Record<string, unknown> = {}) => {
  const res = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody(over) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
};
const post = (path: string, body?: unknown, key = t.keys.reviewer) => t.call("POST", path, { key, body });

describe("interactions", () => {
  it("stores every column of the body, cta_data included, and is idempotent on message_id", async () => {
    const body = interactionBody({
      cta_data: { type: "soft", link: "https://x" },
      telegram_message_id: 77,
      telegram_date: "2026-11-25T10:00:00Z",
      is_recovered_message: true,
      priority_score: 0.9,
    });
    const first = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body });
    expect(first.status).toBe(201);
    const { id } = await json(first);
    const again = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body });
    expect(again.status).toBe(200);
    expect((await json(again)).id).toBe(id);
    const got = await json(await t.call("GET", `/v1/interactions/${id}`, { key: t.keys.reviewer }));
    expect(got).toMatchObject({
      id,
      message_id: body.message_id,
      user_id: "user-1",
      chat_id: 555,
      user_message: body.user_message,
      llm1_raw_response: "raw draft",
      llm2_bubbles: ["hey!", "doing great"],
      llm1_model: "gemini-2.0-flash",
      llm2_model: "gpt-4o-mini",
      llm1_cost_usd: 0.0001,
      llm2_cost_usd: 0.0002,
      total_cost_usd: 0.0003,
      constitution_risk_score: 0.2,
      constitution_flags: [],
      constitution_recommendation: "approve",
      priority_score: 0.9,
      review_status: "pending",
      cta_data: { type: "soft", link: "https://x" },
      telegram_message_id: 77,
      telegram_date: "2026-11-25T10:00:00.000Z",
      is_recovered_message: true,
      customer_status: "PROSPECT",
    });
    expect(got.conversation_id).toMatch(/^user-1_\d{8}$/);
    expect((await sql("SELECT count(*)::int AS n FROM interactions"))[0].n).toBe(1);
  });

  it("defaults priority to min(1, 0.5 + 0.3·risk + 0.1 if the context has a name)", async () => {
    const id = await create({ constitution_risk_score: 0.5, user_id: "prio" });
    expect((await json(await t.call("GET", `/v1/interactions/${id}`, { key: t.keys.agent }))).priority_score).toBeCloseTo(0.65);
    await sql("INSERT INTO user_memory (user_id, context) VALUES ('named', '{\"name\":\"Ana\"}')");
    const named = await create({ constitution_risk_score: 0.5, user_id: "named" });
    expect((await json(await t.call("GET", `/v1/interactions/${named}`, { key: t.keys.agent }))).priority_score).toBeCloseTo(0.75);
    const capped = await create({ constitution_risk_score: 1, user_id: "named" });
    expect((await json(await t.call("GET", `/v1/interactions/${capped}`, { key: t.keys.agent }))).priority_score).toBeCloseTo(0.9);
  });

  it("costs one Postgres and at most one Redis round trip, the audit row inside the Postgres one", async () => {
    const rt = countRoundTrips(t.services);
    try {
      await create({ user_id: "rt" });
      expect(rt.postgres).toBe(1);
      expect(rt.redis).toBeLessThanOrEqual(1);
    } finally {
      rt.restore();
    }
  });

  it("answers 404 for an unknown id and 400 for a malformed one", async () => {
    expect((await t.call("GET", "/v1/interactions/00000000-0000-4000-8000-000000000000", { key: t.keys.agent })).status).toBe(404);
    const bad = await t.call("GET", "/v1/interactions/not-a-uuid", { key: t.keys.agent });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.details[0]).toMatchObject({ in: "param", path: "id" });
  });

  it("sets reviewer notes (<= 1000 chars)", async () => {
    const id = await create();
    const res = await t.call("PATCH", `/v1/interactions/${id}/notes`, { key: t.keys.reviewer, body: { reviewer_notes: "looks fine" } });
    expect(res.status).toBe(200);
    expect((await json(res)).reviewer_notes).toBe("looks fine");
    expect(
      (await t.call("PATCH", `/v1/interactions/${id}/notes`, { key: t.keys.reviewer, body: { reviewer_notes: "x".repeat(1001) } })).status,
    ).toBe(400);
  });
});

describe("review queue", () => {
  it("lists pending reviews by priority desc then oldest, with status and nickname, paged by cursor", async () => {
    await sql("INSERT INTO user_current_status (user_id, customer_status, nickname) VALUES ('vip', 'CUSTOMER', 'Big Fish')");
    const low = await create({ priority_score: 0.1 });
    const high = await create({ priority_score: 0.9, user_id: "vip" });
    const mid1 = await create({ priority_score: 0.5 });
    const mid2 = await create({ priority_score: 0.5 });
    const page1 = await json(await t.call("GET", "/v1/reviews?limit=2", { key: t.keys.reviewer }));
    expect(page1.items.map((i: any) => i.id)).toEqual([high, mid1]);
    expect(page1.items[0]).toMatchObject({ current_customer_status: "CUSTOMER", nickname: "Big Fish" });
    expect(page1.items[1]).toMatchObject({ current_customer_status: "PROSPECT", nickname: null });
    const page2 = await json(await t.call("GET", `/v1/reviews?limit=2&cursor=${page1.next_cursor}`, { key: t.keys.reviewer }));
    expect(page2.items.map((i: any) => i.id)).toEqual([mid2, low]);
    expect(page2.next_cursor).toBeNull();
    const filtered = await json(await t.call("GET", "/v1/reviews?min_priority=0.5", { key: t.keys.reviewer }));
    expect(filtered.items.map((i: any) => i.id)).toEqual([high, mid1, mid2]);
    expect((await t.call("GET", "/v1/reviews?cursor=garbage", { key: t.keys.reviewer })).status).toBe(400);
    expect((await t.call("GET", "/v1/reviews?limit=501", { key: t.keys.reviewer })).status).toBe(400);
  });

  it("20 concurrent claims on 5 items hand each item out once", async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => create({ priority_score: i / 10 })));
    const results = await Promise.all(Array.from({ length: 20 }, () => post("/v1/reviews/claim", {})));
    const claimed = await Promise.all(results.filter((r) => r.status === 200).map((r) => json(r)));
    expect(results.filter((r) => r.status === 204)).toHaveLength(15);
    expect(claimed.map((c) => c.id).sort()).toEqual([...ids].sort());
    expect(claimed.every((c) => c.review_status === "reviewing" && c.reviewer_id === "reviewer-key")).toBe(true);
  });

  it("claims the highest priority first; 204 when nothing is pending", async () => {
    expect((await post("/v1/reviews/claim", {})).status).toBe(204);
    await create({ priority_score: 0.2 });
    const top = await create({ priority_score: 0.8 });
    expect((await json(await post("/v1/reviews/claim"))).id).toBe(top);
  });

  it("returns an item whose review lease expired to the queue", async () => {
    const id = await create();
    await post("/v1/reviews/claim", { lease_seconds: 30 });
    expect((await post("/v1/reviews/claim", {}, otherReviewer)).status).toBe(204);
    await sql("UPDATE interactions SET review_lease_expires_at = now() - interval '1 second'");
    const listed = await json(await t.call("GET", "/v1/reviews", { key: t.keys.reviewer }));
    expect(listed.items.map((i: any) => i.id)).toEqual([id]);
    const res = await post("/v1/reviews/claim", {}, otherReviewer);
    expect(res.status).toBe(200);
    expect((await json(res)).reviewer_id).toBe("reviewer-2");
  });

  it("costs one Postgres and no Redis round trip for list, claim, approve and reject (each write's audit row inside its transaction)", async () => {
    const a = await create();
    const b = await create();
    const rt = countRoundTrips(t.services);
    try {
      const check = async (fn: () => Promise<Response>, status: number) => {
        rt.reset();
        expect((await fn()).status).toBe(status);
        expect({ redis: rt.redis, postgres: rt.postgres }).toEqual({ redis: 0, postgres: 1 });
      };
      await check(() => t.call("GET", "/v1/reviews", { key: t.keys.reviewer }), 200);
      await check(() => post("/v1/reviews/claim", {}), 200);
      await check(() => post(`/v1/reviews/${a}/approve`, approveBody()), 200);
      await check(() => post(`/v1/reviews/${b}/reject`, { reviewer_notes: "no" }), 200);
    } finally {
      rt.restore();
    }
  });
});

describe("review state machine", () => {
  it("pending -> start -> approve, measuring review time from the claim and storing the edit", async () => {
    const id = await create();
    const started = await json(await post(`/v1/reviews/${id}/start`));
    expect(started).toMatchObject({ review_status: "reviewing", reviewer_id: "reviewer-key" });
    await sql("UPDATE interactions SET review_started_at = now() - interval '42 seconds'");
    const res = await post(
      `/v1/reviews/${id}/approve`,
      approveBody({ edit_tags: ["CTA_SOFT", "TONE_CASUAL"], reviewer_notes: "good", quality_score: 5 }),
    );
    expect(res.status).toBe(200);
    const done = await json(res);
    expect(done).toMatchObject({
      review_status: "approved",
      final_bubbles: ["hey!", "all good here"],
      edit_tags: ["CTA_SOFT", "TONE_CASUAL"],
      quality_score: 5,
      reviewer_notes: "good",
      cta_data: { type: "soft", tags: ["CTA_SOFT"] },
      messages_sent_at: null,
    });
    expect(done.review_time_seconds).toBeGreaterThanOrEqual(42);
    expect(done.review_time_seconds).toBeLessThan(50);
  });

  it("approves straight from pending and stores the given cta_data", async () => {
    const id = await create();
    const done = await json(await post(`/v1/reviews/${id}/approve`, approveBody({ cta_data: { type: "direct", url: "u" } })));
    expect(done).toMatchObject({ review_status: "approved", cta_data: { type: "direct", url: "u" }, review_time_seconds: 0 });
  });

  it("answers 409 when another reviewer holds a live lease", async () => {
    const id = await create();
    await post(`/v1/reviews/${id}/start`);
    for (const action of ["start", "approve", "reject", "cancel"]) {
      const res = await post(`/v1/reviews/${id}/${action}`, action === "approve" ? approveBody() : undefined, otherReviewer);
      expect(res.status, action).toBe(409);
      expect((await json(res)).error.code).toBe("conflict");
    }
  });

  it("answers 409 for any other action on a final review; the same transition repeated (a retry) answers 200", async () => {
    const approved = await create();
    await post(`/v1/reviews/${approved}/approve`, approveBody());
    const rejected = await create();
    await post(`/v1/reviews/${rejected}/reject`, {});
    for (const [id, done] of [
      [approved, "approve"],
      [rejected, "reject"],
    ] as const) {
      for (const action of ["start", "approve", "reject", "cancel"]) {
        const res = await post(`/v1/reviews/${id}/${action}`, action === "approve" ? approveBody() : undefined);
        expect(res.status, `${action} on final`).toBe(action === done ? 200 : 409);
      }
    }
    // A different approval of an approved item is not a repeat.
    expect((await post(`/v1/reviews/${approved}/approve`, approveBody({ final_bubbles: ["something else"] }))).status).toBe(409);
  });

  it("cancels only from reviewing, back to pending with the reviewer cleared", async () => {
    const id = await create();
    expect((await post(`/v1/reviews/${id}/cancel`)).status).toBe(409);
    await post(`/v1/reviews/${id}/start`);
    const res = await post(`/v1/reviews/${id}/cancel`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ review_status: "pending", reviewer_id: null, review_started_at: null });
  });

  it("rejects with notes from reviewing", async () => {
    const id = await create();
    await post(`/v1/reviews/${id}/start`);
    const done = await json(await post(`/v1/reviews/${id}/reject`, { reviewer_notes: "off-tone" }));
    expect(done).toMatchObject({ review_status: "rejected", reviewer_notes: "off-tone" });
    expect(done.review_completed_at).not.toBeNull();
  });

  it("answers 404 for unknown ids on every transition", async () => {
    const unknown = "00000000-0000-4000-8000-000000000001";
    for (const action of ["start", "approve", "reject", "cancel"]) {
      const res = await post(`/v1/reviews/${unknown}/${action}`, action === "approve" ? approveBody() : undefined);
      expect(res.status, action).toBe(404);
    }
  });

  it("refuses edit tags outside the taxonomy with 400, naming them, and changes nothing", async () => {
    const id = await create();
    const res = await post(`/v1/reviews/${id}/approve`, approveBody({ edit_tags: ["TONE_CASUAL", "MORE_CASUAL", "BOGUS"] }));
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.details.map((d: any) => d.message)).toEqual([
      "not in the edit taxonomy: BOGUS",
      "not in the edit taxonomy: MORE_CASUAL",
    ]);
    expect((await sql("SELECT review_status FROM interactions WHERE id = $1", [id]))[0].review_status).toBe("pending");
  });
});

describe("taxonomy and dashboard", () => {
  it("lists the 21 edit tags by category", async () => {
    const res = await json(await t.call("GET", "/v1/edit-taxonomy", { key: t.keys.agent }));
    expect(res.items).toHaveLength(21);
    expect(res.items[0]).toEqual({ code: expect.any(String), category: "content", description: expect.any(String) });
  });

  it("reports review, cost and WAL figures, cached for 5 minutes", async () => {
    await t.services.redis.client.del(t.services.redis.key("metrics", "dashboard"));
    const a = await create({ llm1_model: "m1", llm2_model: "m2", llm1_cost_usd: 0.01, llm2_cost_usd: 0.02, user_id: "d1" });
    await create({ llm1_model: "m1", llm2_model: "m2", llm1_cost_usd: 0.01, llm2_cost_usd: 0.02, user_id: "d2" });
    await post(`/v1/reviews/${a}/approve`, approveBody({ edit_tags: ["TONE_CASUAL", "STRUCT_SHORTEN"] }));
    const m = await json(await t.call("GET", "/v1/dashboard/metrics", { key: t.keys.reviewer }));
    expect(m).toMatchObject({
      pending_reviews: 1,
      reviewed_today: 1,
      cost_today: { llm1_usd: 0.02, llm2_usd: 0.04, interactions: 2, users: 2 },
      model_distribution: [{ llm1_model: "m1", llm2_model: "m2", count: 2, cost_usd: 0.06 }],
      wal: { pending: expect.any(Number), in_flight: expect.any(Number), dead_letter: expect.any(Number) },
    });
    expect(m.popular_edit_tags).toEqual([
      { tag: "STRUCT_SHORTEN", count: 1 },
      { tag: "TONE_CASUAL", count: 1 },
    ]);
    await create();
    const cached = await json(await t.call("GET", "/v1/dashboard/metrics", { key: t.keys.reviewer }));
    expect(cached.pending_reviews).toBe(1);
    const ttl = await t.services.redis.client.ttl(t.services.redis.key("metrics", "dashboard"));
    expect(ttl).toBeGreaterThan(290);
  });
});
