import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPrivateStack, type PrivateStack } from "./support/private-stack.js";
import { type App, lostThenRetried } from "./support/lost-response.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

/**
 * "The request reaches the server, its response is lost" (the Neon proxy's reset fault: the
 * statement runs and commits, then the answer is cut), for every write route that would otherwise
 * apply twice. Nothing is re-sent by the service itself (it answers 503); the client's retry, sent
 * through a second instance with the same Idempotency-Key, is answered as a repeat.
 */
let s: PrivateStack;
beforeAll(async () => {
  s = await startPrivateStack();
}, 120_000);
afterAll(async () => {
  await s?.stop();
});

describe("a write whose response was lost, retried by the client", () => {
  let one: App, two: App;
  beforeAll(async () => {
    one = s.app();
    two = s.app();
    // Warm instances: their copies of the stored API keys loaded before any fault.
    await Promise.all([one.services.keys.refresh(), two.services.keys.refresh()]);
  });
  const count = async (sql: string, params: unknown[]) => Number((await one.services.db.query<{ n: number }>(sql, params))[0]!.n);

  it("PUT status with LTV adds it once", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const r = await lostThenRetried(
      s,
      one,
      two,
      "PUT",
      `/v1/users/${u}/status`,
      s.keys.reviewer,
      { customer_status: "CUSTOMER", ltv_amount: 10 },
      randomUUID(),
    );
    expect(r.status).toBe(200);
    expect(r.json().ltv_usd).toBe(10);
    // A new request (a new key) still adds.
    expect(
      (
        await two.call("PUT", `/v1/users/${u}/status`, s.keys.reviewer, { customer_status: "CUSTOMER", ltv_amount: 5 }, undefined, {
          "idempotency-key": randomUUID(),
        })
      ).json().ltv_usd,
    ).toBe(15);
  });

  it("POST /v1/interactions without message_id stores one interaction and one history turn", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const { message_id: _m, ...body } = interactionBody({ user_id: u });
    const r = await lostThenRetried(s, one, two, "POST", "/v1/interactions", s.keys.agent, body, randomUUID());
    expect(r.status).toBe(200);
    expect(await count("SELECT count(*)::int AS n FROM interactions WHERE user_id = $1", [u])).toBe(1);
    expect(await count("SELECT count(*)::int AS n FROM memory_messages WHERE user_id = $1", [u])).toBe(1);
  });

  it("a history append stores one turn", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const r = await lostThenRetried(
      s,
      one,
      two,
      "POST",
      `/v1/users/${u}/memory/history`,
      s.keys.agent,
      { role: "user", content: "once" },
      randomUUID(),
    );
    expect(r.status).toBe(201);
    expect(await count("SELECT count(*)::int AS n FROM memory_messages WHERE user_id = $1", [u])).toBe(1);
  });

  it("a recovery cursor counts recovered messages once; a recovery operation is created once", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const body = { last_processed_telegram_id: 10, last_processed_telegram_date: new Date().toISOString(), messages_recovered: 7 };
    const r = await lostThenRetried(s, one, two, "PUT", `/v1/recovery/cursors/${u}`, s.keys.bot, body, randomUUID());
    expect(r.status).toBe(200);
    expect(r.json().total_recovered_messages).toBe(7);
    const before = await count("SELECT count(*)::int AS n FROM recovery_operations", []);
    const op = await lostThenRetried(
      s,
      one,
      two,
      "POST",
      "/v1/recovery/operations",
      s.keys.bot,
      { operation_type: "manual" },
      randomUUID(),
    );
    expect(op.status).toBe(201);
    expect(await count("SELECT count(*)::int AS n FROM recovery_operations", [])).toBe(before + 1);
  });

  it("a protocol change writes one audit row", async () => {
    const u = `l${randomUUID().slice(0, 8)}`;
    const r = await lostThenRetried(s, one, two, "PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "ACTIVE" }, randomUUID());
    expect(r.status).toBe(200);
    expect(await count("SELECT count(*)::int AS n FROM protocol_audit_log WHERE user_id = $1", [u])).toBe(1);
  });

  it("an approve that committed answers 200 to its retry, not 409; another reviewer still gets 409", async () => {
    const created = await one.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: `l${randomUUID().slice(0, 8)}` }));
    const id = created.json().id;
    const r = await lostThenRetried(s, one, two, "POST", `/v1/reviews/${id}/approve`, s.keys.reviewer, approveBody());
    expect(r.status, r.text).toBe(200);
    expect(r.json().review_status).toBe("approved");
    const other = await two.call("POST", `/v1/reviews/${id}/approve`, s.keys.admin, approveBody());
    expect(other.status).toBe(409);
    expect(other.json().error.details).toEqual({ review_status: "approved" });
  });

  it("an Idempotency-Key that is not a key is a 400", async () => {
    const r = await one.call("PUT", "/v1/users/x/status", s.keys.reviewer, { customer_status: "CUSTOMER" }, undefined, {
      "idempotency-key": "bad key!",
    });
    expect(r.status).toBe(400);
  });
});

describe("the silence protocol under a Redis blip", () => {
  it("a protocol change answers 200 only once the cache holds it: no instance queues a silenced user's message after that", async () => {
    const one = s.app();
    const two = s.app();
    const u = `p${randomUUID().slice(0, 8)}`;
    expect((await one.call("PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "INACTIVE" })).status).toBe(200);
    const put = await s.stack.bridge.faults.during({ status: 503 }, () =>
      one.call("PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "ACTIVE" }),
    );
    // Postgres took the change, the cache could not: not acknowledged, so the client retries.
    expect(put.status).toBe(503);
    expect(Number(put.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const retried = await one.call("PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "ACTIVE" });
    expect(retried.status).toBe(200);
    for (const app of [two, one]) {
      const r = await app.call("POST", "/v1/messages", s.keys.bot, {
        user_id: u,
        text: "still silenced?",
        telegram_message_id: Math.floor(Math.random() * 1e9),
      });
      expect(r.json().items[0].status).toBe("quarantined");
    }
  });
});

describe("logs", () => {
  it("carry no user text through a conversation turn under faults", async () => {
    const lines: string[] = [];
    const a = s.app({ REDIS_TIMEOUT_MS: "300", PG_TIMEOUT_MS: "600" }, undefined, lines);
    const secret = `SECRET-${randomUUID()}`;
    const u = `g${randomUUID().slice(0, 8)}`;
    const turn = async () => {
      await a.call("PUT", `/v1/users/${u}/nickname`, s.keys.reviewer, { nickname: `${secret}-nick` });
      await a.call("POST", "/v1/messages", s.keys.bot, { user_id: u, text: secret, telegram_message_id: Math.floor(Math.random() * 1e9) });
      await a.call("POST", "/v1/messages/claim", s.keys.agent, { max: 10 });
      await a.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: u, user_message: secret, llm2_bubbles: [secret] }));
      await a.call("PATCH", `/v1/users/${u}/memory/context`, s.keys.agent, { updates: { note: secret } });
      await a.call("POST", `/v1/users/${u}/memory/history`, s.keys.agent, { role: "assistant", content: secret });
      await a.call("GET", `/v1/users/${u}/memory`, s.keys.agent);
      // A value Postgres refuses, quoting it in its error.
      await a.call("PUT", `/v1/recovery/cursors/${u}`, s.keys.bot, {
        last_processed_telegram_id: 1,
        last_processed_telegram_date: new Date().toISOString(),
      });
    };
    await turn();
    for (const [faults, spec] of [
      [s.stack.bridge.faults, { status: 500 }],
      [s.stack.bridge.faults, { reset: true }],
      [s.stack.proxy.faults, { reset: true }],
      [s.stack.proxy.faults, { hang: true }],
    ] as const) {
      faults.set(spec);
      try {
        await turn();
      } finally {
        faults.clear();
      }
    }
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.some((l) => l.includes("failed"))).toBe(true);
    expect(lines.filter((l) => l.includes("SECRET-"))).toEqual([]);
  }, 60_000);
});

describe("a claim whose response was lost", () => {
  it("is answered again with the same messages and leases when retried with its Idempotency-Key: nothing is stranded", async () => {
    const one = s.app();
    const two = s.app();
    const u = `c${randomUUID().slice(0, 8)}`;
    await one.call("PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "INACTIVE" });
    // Drain what earlier tests left queued, then queue three of our own.
    while ((await one.call("POST", "/v1/messages/claim", s.keys.agent, { max: 100, lease_seconds: 900 })).json().items.length) {
      /* drain */
    }
    await one.call("POST", "/v1/messages", s.keys.bot, {
      messages: [1, 2, 3].map((i) => ({ user_id: u, text: `c${i}`, telegram_message_id: i })),
    });
    const key = randomUUID();
    const lost = await s.stack.bridge.faults.during({ reset: true }, () =>
      one.call("POST", "/v1/messages/claim", s.keys.agent, { max: 2 }, undefined, { "idempotency-key": key }),
    );
    expect(lost.status).toBe(503);
    const retried = await two.call("POST", "/v1/messages/claim", s.keys.agent, { max: 2 }, undefined, { "idempotency-key": key });
    expect(retried.status).toBe(200);
    const items = retried.json().items as { message_id: string; lease_token: string; text: string }[];
    expect(items.map((i) => i.text)).toEqual(["c1", "c2"]);
    // The leases handed out are live: acking them works, and the third message is still there.
    expect((await two.call("POST", "/v1/messages/ack", s.keys.agent, { items })).json()).toEqual({ acked: 2, stale: [] });
    const rest = (await two.call("POST", "/v1/messages/claim", s.keys.agent, { max: 10 })).json().items;
    expect(rest.map((i: { text: string }) => i.text)).toEqual(["c3"]);
  });
});

describe("erasure under a Redis failure", () => {
  it("answers 503 with nothing erased when Redis is unavailable first", async () => {
    const a = s.app();
    const u = `e${randomUUID().slice(0, 8)}`;
    await a.call("PUT", `/v1/users/${u}/status`, s.keys.reviewer, { customer_status: "CUSTOMER" });
    expect((await s.stack.bridge.faults.during({ status: 503 }, () => a.call("DELETE", `/v1/users/${u}`, s.keys.admin))).status).toBe(503);
    expect((await a.services.db.query("SELECT 1 FROM user_current_status WHERE user_id = $1", [u])).length).toBe(1);
  });

  it("once Postgres is erased, finishes later (retry, recovery, job) and serves nothing of the user meanwhile", async () => {
    const one = s.app();
    const two = s.app();
    const u = `e${randomUUID().slice(0, 8)}`;
    await one.call("PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "INACTIVE" });
    await one.call("PUT", `/v1/users/${u}/status`, s.keys.reviewer, { customer_status: "CUSTOMER", ltv_amount: 50 });
    await one.call("PATCH", `/v1/users/${u}/memory/context`, s.keys.agent, { updates: { name: "Erin" } });
    await one.call("POST", "/v1/messages", s.keys.bot, { user_id: u, text: "erase me", telegram_message_id: 5 });
    // Redis answers the first erasure step, then fails: Postgres is erased, the second Redis step is not done.
    const del = await s.stack.bridge.faults.during({ status: 503, skip: 1 }, () => one.call("DELETE", `/v1/users/${u}`, s.keys.admin));
    expect(del.status).toBe(503);
    expect((await one.services.db.query("SELECT user_id FROM pending_erasures WHERE user_id = $1", [u])).length).toBe(1);
    // Meanwhile nothing of the user is served, from any instance.
    expect((await two.call("GET", `/v1/users/${u}/status`, s.keys.agent)).json()).toMatchObject({
      customer_status: "PROSPECT",
      ltv_usd: 0,
    });
    expect((await two.call("GET", `/v1/users/${u}/memory`, s.keys.agent)).json().context).toEqual({});
    const raw = await two.services.redis.client.get(two.services.redis.key("user", u, "status"));
    expect(raw).toBeNull();
    // The daily job (or a breaker closing, or the retry) completes it.
    const { completePendingErasures } = await import("@hitl/core");
    expect(await completePendingErasures({ db: two.services.db, redis: two.services.redis })).toBeGreaterThanOrEqual(1);
    expect((await one.services.db.query("SELECT 1 FROM pending_erasures WHERE user_id = $1", [u])).length).toBe(0);
    const retry = await one.call("DELETE", `/v1/users/${u}`, s.keys.admin);
    expect(retry.status).toBe(200);
  });

  it("erases the id from free-form JSON where a user id goes (user_id, user_ids: numbers and strings), and rewrites nothing else", async () => {
    const a = s.app();
    const u = "4815162342";
    const metadata = {
      user_ids: [4815162342, "4815162342", "48151623420"],
      note: `user ${u} recovered`,
      [u]: { n: 4815162342 },
      batch: [{ user_id: 4815162342, n: 4815162342 }],
    };
    const op = await a.call("POST", "/v1/recovery/operations", s.keys.bot, { operation_type: "manual", metadata });
    const id = op.json().id;
    await a.call("PATCH", `/v1/recovery/operations/${id}`, s.keys.bot, {
      error_details: { failed: `tg:${u}:x`, n: 4815162342, user_id: u },
    });
    expect((await a.call("DELETE", `/v1/users/${u}`, s.keys.admin)).status).toBe(200);
    const [row] = await a.services.db.query<{ metadata: unknown; error_details: unknown }>(
      "SELECT metadata, error_details FROM recovery_operations WHERE id = $1",
      [id],
    );
    // In free text no code can tell a user id from a number: only the user-id fields are the user's.
    expect(row!.metadata).toEqual({
      ...metadata,
      user_ids: ["[erased]", "[erased]", "48151623420"],
      batch: [{ user_id: "[erased]", n: 4815162342 }],
    });
    expect(row!.error_details).toEqual({ failed: `tg:${u}:x`, n: 4815162342, user_id: "[erased]" });
  });

  it("costs two Redis calls whatever the size of the WAL and the keyspace; ids . and .. are refused everywhere", async () => {
    const a = s.app();
    const others = Array.from({ length: 2000 }, (_, i) => ({ user_id: `other${i % 50}`, text: "x", telegram_message_id: 10_000 + i }));
    for (let i = 0; i < others.length; i += 100) await a.call("POST", "/v1/messages", s.keys.bot, { messages: others.slice(i, i + 100) });
    const u = `e${randomUUID().slice(0, 8)}`;
    await a.call("POST", "/v1/messages", s.keys.bot, { user_id: u, text: "mine", telegram_message_id: 1 });
    const { countRoundTrips } = await import("./support/round-trips.js");
    const rt = countRoundTrips(a.services);
    try {
      const r = await a.call("DELETE", `/v1/users/${u}`, s.keys.admin);
      expect(r.status).toBe(200);
      expect(r.json().deleted.wal_messages).toBe(1);
      expect(rt.redis).toBe(2);
    } finally {
      rt.restore();
    }
    for (const bad of [".", ".."]) {
      expect((await a.call("POST", "/v1/messages", s.keys.bot, { user_id: bad, text: "x" })).status).toBe(400);
    }
  });
});

describe("every other write route, its response lost, then retried", () => {
  it("answers the retry as documented and applies nothing twice", async () => {
    const one = s.app();
    const two = s.app();
    const u = `w${randomUUID().slice(0, 8)}`;
    const ok = async (r: Promise<Awaited<ReturnType<App["call"]>>>) => {
      const x = await r;
      expect(x.status, x.text).toBeLessThan(300);
      return x.json();
    };
    // Set-up: an interaction approved and in the outbox, a quarantined message, a claimed WAL message, an operation.
    const interaction = (await ok(one.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: u })))).id;
    const pendingReview = (await ok(one.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: u })))).id;
    await ok(one.call("POST", `/v1/reviews/${interaction}/approve`, s.keys.reviewer, approveBody()));
    let outboxItem: { interaction_id: string; lease_token: string } | undefined;
    while (!outboxItem) {
      const items = (await ok(one.call("POST", "/v1/outbox/claim", s.keys.bot, { max: 50 }))).items as {
        interaction_id: string;
        lease_token: string;
      }[];
      expect(items.length).toBeGreaterThan(0);
      outboxItem = items.find((i) => i.interaction_id === interaction);
    }
    await ok(one.call("PUT", `/v1/users/${u}q/protocol`, s.keys.reviewer, { status: "ACTIVE" }));
    const q1 = (await ok(one.call("POST", "/v1/messages", s.keys.bot, { user_id: `${u}q`, text: "q1", telegram_message_id: 1 }))).items[0]
      .message_id;
    const q2 = (await ok(one.call("POST", "/v1/messages", s.keys.bot, { user_id: `${u}q`, text: "q2", telegram_message_id: 2 }))).items[0]
      .message_id;
    while ((await one.call("POST", "/v1/messages/claim", s.keys.agent, { max: 100 })).json().items.length) {
      /* drain */
    }
    await ok(one.call("PUT", `/v1/users/${u}/protocol`, s.keys.reviewer, { status: "INACTIVE" }));
    await ok(one.call("POST", "/v1/messages", s.keys.bot, { user_id: u, text: "w", telegram_message_id: 3 }));
    const claimed = (await ok(one.call("POST", "/v1/messages/claim", s.keys.agent, { max: 1 }))).items[0];
    const op = (await ok(one.call("POST", "/v1/recovery/operations", s.keys.bot, { operation_type: "manual" }))).id;

    // The store's answer to the route's write is the one lost (`skip`: calls before it pass).
    const cases: [string, "redis" | "postgres", string, string, string, unknown, number, number?][] = [
      ["nickname", "postgres", "PUT", `/v1/users/${u}/nickname`, s.keys.reviewer, { nickname: "N" }, 200],
      ["context", "postgres", "PATCH", `/v1/users/${u}/memory/context`, s.keys.agent, { updates: { name: "W" } }, 200],
      ["operation", "postgres", "PATCH", `/v1/recovery/operations/${op}`, s.keys.bot, { status: "completed", messages_recovered: 3 }, 200],
      ["notes", "postgres", "PATCH", `/v1/interactions/${interaction}/notes`, s.keys.reviewer, { reviewer_notes: "n" }, 200],
      ["review start", "postgres", "POST", `/v1/reviews/${pendingReview}/start`, s.keys.reviewer, {}, 200],
      [
        "ack",
        "redis",
        "POST",
        "/v1/messages/ack",
        s.keys.agent,
        { items: [{ message_id: claimed.message_id, lease_token: claimed.lease_token }] },
        200,
      ],
      ["sent", "postgres", "POST", `/v1/outbox/${interaction}/sent`, s.keys.bot, { lease_token: outboxItem.lease_token }, 200],
      // A repeat of an action that completed: a quarantine message processed or deleted once answers 409 / 404.
      ["quarantine process", "postgres", "POST", `/v1/quarantine/${q1}/process`, s.keys.reviewer, {}, 409, 1],
      ["quarantine delete", "postgres", "DELETE", `/v1/quarantine/${q2}`, s.keys.reviewer, undefined, 404],
    ];
    for (const [name, store, method, path, key, body, retryStatus, skip] of cases) {
      const faults = store === "redis" ? s.stack.bridge.faults : s.stack.proxy.faults;
      // A fresh instance each time: one whose breaker opened after earlier cases would not even send it.
      // Warm: its copy of the stored API keys is loaded before the fault (`skip` counts the route's calls).
      const fresh = s.app();
      await fresh.services.keys.refresh();
      faults.set({ reset: true, skip });
      let first;
      try {
        first = await fresh.call(method, path, key, body);
      } finally {
        faults.clear();
      }
      expect(first.status, `${name}: ${first.text}`).toBe(503);
      const retried = await two.call(method, path, key, body);
      expect(retried.status, `${name} retried: ${retried.text}`).toBe(retryStatus);
    }
    expect(
      (await ok(two.call("POST", `/v1/outbox/${interaction}/sent`, s.keys.bot, { lease_token: outboxItem.lease_token }))).already_sent,
    ).toBe(true);
    expect(
      await one.services.db.query("SELECT count(*)::int AS n FROM memory_messages WHERE user_id = $1 AND role = 'assistant'", [u]),
    ).toEqual([{ n: 1 }]);
    const stats = await ok(two.call("GET", "/v1/messages/stats", s.keys.agent));
    expect(stats.pending).toBeGreaterThanOrEqual(1); // q1 re-queued once
  }, 60_000);
});

describe("review and outbox claims whose response was lost", () => {
  it("answer the same item to a retry with the same Idempotency-Key", async () => {
    const one = s.app();
    const two = s.app();
    const u = `rc${randomUUID().slice(0, 8)}`;
    // Drain both queues, then one pending review and one approved reply of our own.
    while ((await one.call("POST", "/v1/reviews/claim", s.keys.admin, {})).status === 200) {
      /* drain */
    }
    while ((await one.call("POST", "/v1/outbox/claim", s.keys.bot, { max: 50 })).json().items.length) {
      /* drain */
    }
    const a = (await one.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: u, priority_score: 1 }))).json().id;
    const b = (await one.call("POST", "/v1/interactions", s.keys.agent, interactionBody({ user_id: u, priority_score: 0.9 }))).json().id;
    expect((await one.call("POST", `/v1/reviews/${b}/approve`, s.keys.admin, approveBody())).status).toBe(200);
    for (const [path, key, body, idOf] of [
      ["/v1/reviews/claim", s.keys.reviewer, {}, (r: any) => r.id],
      ["/v1/outbox/claim", s.keys.bot, { max: 5 }, (r: any) => r.items.map((i: any) => `${i.interaction_id}/${i.lease_token}`).join()],
    ] as const) {
      const idem = { "idempotency-key": randomUUID() };
      expect(
        (await s.stack.proxy.faults.during({ reset: true }, () => s.app().call("POST", path, key, body, undefined, idem))).status,
      ).toBe(503);
      const first = await two.call("POST", path, key, body, undefined, idem);
      const again = await one.call("POST", path, key, body, undefined, idem);
      expect(first.status, first.text).toBe(200);
      expect(idOf(again.json())).toBe(idOf(first.json()));
      expect(String(idOf(first.json()))).toContain(path.includes("reviews") ? a : b);
    }
  });
});
