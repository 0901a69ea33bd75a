import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrivateStack, type PrivateStack } from "./support/private-stack.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

/**
 * "The request reaches the server, its response is lost" (the Neon proxy's reset fault: the
 * statement runs and commits, then the answer is cut), for every write route that would otherwise
 * apply twice. Nothing is re-sent by the service itself (it answers 503); the client's retry, sent
 * through a second instance with the same Idempotency-Key, is answered as a repeat.
 */
let s: PrivateStack;
beforeAll(async () => { s = await startPrivateStack(); }, 120_000);
afterAll(async () => { await s?.stop(); });

type App = ReturnType<PrivateStack["app"]>;

async function lostThenRetried(one: App, two: App, method: string, path: string, key: string, body: unknown, idem?: string) {
  const headers = idem ? { "idempotency-key": idem } : undefined;
  s.stack.proxy.faults.set({ reset: true });
  let first;
  try {
    first = await one.call(method, path, key, body, undefined, headers);
  } finally {
    s.stack.proxy.faults.clear();
  }
  expect(first.status, `${path} under a lost response: ${first.text}`).toBe(503);
  return two.call(method, path, key, body, undefined, headers);
}

describe("a write whose response was lost, retried by the client", () => {
  let one: App, two: App;
  beforeAll(() => { one = s.app(); two = s.app(); });
  const count = async (sql: string, params: unknown[]) => Number((await one.services.db.query<{ n: number }>(sql, params))[0]!.n);

  it("PUT status with LTV adds it once", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const r = await lostThenRetried(one, two, "PUT", `/v1/users/${u}/status`, s.keys.reviewer, { customer_status: "CUSTOMER", ltv_amount: 10 }, randomUUID());
    expect(r.status).toBe(200);
    expect(r.json().ltv_usd).toBe(10);
    // A new request (a new key) still adds.
    expect((await two.call("PUT", `/v1/users/${u}/status`, s.keys.reviewer, { customer_status: "CUSTOMER", ltv_amount: 5 }, undefined, { "idempotency-key": randomUUID() })).json().ltv_usd).toBe(15);
  });

  it("POST /v1/interactions without message_id stores one interaction and one history turn", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const { message_id: _m, ...body } = interactionBody({ user_id: u });
    const r = await lostThenRetried(one, two, "POST", "/v1/interactions", s.keys.agent, body, randomUUID());
    expect(r.status).toBe(200);
    expect(await count("SELECT count(*)::int AS n FROM interactions WHERE user_id = $1", [u])).toBe(1);
    expect(await count("SELECT count(*)::int AS n FROM memory_messages WHERE user_id = $1", [u])).toBe(1);
  });

  it("a history append stores one turn", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const r = await lostThenRetried(one, two, "POST", `/v1/users/${u}/memory/history`, s.keys.agent, { role: "user", content: "once" }, randomUUID());
    expect(r.status).toBe(201);
    expect(await count("SELECT count(*)::int AS n FROM memory_messages WHERE user_id = $1", [u])).toBe(1);
  });

  it("a recovery cursor counts recovered messages once; a recovery operation is created once", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const body = { last_processed_telegram_id: 10, last_processed_telegram_date: new Date().toISOString(), messages_recovered: 7 };
    const r = await lostThenRetried(one, two, "PUT", `/v1/recovery/cursors/${u}`, s.keys.bot, body, randomUUID());
    expect(r.status).toBe(200);
    expect(r.json().total_recovered_messages).toBe(7);
    const before = await count("SELECT count(*)::int AS n FROM recovery_operations", []);
    const op = await lostThenRetried(one, two, "POST", "/v1/recovery/operations", s.keys.bot, { operation_type: "manual" }, randomUUID());
    expect(op.status).toBe(201);
    expect(await count("SELECT count(*)::int AS n FROM recovery_operations", [])).toBe(before + 1);
  });

  it("a protocol change writes one audit row", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const r = await lostThenRetried(one, two, "PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "ACTIVE" }, randomUUID());
    expect(r.status).toBe(200);
    expect(await count("SELECT count(*)::int AS n FROM protocol_audit_log WHERE user_id = $1", [u])).toBe(1);
  });

  it("an approve that committed answers 200 to its retry, not 409; another reviewer still gets 409", async () => {
    const created = await one.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: `l${randomUUID().slice(0, 8)}` }));
    const id = created.json().id;
    const r = await lostThenRetried(one, two, "POST", `/v1/reviews/${id}/approve`, s.keys.reviewer, approveBody());
    expect(r.status, r.text).toBe(200);
    expect(r.json().review_status).toBe("approved");
    const other = await two.call("POST", `/v1/reviews/${id}/approve`, s.keys.admin, approveBody());
    expect(other.status).toBe(409);
    expect(other.json().error.details).toEqual({ review_status: "approved" });
  });

  it("an Idempotency-Key that is not a key is a 400", async () => {
    const r = await one.call("PUT", "/v1/users/x/status", s.keys.reviewer, { customer_status: "CUSTOMER" }, undefined, { "idempotency-key": "bad key!" });
    expect(r.status).toBe(400);
  });
});
