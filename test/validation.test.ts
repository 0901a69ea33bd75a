import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

let t: TestContext;
let pendingId: string;
beforeAll(async () => {
  t = await createTestContext();
  pendingId = ((await (await t.call("POST", "/v1/interactions", { key: t.keys.agent, body: interactionBody() })).json()) as { id: string })
    .id;
});

type Case = [name: string, method: string, path: () => string, key: () => string, body: unknown, badPath: string];
const msg = (over: Record<string, unknown>) => ({ user_id: "u", text: "hi", ...over });

/** Every validation limit of API.md on these routes: 400 invalid_request with the failing path. */
const cases: Case[] = [
  ["message text empty", "POST", () => "/v1/messages", () => t.keys.bot, msg({ text: "" }), "text"],
  ["message text over 4000", "POST", () => "/v1/messages", () => t.keys.bot, msg({ text: "x".repeat(4001) }), "text"],
  ["message text with a NUL character", "POST", () => "/v1/messages", () => t.keys.bot, msg({ text: "a\u0000b" }), "text"],
  ["user id with a space", "POST", () => "/v1/messages", () => t.keys.bot, msg({ user_id: "a b" }), "user_id"],
  ["user id over 64", "POST", () => "/v1/messages", () => t.keys.bot, msg({ user_id: "u".repeat(65) }), "user_id"],
  ["received_at not ISO", "POST", () => "/v1/messages", () => t.keys.bot, msg({ received_at: "yesterday" }), "received_at"],
  ["batch of 0", "POST", () => "/v1/messages", () => t.keys.bot, { messages: [] }, "messages"],
  ["batch of 101", "POST", () => "/v1/messages", () => t.keys.bot, { messages: Array.from({ length: 101 }, () => msg({})) }, "messages"],
  ["claim max 0", "POST", () => "/v1/messages/claim", () => t.keys.agent, { max: 0 }, "max"],
  ["claim max 101", "POST", () => "/v1/messages/claim", () => t.keys.agent, { max: 101 }, "max"],
  ["claim lease 4 s", "POST", () => "/v1/messages/claim", () => t.keys.agent, { lease_seconds: 4 }, "lease_seconds"],
  ["claim lease 901 s", "POST", () => "/v1/messages/claim", () => t.keys.agent, { lease_seconds: 901 }, "lease_seconds"],
  ["ack without items", "POST", () => "/v1/messages/ack", () => t.keys.agent, { items: [] }, "items"],
  [
    "risk over 1",
    "POST",
    () => "/v1/interactions",
    () => t.keys.agent,
    interactionBody({ constitution_risk_score: 1.5 }),
    "constitution_risk_score",
  ],
  [
    "unknown recommendation",
    "POST",
    () => "/v1/interactions",
    () => t.keys.agent,
    interactionBody({ constitution_recommendation: "maybe" }),
    "constitution_recommendation",
  ],
  [
    "missing user_message",
    "POST",
    () => "/v1/interactions",
    () => t.keys.agent,
    { ...interactionBody(), user_message: undefined },
    "user_message",
  ],
  ["unknown field", "POST", () => "/v1/interactions", () => t.keys.agent, interactionBody({ surprise: 1 }), ""],
  [
    "no bubbles",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ final_bubbles: [] }),
    "final_bubbles",
  ],
  [
    "11 bubbles",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ final_bubbles: Array(11).fill("b") }),
    "final_bubbles",
  ],
  [
    "bubble over 500",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ final_bubbles: ["x".repeat(501)] }),
    "final_bubbles.0",
  ],
  [
    "empty bubble",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ final_bubbles: [""] }),
    "final_bubbles.0",
  ],
  [
    "21 edit tags",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ edit_tags: Array(21).fill("TONE_CASUAL") }),
    "edit_tags",
  ],
  [
    "quality 0",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ quality_score: 0 }),
    "quality_score",
  ],
  [
    "quality 6",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ quality_score: 6 }),
    "quality_score",
  ],
  [
    "notes over 1000",
    "POST",
    () => `/v1/reviews/${pendingId}/approve`,
    () => t.keys.reviewer,
    approveBody({ reviewer_notes: "n".repeat(1001) }),
    "reviewer_notes",
  ],
  ["review lease 29 s", "POST", () => "/v1/reviews/claim", () => t.keys.reviewer, { lease_seconds: 29 }, "lease_seconds"],
  ["review lease 3601 s", "POST", () => "/v1/reviews/claim", () => t.keys.reviewer, { lease_seconds: 3601 }, "lease_seconds"],
  ["outbox max 51", "POST", () => "/v1/outbox/claim", () => t.keys.bot, { max: 51 }, "max"],
  ["outbox lease 601 s", "POST", () => "/v1/outbox/claim", () => t.keys.bot, { lease_seconds: 601 }, "lease_seconds"],
  ["sent without token", "POST", () => `/v1/outbox/${pendingId}/sent`, () => t.keys.bot, {}, "lease_token"],
  ["reviews limit 0", "GET", () => "/v1/reviews?limit=0", () => t.keys.reviewer, undefined, "limit"],
];

describe("validation limits", () => {
  it.each(cases)("%s -> 400 invalid_request", async (_name, method, path, key, body, badPath) => {
    const res = await t.call(method, path(), { key: key(), body });
    expect(res.status).toBe(400);
    const err = ((await res.json()) as { error: { code: string; message: string; details: { path: string }[] } }).error;
    expect(err.code).toBe("invalid_request");
    expect(err.details.map((d) => d.path)).toContain(badPath);
  });

  it("answers malformed JSON with 400, not 500", async () => {
    const res = await t.call("POST", "/v1/messages", {
      key: t.keys.bot,
      body: "{not json",
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe("invalid_request");
  });

  it("writes nothing for a batch with one bad message", async () => {
    const before = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    const res = await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { messages: [msg({}), msg({ text: "" })] } });
    expect(res.status).toBe(400);
    const after = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.agent })).json()) as any;
    expect(after.pending).toBe(before.pending);
  });

  it("checks scopes on every new route", async () => {
    const denied: [string, string, string][] = [
      ["POST", "/v1/messages", t.keys.agent],
      ["POST", "/v1/messages/claim", t.keys.bot],
      ["POST", "/v1/messages/ack", t.keys.reviewer],
      ["GET", "/v1/messages/stats", t.keys.bot],
      ["POST", "/v1/interactions", t.keys.reviewer],
      ["GET", "/v1/reviews", t.keys.agent],
      ["POST", "/v1/reviews/claim", t.keys.bot],
      ["POST", "/v1/outbox/claim", t.keys.agent],
      ["GET", "/v1/dashboard/metrics", t.keys.agent],
      ["GET", "/v1/edit-taxonomy", t.keys.bot],
      ["PATCH", `/v1/interactions/${pendingId}/notes`, t.keys.agent],
    ];
    for (const [method, path, key] of denied) {
      const res = await t.call(method, path, { key, body: method === "GET" ? undefined : {} });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await t.call("GET", "/v1/messages/stats", { key: t.keys.admin })).status).toBe(200);
  });
});

describe("cursors", () => {
  it("answer 400, never 500, for a forged cursor on every paged list", async () => {
    const forged = Buffer.from(JSON.stringify(["x", "y", "z"])).toString("base64url");
    const forged2 = Buffer.from(JSON.stringify(["not a time", "1"])).toString("base64url");
    for (const [path, key] of [
      [`/v1/reviews?cursor=${forged}`, t.keys.reviewer],
      [`/v1/quarantine?cursor=${forged2}`, t.keys.reviewer],
      [`/v1/protocol/audit?cursor=${forged2}`, t.keys.reviewer],
      [`/v1/recovery/cursors?cursor=${forged2}`, t.keys.bot],
      [`/v1/recovery/operations?cursor=${forged2}`, t.keys.bot],
      ["/v1/reviews?cursor=%%%", t.keys.reviewer],
    ] as const) {
      const res = await t.call("GET", path, { key });
      expect(res.status, path).toBe(400);
    }
  });
});
