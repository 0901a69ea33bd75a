import { describe, expect, it } from "vitest";
import { createServices, historyKey, type Services } from "@hitl/core";
import { createApp } from "../functions/api/app.js";
import { createTestContext, type TestContext } from "./support/stack.js";
import { interactionBody } from "./support/fixtures.js";

/** A second instance of the app on the same stores (a second Lambda instance: its own memory). */
function secondInstance(t: TestContext) {
  const services: Services = createServices(t.config, {});
  const app = createApp(async () => services);
  return {
    services,
    call: (method: string, path: string, opts: { key?: string; body?: unknown } = {}) =>
      Promise.resolve(
        app.request(path, {
          method,
          headers: {
            ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
            ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
          },
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        }),
      ),
  };
}

describe("the cached history window", () => {
  it("equals Postgres's last 50 after 100 users x 10 concurrent appends through two instances (history and interactions)", async () => {
    const t = await createTestContext();
    const two = secondInstance(t);
    const users = Array.from({ length: 100 }, (_, i) => `hw${i}-${Date.now()}`);
    // 20 users at a time (200 requests in flight: the suite shares two cores), every append succeeding.
    for (let b = 0; b < users.length; b += 20) {
      const answers = await Promise.all(
        users.slice(b, b + 20).flatMap((u) =>
          Array.from({ length: 10 }, (_, j) => {
            const via = j % 2 === 0 ? t.call : two.call;
            return j % 3 === 0
              ? via("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: u, user_message: `m${j}` }) })
              : via("POST", `/v1/users/${u}/memory/history`, {
                  key: t.keys.agent,
                  body: { role: j % 2 ? "assistant" : "user", content: `m${j}` },
                });
          }),
        ),
      );
      expect(answers.map((a) => a.status).filter((s) => s !== 201)).toEqual([]);
    }
    for (const u of users) {
      const durable = (
        await t.services.db.query<{ id: string }>("SELECT id FROM memory_messages WHERE user_id = $1 ORDER BY id DESC LIMIT 50", [u])
      )
        .map((r) => Number(r.id))
        .reverse();
      expect(durable).toHaveLength(10);
      const members = await t.services.redis.client.zrange<string[]>(historyKey(t.services.redis, u), 0, -1, { withScores: true });
      const scores = members.filter((_, i) => i % 2 === 1).map(Number);
      // The window may be cached whole (marked complete) or in part; marked complete, it is exact.
      if (scores[0] === -1) {
        expect(scores.slice(1), u).toEqual(durable);
      } else {
        expect(durable, u).toEqual(expect.arrayContaining(scores));
      }
      const view = (await (await two.call("GET", `/v1/users/${u}/memory?recent=50`, { key: t.keys.agent })).json()) as {
        recent_messages: { id: number }[];
      };
      expect(
        view.recent_messages.map((m) => m.id),
        u,
      ).toEqual(durable);
    }
    // Every window was rebuilt by the reads above and is now complete and exact.
    for (const u of users.slice(0, 10)) {
      const members = await t.services.redis.client.zrange<string[]>(historyKey(t.services.redis, u), 0, -1, { withScores: true });
      expect(members.filter((_, i) => i % 2 === 1).map(Number)[0]).toBe(-1);
    }
  }, 120_000);
});

const nest = (depth: number, leaf: unknown = 1): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
};

describe("free-form JSON has bounds", () => {
  it("refuses values nested too deep or too large with 400 on every field, and the worst accepted value breaks no read", async () => {
    const t = await createTestContext();
    const u = `j${Date.now()}`;
    const deep = nest(4110);
    const refused: [string, string, string, unknown][] = [
      ["POST", "/v1/interactions", t.keys.agent, interactionBody({ user_id: u, cta_data: { x: deep } })],
      ["PATCH", `/v1/users/${u}/memory/context`, t.keys.agent, { updates: { x: deep } }],
      ["POST", "/v1/recovery/operations", t.keys.bot, { operation_type: "manual", metadata: { x: nest(33) } }],
      ["POST", "/v1/interactions", t.keys.agent, interactionBody({ user_id: u, cta_data: { big: "x".repeat(17 * 1024) } })],
    ];
    for (const [method, path, key, body] of refused) {
      const r = await t.call(method, path, { key, body });
      expect(r.status, path).toBe(400);
      expect(((await r.json()) as any).error.code).toBe("invalid_request");
    }
    // The worst accepted: 31 levels under the field (32 in all), near the size limits.
    const worst = nest(31, "y".repeat(100));
    const created = await t.call("POST", "/v1/interactions", {
      key: t.keys.agent,
      body: interactionBody({ user_id: u, cta_data: worst as Record<string, unknown> }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as any).id;
    expect((await t.call("PATCH", `/v1/users/${u}/memory/context`, { key: t.keys.agent, body: { updates: worst } })).status).toBe(200);
    const op = await t.call("POST", "/v1/recovery/operations", { key: t.keys.bot, body: { operation_type: "manual", metadata: worst } });
    expect(op.status).toBe(201);
    const opId = ((await op.json()) as any).id;
    expect((await t.call("PATCH", `/v1/recovery/operations/${opId}`, { key: t.keys.bot, body: { error_details: worst } })).status).toBe(
      200,
    );
    expect((await t.call("PATCH", `/v1/recovery/operations/${opId}`, { key: t.keys.bot, body: { error_details: nest(33) } })).status).toBe(
      400,
    );
    for (const [path, key] of [
      ["/v1/reviews?limit=500", t.keys.reviewer],
      [`/v1/interactions/${id}`, t.keys.reviewer],
      [`/v1/users/${u}/memory`, t.keys.agent],
      ["/v1/recovery/operations", t.keys.bot],
      ["/v1/recovery/stats", t.keys.bot],
      ["/v1/memory/stats", t.keys.admin],
    ] as const) {
      expect((await t.call("GET", path, { key })).status, path).toBe(200);
    }
  });
});

describe("the HTTP edge", () => {
  it("checks the key before the body: 401, not 413 or 415, for an unauthenticated request", async () => {
    const t = await createTestContext({ MAX_BODY_BYTES: "2048" });
    expect((await t.call("POST", "/v1/messages", { body: "x".repeat(5000), headers: { "content-type": "text/plain" } })).status).toBe(401);
    expect((await t.call("POST", "/v1/messages", { body: { user_id: "a", text: "x".repeat(5000) } })).status).toBe(401);
    const big = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "a", text: "x".repeat(5000) } });
    expect(big.status).toBe(413);
    expect(big.headers.get("connection")).toBe("close");
  });

  it("treats an empty chunked body as {} and refuses lone surrogates with 400", async () => {
    const t = await createTestContext();
    const empty = new ReadableStream({
      start(c) {
        c.close();
      },
    });
    const r = await t.app.request("/v1/messages/claim", {
      method: "POST",
      headers: { authorization: `Bearer ${t.keys.agent}` },
      body: empty,
      duplex: "half",
    } as RequestInit);
    expect(r.status).toBe(200);
    const lone = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: '{"user_id":"s","text":"a\\ud800b"}' });
    expect(lone.status).toBe(400);
    const pair = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: '{"user_id":"s","text":"a\\ud83d\\ude00b \\\\ud800"}' });
    expect(pair.status).toBe(202);
  });

  it("answers oversized headers with 431 in the error shape (npm start's server)", async () => {
    const { serve } = await import("@hono/node-server");
    const { answerClientError } = await import("../functions/api/http/client-error.js");
    const t = await createTestContext();
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    server.on("clientError", answerClientError);
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as { port: number }).port;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { headers: { "x-big": "y".repeat(20_000) } });
      expect(res.status).toBe(431);
      expect(await res.json()).toEqual({ error: { code: "headers_too_large", message: "request headers exceed 16 KB" } });
    } finally {
      server.close();
    }
  });
});

describe("bodies over a real connection (npm start's server)", () => {
  // app.request() builds Requests without Content-Length; over HTTP a body of declared length takes
  // the path that reads it straight from the connection, a chunked one the streamed size check.
  it("declared length: 202, 413 over the limit before reading, 415 for another type, 400 for a bad header; chunked: 413 once over the limit", async () => {
    const { serve } = await import("@hono/node-server");
    const t = await createTestContext({ MAX_BODY_BYTES: "2048" });
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/messages`;
    const headers = { authorization: `Bearer ${t.keys.bot}`, "content-type": "application/json" };
    const post = (body: BodyInit, extra: Record<string, string> = {}) =>
      fetch(url, { method: "POST", headers: { ...headers, ...extra }, body, duplex: "half" } as RequestInit);
    try {
      const ok = await post(JSON.stringify({ user_id: "conn", text: "over a real connection" }));
      expect(ok.status).toBe(202);
      expect(ok.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(((await ok.json()) as { items: { status: string }[] }).items[0]!.status).toBe("queued");
      const big = await post(JSON.stringify({ user_id: "conn", text: "x".repeat(5000) }));
      expect(big.status).toBe(413);
      expect(((await big.json()) as { error: { code: string } }).error.code).toBe("payload_too_large");
      expect((await post("a=1", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
      const badKey = await post(JSON.stringify({ user_id: "conn", text: "x" }), { "idempotency-key": "no spaces allowed" });
      expect(badKey.status).toBe(400);
      expect(((await badKey.json()) as { error: { details: { in: string }[] } }).error.details[0]!.in).toBe("header");
      const chunks = new ReadableStream({
        start(c) {
          for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode(" ".repeat(1000)));
          c.enqueue(new TextEncoder().encode("{}"));
          c.close();
        },
      });
      expect((await post(chunks)).status).toBe(413);
      const small = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(JSON.stringify({ user_id: "conn", text: "chunked" })));
          c.close();
        },
      });
      expect((await post(small)).status).toBe(202);
      expect((await t.services.wal.stats()).pending).toBeGreaterThanOrEqual(2);
      // A method whose body is never read is still held to the limit by its declared length.
      const del = await fetch(url.replace("/v1/messages", "/v1/quarantine/00000000-0000-4000-8000-000000000000"), {
        method: "DELETE",
        headers: { authorization: `Bearer ${t.keys.admin}` },
        body: "x".repeat(5000),
      });
      expect(del.status).toBe(413);
    } finally {
      server.close();
    }
  });
});

describe("input that cannot be stored, and values that could overflow", () => {
  it("refuses an ack id that is not a WAL id and dates outside 1970..9999 with 400; counters take large values", async () => {
    const t = await createTestContext();
    const q = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "ov", text: "x" } });
    const id = ((await q.json()) as any).items[0].message_id;
    expect(
      (await t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items: [{ message_id: `${id}:acked`, lease_token: "t" }] } }))
        .status,
    ).toBe(400);
    expect(
      (await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "ov", text: "x", telegram_date: "0000-01-01T00:00:00Z" } }))
        .status,
    ).toBe(400);
    for (let i = 0; i < 3; i++) {
      const r = await t.call("PUT", "/v1/recovery/cursors/ov", {
        key: t.keys.bot,
        body: { last_processed_telegram_id: i, last_processed_telegram_date: new Date().toISOString(), messages_recovered: 1_000_000 },
      });
      expect(r.status).toBe(200);
    }
    await t.services.db.query("UPDATE message_processing_cursors SET total_recovered_messages = 3000000000 WHERE user_id = 'ov'");
    const stats = await t.call("GET", "/v1/recovery/stats", { key: t.keys.bot });
    expect(stats.status).toBe(200);
    expect(((await stats.json()) as any).total_recovered_messages).toBe(3_000_000_000);
    const ltv = await t.call("PUT", "/v1/users/ov/status", {
      key: t.keys.reviewer,
      body: { customer_status: "CUSTOMER", ltv_amount: 10_000 },
    });
    expect(ltv.status).toBe(200);
    await t.services.db.query("UPDATE user_current_status SET ltv_usd = 9999999999 WHERE user_id = 'ov'");
    expect(
      (await t.call("PUT", "/v1/users/ov/status", { key: t.keys.reviewer, body: { customer_status: "CUSTOMER", ltv_amount: 10_000 } }))
        .status,
    ).toBe(200);
  });
});

describe("honest answers under concurrency", () => {
  it("a concurrent repeat of `sent` with the same lease answers already_sent, never 409", async () => {
    const t = await createTestContext();
    const created = await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody({ user_id: "hc" }) });
    const id = ((await created.json()) as any).id;
    await t.call("POST", `/v1/reviews/${id}/approve`, { key: t.keys.reviewer, body: { final_bubbles: ["ok"], quality_score: 4 } });
    const item = ((await (await t.call("POST", "/v1/outbox/claim", { key: t.keys.bot, body: {} })).json()) as any).items[0];
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        t.call("POST", `/v1/outbox/${id}/sent`, { key: t.keys.bot, body: { lease_token: item.lease_token } }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    const bodies = await Promise.all(answers.map((a) => a.json() as Promise<any>));
    expect(bodies.filter((b) => !b.already_sent)).toHaveLength(1);
  });

  it("concurrent processing of one quarantined message: one does it, the others answer 409", async () => {
    const t = await createTestContext();
    await t.call("PUT", "/v1/users/qc/protocol", { key: t.keys.reviewer, body: { status: "ACTIVE" } });
    const q = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "qc", text: "hold", telegram_message_id: 77 } });
    const id = ((await q.json()) as any).items[0].message_id;
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => t.call("POST", `/v1/quarantine/${id}/process`, { key: t.keys.reviewer, body: {} })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array(9).fill(409)]);
    const stats = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    expect(stats.pending).toBe(1);
  });
});

describe("one decision per race", () => {
  it("processing and deleting one quarantined message on two instances: exactly one wins, and a deleted message never reaches the WAL (40 runs)", async () => {
    const t = await createTestContext();
    const two = secondInstance(t);
    const wins = { process: 0, delete: 0 };
    for (let run = 0; run < 40; run++) {
      const u = `pd${run}`;
      await t.call("PUT", `/v1/users/${u}/protocol`, { key: t.keys.reviewer, body: { status: "ACTIVE" } });
      const q = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: u, text: "hold", telegram_message_id: run } });
      const id = ((await q.json()) as any).items[0].message_id;
      const [proc, del] = await Promise.all([
        t.call("POST", `/v1/quarantine/${id}/process`, { key: t.keys.reviewer, body: {} }),
        new Promise((r) => setTimeout(r, run % 4)).then(() => two.call("DELETE", `/v1/quarantine/${id}`, { key: t.keys.reviewer })),
      ]);
      const queued = await t.services.redis.client.hexists(t.services.redis.keys.wal.messagesOf(id), id);
      const n = async (sql: string, p: unknown[]) => Number((await t.services.db.query<{ n: number }>(sql, p))[0]!.n);
      const passes = await n("SELECT count(*)::int AS n FROM protocol_audit_log WHERE user_id = $1 AND action = 'ONE_TIME_PASS'", [u]);
      const rows = await n("SELECT count(*)::int AS n FROM quarantine_messages WHERE message_id = $1", [id]);
      if (proc.status === 200) {
        wins.process++;
        expect([del.status, queued, passes, rows], `run ${run}`).toEqual([409, 1, 1, 1]);
      } else {
        wins.delete++;
        expect([proc.status, del.status, queued, passes, rows], `run ${run}`).toEqual([404, 200, 0, 0, 0]);
      }
    }
    expect(wins.process + wins.delete).toBe(40);
  }, 120_000);
});

describe("no 500 from a race", () => {
  it("erasing a user while its quarantined message is processed with deactivate_protocol never answers 500", async () => {
    const t = await createTestContext();
    const statuses: number[] = [];
    for (let run = 0; run < 15; run++) {
      const u = `race${run}`;
      await t.call("PUT", `/v1/users/${u}/protocol`, { key: t.keys.reviewer, body: { status: "ACTIVE" } });
      const q = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: u, text: "x", telegram_message_id: run } });
      const id = ((await q.json()) as any).items[0].message_id;
      const [del, proc] = await Promise.all([
        t.call("DELETE", `/v1/users/${u}`, { key: t.keys.admin }),
        t.call("POST", `/v1/quarantine/${id}/process`, { key: t.keys.reviewer, body: { deactivate_protocol: true } }),
      ]);
      statuses.push(del.status, proc.status);
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  }, 60_000);

  it("20 concurrent context PATCHes over 100 KB all answer 200 (none 409s after its merge went in)", async () => {
    const t = await createTestContext();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.call("PATCH", "/v1/users/pc/memory/context", {
          key: t.keys.agent,
          body: { updates: { name: "P", [`k${i}`]: "z".repeat(6000), conversation_summaries: [`s${i}`] } },
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
  });
});

describe("dedupe spans queue and quarantine", () => {
  it("the same user + telegram id is a duplicate wherever the first went, across protocol changes, both ways", async () => {
    const t = await createTestContext();
    const send = async (tg: number) =>
      (
        (await (
          await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "dq", text: "x", telegram_message_id: tg } })
        ).json()) as any
      ).items[0];
    const protocol = (status: string) => t.call("PUT", "/v1/users/dq/protocol", { key: t.keys.reviewer, body: { status } });
    await protocol("INACTIVE");
    const queued = await send(1);
    expect(queued.status).toBe("queued");
    await protocol("ACTIVE");
    expect(await send(1)).toEqual({ message_id: queued.message_id, status: "duplicate" });
    const quarantined = await send(2);
    expect(quarantined.status).toBe("quarantined");
    await protocol("INACTIVE");
    expect(await send(2)).toEqual({ message_id: quarantined.message_id, status: "duplicate" });
  });

  it("a batch without telegram ids, retried with its Idempotency-Key, is not queued or quarantined twice", async () => {
    const t = await createTestContext();
    await t.call("PUT", "/v1/users/nq/protocol", { key: t.keys.reviewer, body: { status: "INACTIVE" } });
    await t.call("PUT", "/v1/users/nq2/protocol", { key: t.keys.reviewer, body: { status: "ACTIVE" } });
    const batch = {
      messages: [
        { user_id: "nq", text: "a" },
        { user_id: "nq2", text: "b" },
        { user_id: "nq", text: "c" },
      ],
    };
    const key = "batch-1";
    const first = (
      (await (await t.call("POST", "/v1/messages", { key: t.keys.bot, body: batch, headers: { "idempotency-key": key } })).json()) as any
    ).items;
    expect(first.map((i: any) => i.status)).toEqual(["queued", "quarantined", "queued"]);
    const again = (
      (await (await t.call("POST", "/v1/messages", { key: t.keys.bot, body: batch, headers: { "idempotency-key": key } })).json()) as any
    ).items;
    expect(again).toEqual(first.map((i: any) => ({ message_id: i.message_id, status: "duplicate" })));
    const stats = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    expect(stats.pending).toBe(2);
    const q = await t.services.db.query<{ n: number }>("SELECT count(*)::int AS n FROM quarantine_messages WHERE user_id = 'nq2'");
    expect(q[0]!.n).toBe(1);
  });
});

describe("the contract", () => {
  it("declares Idempotency-Key on every route that honours it", async () => {
    const t = await createTestContext();
    const doc = (await (await t.call("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
    };
    const declared = Object.entries(doc.paths)
      .flatMap(([p, ops]) =>
        Object.entries(ops)
          .filter(([, o]) => (o.parameters ?? []).some((x) => x.name === "idempotency-key" && x.in === "header"))
          .map(([m]) => `${m.toUpperCase()} ${p}`),
      )
      .sort();
    expect(declared).toEqual([
      "POST /v1/exports",
      "POST /v1/interactions",
      "POST /v1/interactions/{id}/coherence",
      "POST /v1/messages",
      "POST /v1/messages/claim",
      "POST /v1/outbox/claim",
      "POST /v1/recovery/operations",
      "POST /v1/reviews/claim",
      "POST /v1/users/{id}/commitments",
      "POST /v1/users/{id}/memory/history",
      "POST /v1/users/{id}/prompt-rotations",
      "PUT /v1/recovery/cursors/{user_id}",
      "PUT /v1/users/{id}/protocol",
      "PUT /v1/users/{id}/status",
    ]);
  });
});
