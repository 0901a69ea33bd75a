import { beforeAll, describe, expect, it } from "vitest";
import { expireOverdueCommitments } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { countRoundTrips } from "./support/round-trips.js";
import { interactionBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);
const inHours = (h: number) => new Date(Date.now() + h * 3600_000).toISOString();
const commit = (user: string, body: Record<string, unknown>, headers?: Record<string, string>) =>
  t.call("POST", `/v1/users/${user}/commitments`, { key: t.keys.agent, body: { commitment_text: "call you tomorrow", ...body }, headers });

describe("commitments", () => {
  it("creates one from the user's interaction, idempotent on Idempotency-Key; another user's interaction is a 404", async () => {
    const { id: interaction } = await json(
      await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "c1" }) }),
    );
    const first = await commit(
      "c1",
      { commitment_timestamp: inHours(5), interaction_id: interaction, details: { kind: "call" } },
      { "idempotency-key": "ck-1" },
    );
    expect(first.status).toBe(201);
    const created = await json(first);
    expect(created).toMatchObject({ user_id: "c1", status: "active", extracted_from_interaction: interaction, details: { kind: "call" } });
    const repeat = await commit("c1", { commitment_timestamp: inHours(5), interaction_id: interaction }, { "idempotency-key": "ck-1" });
    expect(repeat.status).toBe(200);
    expect((await json(repeat)).id).toBe(created.id);
    expect((await commit("c2", { commitment_timestamp: inHours(5), interaction_id: interaction })).status).toBe(404);
    expect((await commit("c1", { commitment_timestamp: "tomorrow" })).status).toBe(400);
    expect((await commit("c1", { commitment_timestamp: inHours(1), commitment_text: "" })).status).toBe(400);
    expect(
      (
        await t.call("POST", "/v1/users/c1/commitments", {
          key: t.keys.reviewer,
          body: { commitment_text: "x", commitment_timestamp: inHours(1) },
        })
      ).status,
    ).toBe(403);
  });

  it("the active view sorts by due time with hours remaining and urgency; overdue past the 1 h grace is expired by the read", async () => {
    const due = { overdue: -0.5, urgent: 1.5, today: 20, future: 48, gone: -2 };
    const ids: Record<string, string> = {};
    for (const [name, h] of Object.entries(due))
      ids[name] = (await json(await commit("u-view", { commitment_timestamp: inHours(h), commitment_text: name }))).id;
    const view = await json(await t.call("GET", "/v1/commitments/active?user_id=u-view", { key: t.keys.reviewer }));
    expect(view.items.map((c: any) => [c.commitment_text, c.urgency])).toEqual([
      ["overdue", "overdue"],
      ["urgent", "urgent"],
      ["today", "today"],
      ["future", "future"],
    ]);
    expect(view.items[1].hours_remaining).toBeCloseTo(1.5, 1);
    expect(await sql("SELECT status FROM commitments WHERE id = $1", [ids.gone])).toEqual([{ status: "expired" }]);
    const listed = await json(await t.call("GET", "/v1/users/u-view/commitments?status=expired", { key: t.keys.agent }));
    expect(listed.items.map((c: any) => c.commitment_text)).toEqual(["gone"]);
  });

  it("a user's list expires what it finds overdue in the same statement, and pages by due time", async () => {
    await sql(
      "INSERT INTO commitments (user_id, commitment_timestamp, commitment_text) VALUES ('u-list', now() - interval '3 hours', 'old'), ('u-list', now() + interval '1 hour', 'soon'), ('u-list', now() + interval '2 hours', 'later')",
    );
    const p1 = await json(await t.call("GET", "/v1/users/u-list/commitments?limit=2", { key: t.keys.agent }));
    expect(p1.items.map((c: any) => [c.commitment_text, c.status])).toEqual([
      ["old", "expired"],
      ["soon", "active"],
    ]);
    const p2 = await json(await t.call("GET", `/v1/users/u-list/commitments?limit=2&cursor=${p1.next_cursor}`, { key: t.keys.agent }));
    expect(p2.items.map((c: any) => c.commitment_text)).toEqual(["later"]);
    expect(p2.next_cursor).toBeNull();
    expect(await sql("SELECT status FROM commitments WHERE commitment_text = 'old'")).toEqual([{ status: "expired" }]);
  });

  it("the scheduled sweep expires only active commitments more than 1 h past due", async () => {
    await sql(`INSERT INTO commitments (user_id, commitment_timestamp, commitment_text, status) VALUES
      ('u-sweep', now() - interval '61 minutes', 'a', 'active'), ('u-sweep', now() - interval '59 minutes', 'b', 'active'),
      ('u-sweep', now() - interval '5 hours', 'c', 'fulfilled')`);
    expect(await expireOverdueCommitments(t.services.db)).toBeGreaterThanOrEqual(1);
    expect(await sql("SELECT commitment_text, status FROM commitments WHERE user_id = 'u-sweep' ORDER BY commitment_text")).toEqual([
      { commitment_text: "a", status: "expired" },
      { commitment_text: "b", status: "active" },
      { commitment_text: "c", status: "fulfilled" },
    ]);
  });

  it("status updates: active -> fulfilled; the same again is 200; another is 409; unknown 404; an overdue one is expired first", async () => {
    const { id } = await json(await commit("u-st", { commitment_timestamp: inHours(3) }));
    const patch = (cid: string, status: string) => t.call("PATCH", `/v1/commitments/${cid}`, { key: t.keys.agent, body: { status } });
    expect((await json(await patch(id, "fulfilled"))).status).toBe("fulfilled");
    expect((await patch(id, "fulfilled")).status).toBe(200);
    expect((await patch(id, "cancelled")).status).toBe(409);
    expect((await patch("00000000-0000-4000-8000-000000000000", "cancelled")).status).toBe(404);
    expect((await patch(id, "active")).status).toBe(400);
    const [{ id: late }] = await sql(
      "INSERT INTO commitments (user_id, commitment_timestamp, commitment_text) VALUES ('u-st', now() - interval '2 hours', 'late') RETURNING id",
    );
    const res = await patch(late, "fulfilled");
    expect(res.status).toBe(409);
    expect((await json(res)).error.details).toEqual({ status: "expired" });
  });

  it("the conflict check returns the user's active commitments within the window", async () => {
    await commit("u-cf", { commitment_timestamp: inHours(2), commitment_text: "in" });
    await commit("u-cf", { commitment_timestamp: inHours(30), commitment_text: "out" });
    await commit("u-cf2", { commitment_timestamp: inHours(2), commitment_text: "other user" });
    const q = (s: string, e: string) =>
      t.call("GET", `/v1/users/u-cf/commitments/conflicts?start=${encodeURIComponent(s)}&end=${encodeURIComponent(e)}`, {
        key: t.keys.agent,
      });
    const r = await json(await q(inHours(1), inHours(3)));
    expect(r.has_conflict).toBe(true);
    expect(r.conflicts.map((c: any) => c.commitment_text)).toEqual(["in"]);
    expect((await json(await q(inHours(4), inHours(5)))).has_conflict).toBe(false);
    expect((await q(inHours(3), inHours(1))).status).toBe(400);
    expect((await q(inHours(0), inHours(24 * 40))).status).toBe(400);
  });

  it("a page of large commitments stays under the page byte budget (Neon's 10 MiB, Lambda's 6 MB) and pages on", async () => {
    await sql(`INSERT INTO commitments (user_id, commitment_timestamp, commitment_text, details)
      SELECT 'u-big', now() + make_interval(hours => g), 'big ' || g, jsonb_build_object('blob', repeat('x', 16000)) FROM generate_series(1, 150) g`);
    const first = await t.call("GET", "/v1/users/u-big/commitments?limit=500", { key: t.keys.agent });
    const body = await first.text();
    const page = JSON.parse(body);
    expect(page.items.length).toBeGreaterThan(50);
    expect(page.items.length).toBeLessThan(150);
    expect(body.length).toBeLessThan(2 * 1024 * 1024);
    let seen = page.items.length;
    for (let cursor = page.next_cursor; cursor; ) {
      const next = await json(await t.call("GET", `/v1/users/u-big/commitments?limit=500&cursor=${cursor}`, { key: t.keys.agent }));
      seen += next.items.length;
      cursor = next.next_cursor;
    }
    expect(seen).toBe(150);
    const active = await json(await t.call("GET", "/v1/commitments/active?user_id=u-big&limit=500", { key: t.keys.agent }));
    expect(active.items.length).toBeLessThan(150);
    expect(active.next_cursor).not.toBeNull();
  });

  it("creating one is one Postgres round trip and no Redis (called per message)", async () => {
    const rt = countRoundTrips(t.services);
    try {
      expect((await commit("u-rt", { commitment_timestamp: inHours(3) })).status).toBe(201);
      // One statement, the request's audit row inside its transaction (functions/api/http/audit.ts).
      expect({ postgres: rt.postgres, redis: rt.redis }).toEqual({ postgres: 1, redis: 0 });
    } finally {
      rt.restore();
    }
  });
});

describe("coherence analyses and prompt rotations", () => {
  it("records analyses per interaction (the user is the interaction's) and reads them back in order", async () => {
    const { id } = await json(await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "a1" }) }));
    const post = (body: unknown, headers?: Record<string, string>) =>
      t.call("POST", `/v1/interactions/${id}/coherence`, { key: t.keys.agent, body, headers });
    const rt = countRoundTrips(t.services);
    let first;
    try {
      first = await post(
        {
          analysis_status: "CONFLICTO_DE_DISPONIBILIDAD",
          conflict_details: { with: "dinner at 8" },
          correction_applied: true,
          processing_time_ms: 420,
          llm2_output: { ok: false },
        },
        { "idempotency-key": "an-1" },
      );
      expect({ postgres: rt.postgres, redis: rt.redis }).toEqual({ postgres: 1, redis: 0 });
    } finally {
      rt.restore();
    }
    expect(first.status).toBe(201);
    const a = await json(first);
    expect(a).toMatchObject({
      interaction_id: id,
      user_id: "a1",
      analysis_status: "CONFLICTO_DE_DISPONIBILIDAD",
      correction_applied: true,
      processing_time_ms: 420,
      llm_model_used: "gpt-4o-mini",
      json_parse_success: true,
    });
    expect((await post({ analysis_status: "CONFLICTO_DE_DISPONIBILIDAD" }, { "idempotency-key": "an-1" })).status).toBe(200);
    expect((await post({ analysis_status: "OK", llm_model_used: "gemini-2.0-flash" })).status).toBe(201);
    const list = await json(await t.call("GET", `/v1/interactions/${id}/coherence`, { key: t.keys.reviewer }));
    expect(list.items.map((x: any) => x.analysis_status)).toEqual(["CONFLICTO_DE_DISPONIBILIDAD", "OK"]);
    expect((await post({ analysis_status: "CONFLICT" })).status).toBe(400);
    expect(
      (
        await t.call("POST", "/v1/interactions/00000000-0000-4000-8000-000000000000/coherence", {
          key: t.keys.agent,
          body: { analysis_status: "OK" },
        })
      ).status,
    ).toBe(404);
  });

  it("records prompt rotations and lists a user's newest first", async () => {
    const post = (body: unknown) => t.call("POST", "/v1/users/r1/prompt-rotations", { key: t.keys.agent, body });
    expect((await post({ previous_prompt_id: "p1", new_prompt_id: "p2" })).status).toBe(201);
    expect((await post({ previous_prompt_id: "p2", new_prompt_id: "p3", rotation_reason: "SCHEDULED" })).status).toBe(201);
    expect((await post({ previous_prompt_id: "p3" })).status).toBe(400);
    const list = await json(await t.call("GET", "/v1/users/r1/prompt-rotations", { key: t.keys.reviewer }));
    expect(list.items.map((r: any) => [r.new_prompt_id, r.rotation_reason])).toEqual([
      ["p3", "SCHEDULED"],
      ["p2", "CONFLICTO_DE_IDENTIDAD"],
    ]);
  });

  it("erasure removes the user's commitments, analyses and rotations, and only theirs", async () => {
    const { id } = await json(
      await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "gdpr-c" }) }),
    );
    await commit("gdpr-c", { commitment_timestamp: inHours(3), interaction_id: id });
    await t.call("POST", `/v1/interactions/${id}/coherence`, { key: t.keys.agent, body: { analysis_status: "OK" } });
    await t.call("POST", "/v1/users/gdpr-c/prompt-rotations", { key: t.keys.agent, body: { new_prompt_id: "p9" } });
    const before = await sql(
      "SELECT (SELECT count(*) FROM commitments WHERE user_id <> 'gdpr-c')::int AS c, (SELECT count(*) FROM prompt_rotations WHERE user_id <> 'gdpr-c')::int AS r",
    );
    const res = await json(await t.call("DELETE", "/v1/users/gdpr-c", { key: t.keys.admin }));
    expect(res.deleted.postgres).toMatchObject({ commitments: 1, coherence_analyses: 1, prompt_rotations: 1 });
    const left =
      await sql(`SELECT (SELECT count(*) FROM commitments WHERE user_id = 'gdpr-c')::int + (SELECT count(*) FROM coherence_analyses WHERE user_id = 'gdpr-c')::int
      + (SELECT count(*) FROM prompt_rotations WHERE user_id = 'gdpr-c')::int AS n`);
    expect(left).toEqual([{ n: 0 }]);
    expect(
      await sql(
        "SELECT (SELECT count(*) FROM commitments WHERE user_id <> 'gdpr-c')::int AS c, (SELECT count(*) FROM prompt_rotations WHERE user_id <> 'gdpr-c')::int AS r",
      ),
    ).toEqual(before);
  });
});
