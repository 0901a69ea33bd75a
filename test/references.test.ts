import { randomUUID } from "node:crypto";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { createServices } from "@hitl/core";
import { createApp } from "../functions/api/app.js";
import { createTestContext, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

/**
 * Issue 24, findings 8, 9 and 10 (LTV): Idempotency-Keys scoped and bound to their request,
 * references checked across users, amounts at their column's precision. Two app instances on the
 * same stores (two Lambda instances: nothing shared in memory).
 */
type Call = (method: string, path: string, opts?: { key?: string; body?: unknown; headers?: Record<string, string> }) => Promise<Response>;
let t: TestContext;
let two: Call;
beforeAll(async () => {
  t = await createTestContext();
  const services = createServices(t.config, {});
  const app = createApp(async () => services);
  two = (method, path, opts = {}) =>
    Promise.resolve(
      app.request(path, {
        method,
        headers: {
          ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
          "content-type": "application/json",
          ...(opts.headers ?? {}),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      }),
    );
});
const json = async (r: Response) => (await r.json()) as any;
const idem = (key: string) => ({ "idempotency-key": key });
const count = async (sql: string, params: unknown[]) => Number((await t.services.db.query<{ n: number }>(sql, params))[0]!.n);

describe("Idempotency-Keys: scoped, bound to the request, applied once under concurrent retries", () => {
  it("10 parallel PUT protocol with one key over two instances write exactly 1 audit row (3 trials, the retries overlapping for sure)", async () => {
    for (let trial = 0; trial < 3; trial++) {
      const u = `ip${trial}-${randomUUID().slice(0, 8)}`;
      const key = randomUUID();
      expect((await t.call("PUT", `/v1/users/${u}/protocol`, { key: t.keys.reviewer, body: { status: "INACTIVE" } })).status).toBe(200);
      // The user's row is locked while the ten start, so that all of them are inside Postgres at once
      // (without it they may run one after the other: the race the adversarial test hit 1 in 3).
      const locker = new pg.Client({ connectionString: t.databaseUrl });
      await locker.connect();
      await locker.query("BEGIN");
      await locker.query("SELECT 1 FROM user_protocol_status WHERE user_id = $1 FOR UPDATE", [u]);
      const pending = Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? two : t.call)("PUT", `/v1/users/${u}/protocol`, {
            key: t.keys.reviewer,
            body: { status: "ACTIVE", reason: "r" },
            headers: idem(key),
          }),
        ),
      );
      await new Promise((r) => setTimeout(r, 400));
      await locker.query("COMMIT");
      await locker.end();
      const answers = await pending;
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
      for (const a of answers) expect((await json(a)).status).toBe("ACTIVE");
      // The INACTIVE set-up and the one ACTIVATED.
      expect(await count("SELECT count(*)::int AS n FROM protocol_audit_log WHERE user_id = $1", [u])).toBe(2);
    }
  });

  it("10 parallel PUT status with LTV and one key over two instances add the LTV once", async () => {
    const u = `is-${randomUUID().slice(0, 8)}`;
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? two : t.call)("PUT", `/v1/users/${u}/status`, {
          key: t.keys.reviewer,
          body: { customer_status: "CUSTOMER", ltv_amount: 10 },
          headers: idem(key),
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    for (const a of answers) expect((await json(a)).ltv_usd).toBe(10);
  });

  it("the same key with a different body answers 422 and changes nothing; another caller's same key is its own", async () => {
    const u = `ib-${randomUUID().slice(0, 8)}`;
    const key = randomUUID();
    const first = await t.call("PUT", `/v1/users/${u}/status`, {
      key: t.keys.reviewer,
      body: { customer_status: "CUSTOMER", ltv_amount: 10 },
      headers: idem(key),
    });
    expect(first.status).toBe(200);
    const other = await two("PUT", `/v1/users/${u}/status`, {
      key: t.keys.reviewer,
      body: { customer_status: "CHURNED" },
      headers: idem(key),
    });
    expect(other.status).toBe(422);
    expect((await json(other)).error).toMatchObject({
      code: "idempotency_key_reused",
      message: expect.stringContaining("different request"),
    });
    // Another user's path is another request too.
    expect(
      (
        await two("PUT", `/v1/users/${u}x/status`, {
          key: t.keys.reviewer,
          body: { customer_status: "CUSTOMER", ltv_amount: 10 },
          headers: idem(key),
        })
      ).status,
    ).toBe(422);
    const now = await json(await t.call("GET", `/v1/users/${u}/status`, { key: t.keys.reviewer }));
    expect(now).toMatchObject({ customer_status: "CUSTOMER", ltv_usd: 10 });
    // The same body with its key, in another key order: the same request.
    expect(
      (
        await json(
          await two("PUT", `/v1/users/${u}/status`, {
            key: t.keys.reviewer,
            body: { ltv_amount: 10, customer_status: "CUSTOMER" },
            headers: idem(key),
          }),
        )
      ).ltv_usd,
    ).toBe(10);
    // Another principal (the admin key) with the same key: its own request, applied.
    expect(
      (
        await json(
          await two("PUT", `/v1/users/${u}/status`, {
            key: t.keys.admin,
            body: { customer_status: "CUSTOMER", ltv_amount: 10 },
            headers: idem(key),
          }),
        )
      ).ltv_usd,
    ).toBe(20);
    // The same key on another operation is another key.
    expect(
      (await t.call("PUT", `/v1/users/${u}/protocol`, { key: t.keys.reviewer, body: { status: "ACTIVE" }, headers: idem(key) })).status,
    ).toBe(200);
  });

  it("recovery operations: keys are per caller; a reused key with another body answers 422", async () => {
    const key = randomUUID();
    const a = await t.call("POST", "/v1/recovery/operations", {
      key: t.keys.bot,
      body: { operation_type: "manual", metadata: { by: "bot" } },
      headers: idem(key),
    });
    expect(a.status).toBe(201);
    const again = await two("POST", "/v1/recovery/operations", {
      key: t.keys.bot,
      body: { operation_type: "manual", metadata: { by: "bot" } },
      headers: idem(key),
    });
    expect((await json(again)).id).toBe((await json(a.clone())).id);
    const b = await two("POST", "/v1/recovery/operations", { key: t.keys.admin, body: { operation_type: "startup" }, headers: idem(key) });
    expect(b.status).toBe(201);
    expect((await json(b)).id).not.toBe((await json(a)).id);
    expect(
      (await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "startup" }, headers: idem(key) }))
        .status,
    ).toBe(422);
  });
});

describe("references are checked: no request answers with another user's resource", () => {
  it("an interaction naming another user's queued message is refused with 409; neither chat nor id leaks", async () => {
    const a = `ra-${randomUUID().slice(0, 8)}`,
      b = `rb-${randomUUID().slice(0, 8)}`;
    await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: a, text: "from A", chat_id: 4242, telegram_message_id: 7 } });
    const [claimed] = (await json(await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 10 } }))).items.filter(
      (m: any) => m.user_id === a,
    );
    const { chat_id: _c, ...forB } = interactionBody({ user_id: b, message_id: claimed.message_id });
    const refused = await two("POST", "/v1/interactions", { key: t.keys.agent, body: forB });
    expect(refused.status).toBe(409);
    expect((await json(refused)).error.code).toBe("conflict");
    expect(await count("SELECT count(*)::int AS n FROM interactions WHERE user_id = $1", [b])).toBe(0);
    const { chat_id: _d, ...forA } = interactionBody({ user_id: a, message_id: claimed.message_id });
    expect((await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: forA })).status).toBe(201);
  });

  it("the same message_id, or the same Idempotency-Key without one, for another user never answers with the first user's interaction", async () => {
    const a = `rc-${randomUUID().slice(0, 8)}`,
      b = `rd-${randomUUID().slice(0, 8)}`;
    const mid = randomUUID();
    const first = await json(
      await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: a, message_id: mid }) }),
    );
    const byMessage = await two("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: b, message_id: mid, user_message: "B's text" }),
    });
    expect(byMessage.status).toBe(409);
    expect(JSON.stringify(await json(byMessage))).not.toContain(first.id);
    // The same user repeating its message_id is still answered 200 with its own interaction.
    const repeat = await two("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: a, message_id: mid }) });
    expect(repeat.status).toBe(200);
    expect((await json(repeat)).id).toBe(first.id);

    const key = randomUUID();
    const { message_id: _m, ...bodyA } = interactionBody({ user_id: a, user_message: "A's text" });
    const { message_id: _n, ...bodyB } = interactionBody({ user_id: b, user_message: "B's text" });
    const keyedA = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: bodyA, headers: idem(key) });
    expect(keyedA.status).toBe(201);
    const idA = (await json(keyedA)).id;
    const keyedB = await two("POST", "/v1/interactions", { key: t.keys.agent, body: bodyB, headers: idem(key) });
    expect(keyedB.status).toBe(422);
    expect(JSON.stringify(await json(keyedB))).not.toContain(idA);
    const retriedA = await two("POST", "/v1/interactions", { key: t.keys.agent, body: bodyA, headers: idem(key) });
    expect(retriedA.status).toBe(200);
    expect((await json(retriedA)).id).toBe(idA);
    expect(await count("SELECT count(*)::int AS n FROM interactions WHERE user_id = $1", [a])).toBe(2);
    expect(await count("SELECT count(*)::int AS n FROM interactions WHERE user_id = $1", [b])).toBe(0);
  });
});

describe("amounts at their column's precision", () => {
  it("ltv_amount finer than a cent is refused with 400, never stored with more decimals or rounded", async () => {
    const u = `lv-${randomUUID().slice(0, 8)}`;
    for (const ltv of [5e-324, 0.005, 1.001, 12.345]) {
      const r = await t.call("PUT", `/v1/users/${u}/status`, {
        key: t.keys.reviewer,
        body: { customer_status: "CUSTOMER", ltv_amount: ltv },
      });
      expect(r.status, String(ltv)).toBe(400);
      expect((await json(r)).error.details[0]).toMatchObject({ path: "ltv_amount", message: expect.stringContaining("2 decimal places") });
    }
    expect(await count("SELECT count(*)::int AS n FROM user_current_status WHERE user_id = $1", [u])).toBe(0);
    for (const ltv of [12.34, 0.07, 0.1, 10_000]) {
      expect(
        (await t.call("PUT", `/v1/users/${u}/status`, { key: t.keys.reviewer, body: { customer_status: "CUSTOMER", ltv_amount: ltv } }))
          .status,
      ).toBe(200);
    }
    const [row] = await t.services.db.query<{ ltv: string }>("SELECT ltv_usd::text AS ltv FROM user_current_status WHERE user_id = $1", [
      u,
    ]);
    expect(row!.ltv).toBe("10012.51");
  });
});
