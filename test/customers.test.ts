import { beforeAll, describe, expect, it } from "vitest";
import { CTA_RESPONSE_TYPES, nextCustomerStatus, type CtaResponseType, type CustomerStatus } from "@hitl/core";
import { createTestContext, type TestContext } from "./support/stack.js";
import { directSql, json } from "./support/sql.js";
import { countRoundTrips } from "./support/round-trips.js";
import { interactionBody } from "./support/fixtures.js";

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
const sql = (text: string, params: unknown[] = []) => directSql(t.databaseUrl, text, params);

/** A user with `ctas` CTAs already sent (approved replies with cta_data) and one fresh interaction to answer. */
async function userWithCtas(user: string, ctas: number): Promise<string> {
  for (let i = 0; i < ctas; i++) {
    const { id } = await json(await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: user }) }));
    await sql("UPDATE interactions SET review_status = 'approved', cta_data = '{\"type\":\"soft\"}' WHERE id = $1", [id]);
  }
  return (await json(await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: user }) }))).id;
}
const respond = (id: string, body: unknown) => t.call("POST", `/v1/interactions/${id}/cta-response`, { key: t.keys.agent, body });

describe("the reference's transition rules, case by case", () => {
  // [current, response, converted, CTAs sent, expected]
  const cases: [CustomerStatus, CtaResponseType, boolean, number, CustomerStatus][] = [
    ["PROSPECT", "INTERESTED", true, 0, "CUSTOMER"],
    ["PROSPECT", "CONVERTED", false, 0, "CUSTOMER"],
    ["LEAD_EXHAUSTED", "IGNORED", true, 9, "CUSTOMER"],
    ["PROSPECT", "POLITE_DECLINE", false, 0, "LEAD_QUALIFIED"],
    ["PROSPECT", "POLITE_DECLINE", false, 3, "LEAD_QUALIFIED"],
    ["PROSPECT", "POLITE_DECLINE", false, 4, "PROSPECT"],
    ["PROSPECT", "POLITE_DECLINE", false, 5, "PROSPECT"],
    ["PROSPECT", "POLITE_DECLINE", false, 6, "LEAD_EXHAUSTED"],
    ["PROSPECT", "RUDE_DECLINE", false, 0, "LEAD_EXHAUSTED"],
    ["CUSTOMER", "RUDE_DECLINE", false, 1, "LEAD_EXHAUSTED"],
    ["PROSPECT", "INTERESTED", false, 5, "LEAD_QUALIFIED"],
    ["PROSPECT", "INTERESTED", false, 6, "LEAD_EXHAUSTED"],
    ["PROSPECT", "IGNORED", false, 5, "PROSPECT"],
    ["LEAD_QUALIFIED", "IGNORED", false, 6, "LEAD_EXHAUSTED"],
    ["CUSTOMER", "IGNORED", false, 0, "CUSTOMER"],
    ["CHURNED", "IGNORED", false, 2, "CHURNED"],
  ];

  it("the SQL function the transaction runs and its documented TypeScript form agree on every case", async () => {
    const rows = await sql(
      `SELECT hitl_next_customer_status(c->>0, c->>1, (c->>2)::boolean, (c->>3)::int) AS s FROM jsonb_array_elements($1::jsonb) c`,
      [JSON.stringify(cases)],
    );
    expect(rows.map((r) => r.s)).toEqual(cases.map((c) => c[4]));
    expect(cases.map(([cur, r, conv, n]) => nextCustomerStatus(cur, r, conv, n))).toEqual(cases.map((c) => c[4]));
  });

  it.each([
    ["POLITE_DECLINE with 3 CTAs", "POLITE_DECLINE", 3, "LEAD_QUALIFIED"],
    ["POLITE_DECLINE with 4 CTAs (kept)", "POLITE_DECLINE", 4, "PROSPECT"],
    ["IGNORED with 6 CTAs", "IGNORED", 6, "LEAD_EXHAUSTED"],
    ["RUDE_DECLINE", "RUDE_DECLINE", 0, "LEAD_EXHAUSTED"],
    ["INTERESTED", "INTERESTED", 1, "LEAD_QUALIFIED"],
  ])("through the API: %s", async (name, response, ctas, expected) => {
    const user = `rule-${name.replace(/[^A-Za-z0-9]/g, "")}`;
    const id = await userWithCtas(user, ctas as number);
    const out = await json(await respond(id, { response_type: response }));
    expect(out).toMatchObject({
      interaction_id: id,
      user_id: user,
      cta_count: ctas,
      previous_status: "PROSPECT",
      customer_status: expected,
      repeated: false,
    });
    expect((await json(await t.call("GET", `/v1/users/${user}/status`, { key: t.keys.agent }))).customer_status).toBe(expected);
    const [row] = await sql("SELECT cta_response_type, cta_sent_count, customer_status FROM interactions WHERE id = $1", [id]);
    expect(row).toEqual({ cta_response_type: response, cta_sent_count: ctas, customer_status: expected });
    const transitions = await sql(
      "SELECT previous_status, new_status, automated, actor, interaction_id FROM customer_status_transitions WHERE user_id = $1",
      [user],
    );
    expect(transitions).toEqual(
      expected === "PROSPECT"
        ? []
        : [{ previous_status: "PROSPECT", new_status: expected, automated: true, actor: "agent-key", interaction_id: id }],
    );
  });
});

describe("CTA responses", () => {
  it("a conversion makes a CUSTOMER, adds LTV once, and a repeat (any key) applies nothing again", async () => {
    const id = await userWithCtas("conv-1", 1);
    const first = await json(await respond(id, { response_type: "INTERESTED", converted: true, ltv_amount: 49.5, reason: "bought" }));
    expect(first).toMatchObject({ customer_status: "CUSTOMER", ltv_usd: 49.5, repeated: false, converted: true });
    expect(first.transition).toMatchObject({
      previous_status: "PROSPECT",
      new_status: "CUSTOMER",
      reason: "bought",
      automated: true,
      ltv_added_usd: 49.5,
      interaction_id: id,
    });
    const again = await json(await respond(id, { response_type: "INTERESTED", converted: true, ltv_amount: 49.5 }));
    expect(again).toMatchObject({ customer_status: "CUSTOMER", ltv_usd: 49.5, repeated: true });
    expect(again.transition.id).toBe(first.transition.id);
    expect(await sql("SELECT count(*)::int AS n FROM customer_status_transitions WHERE user_id = 'conv-1'")).toEqual([{ n: 1 }]);
    const [i] = await sql("SELECT ltv_usd::float8 AS ltv, conversion_date IS NOT NULL AS converted FROM interactions WHERE id = $1", [id]);
    expect(i).toEqual({ ltv: 49.5, converted: true });
  });

  it("concurrent responses of one user serialize on the status row: each transition starts where the previous ended", async () => {
    const ids = await Promise.all([0, 1, 2, 3].map(() => userWithCtas("conc-1", 0)));
    await Promise.all(ids.map((id, i) => respond(id, { response_type: i % 2 ? "RUDE_DECLINE" : "INTERESTED" })));
    const rows = await sql("SELECT previous_status, new_status FROM customer_status_transitions WHERE user_id = 'conc-1' ORDER BY id");
    for (let i = 1; i < rows.length; i++) expect(rows[i].previous_status).toBe(rows[i - 1].new_status);
    expect(rows[0].previous_status).toBe("PROSPECT");
    const [s] = await sql("SELECT customer_status FROM user_current_status WHERE user_id = 'conc-1'");
    expect(s.customer_status).toBe(rows[rows.length - 1].new_status);
  });

  it("answers 404 for an unknown interaction, 400 for a bad body, 403 for a reviewer key", async () => {
    expect((await respond("00000000-0000-4000-8000-000000000000", { response_type: "IGNORED" })).status).toBe(404);
    const id = await userWithCtas("bad-1", 0);
    expect((await respond(id, { response_type: "MAYBE" })).status).toBe(400);
    expect((await respond(id, { response_type: "IGNORED", ltv_amount: -1 })).status).toBe(400);
    expect((await respond(id, { response_type: "IGNORED", extra: 1 })).status).toBe(400);
    expect(
      (await t.call("POST", `/v1/interactions/${id}/cta-response`, { key: t.keys.reviewer, body: { response_type: "IGNORED" } })).status,
    ).toBe(403);
    expect(await sql("SELECT count(*)::int AS n FROM customer_status_transitions WHERE user_id = 'bad-1'")).toEqual([{ n: 0 }]);
  });

  it("is one Postgres and at most one Redis round trip (called per message)", async () => {
    const id = await userWithCtas("rt-1", 0);
    const rt = countRoundTrips(t.services);
    try {
      // One statement, the request's audit row inside its transaction (functions/api/http/audit.ts).
      expect((await respond(id, { response_type: "INTERESTED" })).status).toBe(200);
      expect({ postgres: rt.postgres, redis: rt.redis }).toEqual({ postgres: 1, redis: 1 });
      rt.reset();
      expect((await respond(id, { response_type: "INTERESTED" })).status).toBe(200);
      expect({ postgres: rt.postgres, redis: rt.redis }).toEqual({ postgres: 1, redis: 0 });
    } finally {
      rt.restore();
    }
  });
});

describe("status history and the funnel", () => {
  it("a manual PUT status writes a transition with actor and reason; history pages newest first", async () => {
    const put = (body: unknown, headers?: Record<string, string>) =>
      t.call("PUT", "/v1/users/man-1/status", { key: t.keys.reviewer, body, headers });
    await put({ customer_status: "LEAD_QUALIFIED", reason: "call went well" });
    await put({ customer_status: "LEAD_QUALIFIED" }); // no change: no transition
    await put({ customer_status: "CUSTOMER", ltv_amount: 10 }, { "idempotency-key": "k-1" });
    await put({ customer_status: "CUSTOMER", ltv_amount: 10 }, { "idempotency-key": "k-1" }); // retry: nothing twice
    await put({ customer_status: "CHURNED" });
    const page1 = await json(await t.call("GET", "/v1/users/man-1/status/history?limit=2", { key: t.keys.reviewer }));
    expect(page1.items.map((r: any) => [r.previous_status, r.new_status])).toEqual([
      ["CUSTOMER", "CHURNED"],
      ["LEAD_QUALIFIED", "CUSTOMER"],
    ]);
    expect(page1.items[1]).toMatchObject({ automated: false, actor: "reviewer-key", ltv_added_usd: 10, interaction_id: null });
    const page2 = await json(
      await t.call("GET", `/v1/users/man-1/status/history?limit=2&cursor=${page1.next_cursor}`, { key: t.keys.agent }),
    );
    expect(page2.items).toEqual([
      expect.objectContaining({ previous_status: "PROSPECT", new_status: "LEAD_QUALIFIED", reason: "call went well" }),
    ]);
    expect(page2.next_cursor).toBeNull();
    expect((await json(await t.call("GET", "/v1/users/man-1/status", { key: t.keys.agent }))).ltv_usd).toBe(10);
    expect((await t.call("GET", "/v1/users/man-1/status/history?cursor=bogus", { key: t.keys.agent })).status).toBe(400);
  });

  it("the funnel lists every stage in funnel order with counts, CTAs, conversions and LTV", async () => {
    const f = await json(await t.call("GET", "/v1/customers/funnel", { key: t.keys.reviewer }));
    expect(f.items.map((r: any) => r.customer_status)).toEqual(["PROSPECT", "LEAD_QUALIFIED", "CUSTOMER", "CHURNED", "LEAD_EXHAUSTED"]);
    const [counts] = await sql(`SELECT count(*) FILTER (WHERE customer_status = 'CUSTOMER')::int AS customers,
      coalesce(sum(ltv_usd) FILTER (WHERE customer_status = 'CUSTOMER'), 0)::float8 AS ltv FROM user_current_status`);
    const customer = f.items.find((r: any) => r.customer_status === "CUSTOMER");
    expect(customer.users).toBe(counts.customers);
    expect(customer.total_ltv_usd).toBe(counts.ltv);
    expect(customer.conversions).toBeGreaterThanOrEqual(1);
    expect(customer.avg_ltv_usd).toBeCloseTo(counts.ltv / counts.customers, 2);
    const exhausted = f.items.find((r: any) => r.customer_status === "LEAD_EXHAUSTED");
    expect(exhausted.avg_ctas).toBeGreaterThan(0);
    expect((await t.call("GET", "/v1/customers/funnel", { key: t.keys.agent })).status).toBe(403);
  });

  it("erasure removes the user's transitions and nobody else's", async () => {
    const id = await userWithCtas("gone-1", 0);
    await respond(id, { response_type: "RUDE_DECLINE" });
    const others = await sql("SELECT count(*)::int AS n FROM customer_status_transitions WHERE user_id <> 'gone-1'");
    const res = await json(await t.call("DELETE", "/v1/users/gone-1", { key: t.keys.admin }));
    expect(res.deleted.postgres.customer_status_transitions).toBe(1);
    expect(await sql("SELECT count(*)::int AS n FROM customer_status_transitions WHERE user_id = 'gone-1'")).toEqual([{ n: 0 }]);
    expect(await sql("SELECT count(*)::int AS n FROM customer_status_transitions WHERE user_id <> 'gone-1'")).toEqual(others);
  });

  it("covers the five response types", () => {
    expect(CTA_RESPONSE_TYPES).toEqual(["IGNORED", "POLITE_DECLINE", "INTERESTED", "CONVERTED", "RUDE_DECLINE"]);
  });
});
