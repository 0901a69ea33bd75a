import { randomUUID } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestContext, type TestContext } from "./support/stack.js";
import { countRoundTrips } from "./support/round-trips.js";
import { approveBody, interactionBody } from "./support/fixtures.js";

/**
 * A round-trip budget on every route of docs/openapi.json, cold and warm, counted by the spy over
 * the real clients (one Upstash REST request, one Neon HTTP query or transaction). Cold: the first
 * call for a user (or a resource) whose caches are empty. Warm: the same call again for that user
 * with a fresh resource, caches filled. A budget is the most a route may make; a route added
 * without one fails the first test. A request that writes (but ingest, claim and ack) carries its audit
 * row inside its first write's transaction, no round trip of its own (functions/api/http/audit.ts);
 * a mutating request that writes nothing to Postgres pays one INSERT for it (previewCleanup). Production pays each round trip in milliseconds
 * (`npm run bench -- latency` prints them under injected latency).
 */

type Budget = readonly [redis: number, postgres: number];
type Call = () => Promise<Response>;
interface Scenario {
  cold: Budget;
  warm: Budget;
  /** Sets up what the call needs for `user` (not counted) and returns the counted call. */
  prepare(user: string): Promise<Call>;
}

let t: TestContext;
const json = async (r: Response) => (await r.json()) as any;
let seq = 0;

async function queued(user: string, extra: Record<string, unknown> = {}) {
  const res = await t.call("POST", "/v1/messages", {
    key: t.keys.bot,
    body: { user_id: user, chat_id: 77, text: "hello there", telegram_message_id: 1000 + ++seq, ...extra },
  });
  expect(res.status).toBe(202);
  return (await json(res)).items[0].message_id as string;
}
async function claimed(user: string) {
  await queued(user);
  const items = (await json(await t.call("POST", "/v1/messages/claim", { key: t.keys.agent, body: { max: 1 } }))).items;
  expect(items).toHaveLength(1);
  return items[0];
}
async function interaction(user: string) {
  const msg = await claimed(user);
  const res = await t.call("POST", "/v1/interactions", {
    key: t.keys.agent,
    body: interactionBody({ user_id: user, message_id: msg.message_id, chat_id: msg.chat_id }),
  });
  expect(res.status).toBeLessThan(300);
  await t.call("POST", "/v1/messages/ack", { key: t.keys.agent, body: { items: [msg] } });
  return (await json(res)).id as string;
}
async function approved(user: string) {
  const id = await interaction(user);
  expect((await t.call("POST", `/v1/reviews/${id}/approve`, { key: t.keys.reviewer, body: approveBody() })).status).toBe(200);
  return id;
}
async function quarantined(user: string) {
  await t.call("PUT", `/v1/users/${user}/protocol`, { key: t.keys.reviewer, body: { status: "ACTIVE", reason: "test" } });
  const res = await t.call("POST", "/v1/messages", {
    key: t.keys.bot,
    body: { user_id: user, chat_id: 77, text: "while silenced", telegram_message_id: 5000 + ++seq },
  });
  const item = (await json(res)).items[0];
  expect(item.status).toBe("quarantined");
  return item.message_id as string;
}
const get =
  (path: string, key: string): Call =>
  () =>
    t.call("GET", path, { key });
const send =
  (method: string, path: string, key: string, body?: unknown, headers?: Record<string, string>): Call =>
  () =>
    t.call(method, path, { key, body, headers });

/** Every operation of the API, by operationId. */
const SCENARIOS: Record<string, Scenario> = {
  getLiveness: { cold: [0, 0], warm: [0, 0], prepare: async () => get("/health", "") },
  getHealth: { cold: [1, 1], warm: [1, 1], prepare: async () => get("/v1/health", t.keys.admin) },
  getMetrics: { cold: [2, 2], warm: [2, 2], prepare: async () => get("/metrics", t.keys.admin) },
  listBackups: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/backups", t.keys.admin) },
  getStatusPage: { cold: [3, 4], warm: [3, 4], prepare: async () => get("/status", t.keys.admin) },
  getOpenApi: { cold: [0, 0], warm: [0, 0], prepare: async () => get("/openapi.json", "") },

  ingestMessages: {
    cold: [2, 1],
    warm: [1, 0],
    prepare: async (u) =>
      send("POST", "/v1/messages", t.keys.bot, { user_id: u, chat_id: 1, text: "hi", telegram_message_id: 9000 + ++seq }),
  },
  claimMessages: {
    cold: [1, 0],
    warm: [1, 0],
    prepare: async (u) => {
      await queued(u);
      return send("POST", "/v1/messages/claim", t.keys.agent, { max: 1 });
    },
  },
  ackMessages: {
    cold: [1, 0],
    warm: [1, 0],
    prepare: async (u) => {
      const m = await claimed(u);
      return send("POST", "/v1/messages/ack", t.keys.agent, { items: [m] });
    },
  },
  getMessageStats: { cold: [1, 0], warm: [1, 0], prepare: async () => get("/v1/messages/stats", t.keys.agent) },

  createInteraction: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) => {
      const m = await claimed(u);
      return send("POST", "/v1/interactions", t.keys.agent, interactionBody({ user_id: u, message_id: m.message_id, chat_id: m.chat_id }));
    },
  },
  getInteraction: { cold: [0, 1], warm: [0, 1], prepare: async (u) => get(`/v1/interactions/${await interaction(u)}`, t.keys.reviewer) },
  setInteractionNotes: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("PATCH", `/v1/interactions/${await interaction(u)}/notes`, t.keys.reviewer, { reviewer_notes: "ok" }),
  },

  listReviews: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/reviews?limit=5", t.keys.reviewer) },
  claimReview: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      await interaction(u);
      return send("POST", "/v1/reviews/claim", t.keys.reviewer);
    },
  },
  startReview: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("POST", `/v1/reviews/${await interaction(u)}/start`, t.keys.reviewer),
  },
  approveReview: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("POST", `/v1/reviews/${await interaction(u)}/approve`, t.keys.reviewer, approveBody()),
  },
  rejectReview: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("POST", `/v1/reviews/${await interaction(u)}/reject`, t.keys.reviewer, { reviewer_notes: "no" }),
  },
  cancelReview: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      const id = await interaction(u);
      await t.call("POST", `/v1/reviews/${id}/start`, { key: t.keys.reviewer });
      return send("POST", `/v1/reviews/${id}/cancel`, t.keys.reviewer);
    },
  },

  claimOutbox: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      await approved(u);
      return send("POST", "/v1/outbox/claim", t.keys.bot, { max: 1 });
    },
  },
  markOutboxSent: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) => {
      const id = await approved(u);
      const items = (await json(await t.call("POST", "/v1/outbox/claim", { key: t.keys.bot, body: { max: 50 } }))).items;
      const mine = items.find((i: any) => i.interaction_id === id);
      return send("POST", `/v1/outbox/${id}/sent`, t.keys.bot, { lease_token: mine.lease_token });
    },
  },

  listEditTags: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/edit-taxonomy", t.keys.reviewer) },
  getDashboardMetrics: { cold: [3, 1], warm: [2, 0], prepare: async () => get("/v1/dashboard/metrics", t.keys.reviewer) },

  getMemory: { cold: [2, 1], warm: [1, 0], prepare: async (u) => get(`/v1/users/${u}/memory`, t.keys.agent) },
  patchMemoryContext: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) => send("PATCH", `/v1/users/${u}/memory/context`, t.keys.agent, { updates: { k: ++seq } }),
  },
  appendMemoryHistory: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) =>
      send(
        "POST",
        `/v1/users/${u}/memory/history`,
        t.keys.agent,
        { role: "user", content: `m${++seq}` },
        { "idempotency-key": randomUUID() },
      ),
  },
  getMemoryStats: { cold: [0, 1], warm: [0, 1], prepare: async (u) => get(`/v1/users/${u}/memory/stats`, t.keys.agent) },
  getAllMemoryStats: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/memory/stats", t.keys.admin) },

  getUserStatus: { cold: [2, 1], warm: [1, 0], prepare: async (u) => get(`/v1/users/${u}/status`, t.keys.agent) },
  setUserStatus: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) => send("PUT", `/v1/users/${u}/status`, t.keys.reviewer, { customer_status: "LEAD_QUALIFIED" }),
  },
  setUserNickname: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) => send("PUT", `/v1/users/${u}/nickname`, t.keys.reviewer, { nickname: `n${++seq}` }),
  },
  getProtocol: { cold: [2, 1], warm: [1, 0], prepare: async (u) => get(`/v1/users/${u}/protocol`, t.keys.agent) },
  setProtocol: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) => send("PUT", `/v1/users/${u}/protocol`, t.keys.reviewer, { status: seq++ % 2 ? "ACTIVE" : "INACTIVE" }),
  },
  eraseUser: {
    cold: [2, 2],
    warm: [2, 2],
    prepare: async (u) => {
      await interaction(u);
      return send("DELETE", `/v1/users/${u}`, t.keys.admin);
    },
  },

  listQuarantine: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/quarantine?limit=5", t.keys.reviewer) },
  processQuarantined: {
    cold: [1, 2],
    warm: [1, 2],
    prepare: async (u) => send("POST", `/v1/quarantine/${await quarantined(u)}/process`, t.keys.reviewer, {}),
  },
  deleteQuarantined: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("DELETE", `/v1/quarantine/${await quarantined(u)}`, t.keys.reviewer),
  },
  batchQuarantine: {
    cold: [1, 2],
    warm: [1, 2],
    prepare: async (u) => send("POST", "/v1/quarantine/batch", t.keys.reviewer, { message_ids: [await quarantined(u)], action: "process" }),
  },
  getProtocolStats: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/protocol/stats", t.keys.reviewer) },
  listProtocolAudit: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/protocol/audit?limit=5", t.keys.reviewer) },

  listCursors: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/recovery/cursors?limit=5", t.keys.bot) },
  getCursor: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      await putCursor(u);
      return get(`/v1/recovery/cursors/${u}`, t.keys.bot);
    },
  },
  putCursor: { cold: [0, 1], warm: [0, 1], prepare: async (u) => send("PUT", `/v1/recovery/cursors/${u}`, t.keys.bot, cursorBody()) },
  getHighWater: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/recovery/high-water?user_ids=a,b", t.keys.bot) },
  createRecoveryOperation: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async () =>
      send("POST", "/v1/recovery/operations", t.keys.bot, { operation_type: "manual" }, { "idempotency-key": randomUUID() }),
  },
  listRecoveryOperations: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/recovery/operations?limit=5", t.keys.bot) },
  updateRecoveryOperation: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async () => {
      const op = await json(
        await t.call("POST", "/v1/recovery/operations", {
          key: t.keys.bot,
          body: { operation_type: "manual" },
          headers: { "idempotency-key": randomUUID() },
        }),
      );
      return send("PATCH", `/v1/recovery/operations/${op.id}`, t.keys.bot, { status: "completed", users_checked: 1 });
    },
  },
  getRecoveryStats: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/recovery/stats", t.keys.bot) },
  resetMemory: {
    cold: [1, 1],
    warm: [1, 1],
    prepare: async (u) => {
      await interaction(u);
      return send("DELETE", `/v1/users/${u}/memory`, t.keys.admin);
    },
  },
  listMemoryUsers: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/memory/users?limit=5", t.keys.admin) },
  listActiveProtocols: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/protocol/active?limit=5", t.keys.reviewer) },
  listRecoveredMessages: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/recovery/recovered-messages?limit=5", t.keys.bot) },
  getRecoveryStatus: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/recovery/status", t.keys.bot) },
  createApiKey: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async () => send("POST", "/v1/keys", t.keys.admin, { name: `k${++seq}-${randomUUID().slice(0, 6)}`, scopes: ["viewer"] }),
  },
  listApiKeys: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/keys", t.keys.admin) },
  rotateApiKey: { cold: [0, 1], warm: [0, 1], prepare: async () => send("POST", `/v1/keys/${await storedKey()}/rotate`, t.keys.admin, {}) },
  revokeApiKey: { cold: [0, 1], warm: [0, 1], prepare: async () => send("POST", `/v1/keys/${await storedKey()}/revoke`, t.keys.admin, {}) },
  listAudit: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/audit?limit=5", t.keys.admin) },
  recordCtaResponse: {
    cold: [1, 1],
    warm: [0, 1],
    prepare: async (u) =>
      send("POST", `/v1/interactions/${await interaction(u)}/cta-response`, t.keys.agent, { response_type: "INTERESTED" }),
  },
  getUserStatusHistory: { cold: [0, 1], warm: [0, 1], prepare: async (u) => get(`/v1/users/${u}/status/history`, t.keys.reviewer) },
  getCustomerFunnel: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/customers/funnel", t.keys.reviewer) },
  createCommitment: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("POST", `/v1/users/${u}/commitments`, t.keys.agent, commitmentBody()),
  },
  listUserCommitments: { cold: [0, 1], warm: [0, 1], prepare: async (u) => get(`/v1/users/${u}/commitments`, t.keys.agent) },
  checkCommitmentConflicts: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) =>
      get(
        `/v1/users/${u}/commitments/conflicts?start=${new Date().toISOString()}&end=${new Date(Date.now() + 86_400_000).toISOString()}`,
        t.keys.agent,
      ),
  },
  listActiveCommitments: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/commitments/active?limit=5", t.keys.agent) },
  updateCommitmentStatus: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      const made = await json(await t.call("POST", `/v1/users/${u}/commitments`, { key: t.keys.agent, body: commitmentBody() }));
      return send("PATCH", `/v1/commitments/${made.id}`, t.keys.agent, { status: "fulfilled" });
    },
  },
  recordCoherenceAnalysis: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("POST", `/v1/interactions/${await interaction(u)}/coherence`, t.keys.agent, { analysis_status: "OK" }),
  },
  listCoherenceAnalyses: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => get(`/v1/interactions/${await interaction(u)}/coherence`, t.keys.reviewer),
  },
  recordPromptRotation: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => send("POST", `/v1/users/${u}/prompt-rotations`, t.keys.agent, { new_prompt_id: `p${++seq}` }),
  },
  listPromptRotations: { cold: [0, 1], warm: [0, 1], prepare: async (u) => get(`/v1/users/${u}/prompt-rotations`, t.keys.agent) },
  browseInteractions: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      await interaction(u);
      return get(`/v1/interactions?user_id=${u}&limit=5`, t.keys.reviewer);
    },
  },
  getVolumeReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/volume", t.keys.reviewer) },
  getReviewsReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/reviews", t.keys.reviewer) },
  getQualityReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/quality", t.keys.reviewer) },
  getCtaReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/cta", t.keys.reviewer) },
  getFunnelReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/funnel", t.keys.reviewer) },
  getCostReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/cost", t.keys.reviewer) },
  getEditTagsReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/edit-tags", t.keys.reviewer) },
  getUsersReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/users", t.keys.reviewer) },
  getReviewersReport: { cold: [2, 1], warm: [1, 0], prepare: async () => get("/v1/analytics/reviewers", t.keys.reviewer) },
  previewCleanup: {
    cold: [0, 2],
    warm: [0, 2],
    prepare: async (u) => send("POST", "/v1/admin/cleanup/preview", t.keys.admin, { user_ids: [u] }),
  },
  executeCleanup: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      await interaction(u);
      const preview = await json(await t.call("POST", "/v1/admin/cleanup/preview", { key: t.keys.admin, body: { user_ids: [u] } }));
      return send("POST", "/v1/admin/cleanup", t.keys.admin, { token: preview.token });
    },
  },
  // One sampling pipeline, then a SCAN for acked WAL markers bounded at 10 calls (analytics/integrity.ts).
  getIntegrityReport: { cold: [11, 2], warm: [11, 2], prepare: async () => get("/v1/admin/integrity", t.keys.admin) },
  refreshAnalyticsRollups: {
    cold: [0, 3],
    warm: [0, 3],
    prepare: async () => send("POST", "/v1/admin/analytics/refresh", t.keys.admin, {}),
  },
  // Six reports: one MGET; the misses computed (one statement each) and written back in one pipeline.
  getAnalyticsPage: { cold: [2, 6], warm: [1, 0], prepare: async () => get("/analytics", t.keys.reviewer) },
  // The export row (its Idempotency-Key claimed in the same statement) and the audit row; the job's
  // start is a Lambda invocation (none here: no export function in this context), not a store round trip.
  createExport: {
    cold: [0, 2],
    warm: [0, 2],
    prepare: async (u) => send("POST", "/v1/exports", t.keys.admin, { dataset: "interactions", format: "csv", filters: { user_id: u } }),
  },
  // One read; a done export's URL is signed locally (no request).
  getExport: {
    cold: [0, 1],
    warm: [0, 1],
    prepare: async (u) => {
      const made = await json(
        await t.call("POST", "/v1/exports", {
          key: t.keys.admin,
          body: { dataset: "interactions", format: "ndjson", filters: { user_id: u } },
        }),
      );
      return get(`/v1/exports/${made.id}`, t.keys.admin);
    },
  },
  listExports: { cold: [0, 1], warm: [0, 1], prepare: async () => get("/v1/exports?limit=5", t.keys.admin) },
};
const commitmentBody = () => ({
  commitment_timestamp: new Date(Date.now() + 3_600_000).toISOString(),
  commitment_text: `call back ${++seq}`,
});
async function storedKey(): Promise<string> {
  const made = await json(
    await t.call("POST", "/v1/keys", { key: t.keys.admin, body: { name: `rk${++seq}-${randomUUID().slice(0, 6)}`, scopes: ["viewer"] } }),
  );
  return made.api_key.id as string;
}
const cursorBody = () => ({ last_processed_telegram_id: ++seq, last_processed_telegram_date: new Date().toISOString() });
const putCursor = (u: string) => t.call("PUT", `/v1/recovery/cursors/${u}`, { key: t.keys.bot, body: cursorBody() });

/** Waits until the instance makes no store call for 25 ms: what the set-up left running is not counted. */
async function quiet(): Promise<void> {
  const rt = countRoundTrips(t.services);
  try {
    for (let i = 0; i < 40; i++) {
      const before = rt.redis + rt.postgres;
      await new Promise((r) => setTimeout(r, 25));
      if (rt.redis + rt.postgres === before) return;
    }
  } finally {
    rt.restore();
  }
}

beforeAll(async () => {
  t = await createTestContext();
  // The instance's first request (any route) also settles what an instance does once, and the
  // first key check loads the instance's copy of the stored keys (then reloaded in the background).
  await t.call("GET", "/health");
  await t.call("GET", "/v1/messages/stats", { key: t.keys.agent });
});

describe("round-trip budgets", () => {
  it("every operation of docs/openapi.json has a budget", () => {
    const doc = JSON.parse(readFileSync("docs/openapi.json", "utf8")) as { paths: Record<string, Record<string, { operationId: string }>> };
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
    expect(ops.filter((o) => !(o in SCENARIOS))).toEqual([]);
    expect(Object.keys(SCENARIOS).filter((o) => !ops.includes(o))).toEqual([]);
  });

  for (const [op, s] of Object.entries(SCENARIOS)) {
    it(`${op}: cold ≤ ${s.cold.join("/")}, warm ≤ ${s.warm.join("/")} (Redis/Postgres)`, async () => {
      const user = `rt-${op}-${randomUUID().slice(0, 6)}`;
      const measured: Record<"cold" | "warm", Budget> = { cold: [0, 0], warm: [0, 0] };
      for (const phase of ["cold", "warm"] as const) {
        const call = await s.prepare(user);
        await quiet();
        const rt = countRoundTrips(t.services);
        let res: Response;
        try {
          res = await call();
        } finally {
          rt.restore();
        }
        expect(res.status, `${op} ${phase}: ${await res.clone().text()}`).toBeLessThan(300);
        measured[phase] = [rt.redis, rt.postgres];
      }
      if (process.env.BUDGETS_OUT) appendFileSync(process.env.BUDGETS_OUT, `${JSON.stringify({ op, ...measured })}\n`);
      const within = (m: Budget, b: Budget) => m[0] <= b[0] && m[1] <= b[1];
      expect(within(measured.cold, s.cold) && within(measured.warm, s.warm), `measured cold ${measured.cold} warm ${measured.warm}`).toBe(
        true,
      );
    });
  }
});
