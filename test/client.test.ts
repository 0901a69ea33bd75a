import { describe, expect, it, vi } from "vitest";
import { createHitlClient, HitlApiError, HitlRequestError } from "@hitl/client";
import { createTestContext } from "./support/stack.js";

// The typed client against the real app and stores: retries only what is safe to repeat, waits
// Retry-After, gives up within its bound, times out, and throws typed errors.
const attempts = (app: { request(r: Request): Response | Promise<Response> }) => {
  const seen: { method: string; path: string; key: string | null; status: number }[] = [];
  const fetch = async (req: Request) => {
    const res = await app.request(req);
    seen.push({ method: req.method, path: new URL(req.url).pathname, key: req.headers.get("idempotency-key"), status: res.status });
    return res;
  };
  return { seen, fetch };
};

describe("the typed client", () => {
  it("waits Retry-After on a real 429 (the rate limiter) and succeeds", async () => {
    const t = await createTestContext({ RATE_LIMIT_REQUESTS: "2", RATE_LIMIT_WINDOW_SECONDS: "1" });
    const { seen, fetch } = attempts(t.app);
    const client = createHitlClient({ baseUrl: "http://api.local", apiKey: t.keys.agent, fetch });
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect((await client.listEditTags()).items.length).toBeGreaterThan(0);
    expect(seen.map((s) => s.status)).toContain(429);
    expect(seen.at(-1)!.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it("retries a 503 only for calls safe to repeat, with one Idempotency-Key for every attempt, then throws the API's code", async () => {
    // Redis unreachable: the WAL answers 503 with Retry-After.
    const t = await createTestContext({ UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9", REDIS_TIMEOUT_MS: "200" });
    const { seen, fetch } = attempts(t.app);
    const client = createHitlClient({ baseUrl: "http://api.local", apiKey: t.keys.bot, fetch, retries: 2, maxDelayMs: 50 });
    const err = await client.ingestMessages({ body: { user_id: "c1", text: "hello" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HitlApiError);
    expect(err).toMatchObject({ status: 503, code: "unavailable", operation: "ingestMessages" });
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
    expect(seen[0]!.key).toMatch(/^[0-9a-f-]{36}$/);
    // acknowledging has no idempotency key: never repeated.
    seen.length = 0;
    const agent = createHitlClient({ baseUrl: "http://api.local", apiKey: t.keys.agent, fetch, retries: 2, maxDelayMs: 50 });
    await expect(
      agent.ackMessages({ body: { items: [{ message_id: "00000000-0000-4000-8000-000000000000", lease_token: "x" }] } }),
    ).rejects.toMatchObject({ status: 503 });
    expect(seen).toHaveLength(1);
  });

  it("times out each attempt and throws HitlRequestError; a 4xx is never retried", async () => {
    const t = await createTestContext();
    const slow = (req: Request) =>
      new Promise<Response>((resolve, reject) => {
        req.signal.addEventListener("abort", () => reject(req.signal.reason));
        setTimeout(() => resolve(t.app.request(req)), 1000);
      });
    const client = createHitlClient({ baseUrl: "http://api.local", apiKey: t.keys.agent, fetch: slow, timeoutMs: 100, retries: 0 });
    await expect(client.listEditTags()).rejects.toMatchObject({ name: "HitlRequestError", timedOut: true });
    const { seen, fetch } = attempts(t.app);
    const bad = createHitlClient({ baseUrl: "http://api.local", apiKey: t.keys.agent, fetch });
    await expect(bad.claimMessages({ body: { max: 1000 } })).rejects.toMatchObject({ status: 400, code: "invalid_request" });
    expect(seen).toHaveLength(1);
    expect(HitlRequestError.name).toBe("HitlRequestError");
  });
});

describe("the client as a package another project installs", () => {
  it("builds to JavaScript and .d.ts where its exports map points, and the built module works", async () => {
    const { execFileSync } = await import("node:child_process");
    const { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const pkg = JSON.parse(readFileSync("packages/client/package.json", "utf8")) as {
      private?: boolean;
      files: string[];
      exports: { ".": Record<string, string> };
    };
    expect(pkg.private).toBeUndefined();
    expect(pkg.files).toContain("dist");
    const dir = mkdtempSync(path.join(os.tmpdir(), "hitl-client-build-"));
    try {
      execFileSync(path.resolve("node_modules/.bin/tsc"), [
        "-p",
        "packages/client/tsconfig.build.json",
        "--outDir",
        path.join(dir, "dist"),
      ]);
      for (const target of [pkg.exports["."].import!, pkg.exports["."].types!])
        expect(existsSync(path.join(dir, target)), target).toBe(true);
      // The built module resolves its one dependency as an installed package would.
      symlinkSync(path.resolve("node_modules"), path.join(dir, "node_modules"));
      const built = (await import(path.join(dir, pkg.exports["."].import!))) as typeof import("@hitl/client");
      expect(typeof built.createHitlClient).toBe("function");
      expect(built.OPERATIONS.ingestMessages).toEqual({ method: "post", path: "/v1/messages", retry: "keyed" });
      expect(readFileSync(path.join(dir, pkg.exports["."].types!), "utf8")).toContain("createHitlClient");
      expect(existsSync("packages/client/README.md")).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("the turn example (npm run example -- turn)", () => {
  it("runs twice, beside another consumer: each run is its own conversation and claims only its own message and reply", async () => {
    const { serve } = await import("@hono/node-server");
    const { turn } = await import("../packages/client/examples/turn.js");
    const t = await createTestContext();
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      // Someone else's message is queued first, and someone else's reply is approved and waiting to be sent.
      const other = createHitlClient({ baseUrl, apiKey: t.keys.bot });
      const [queued] = (await other.ingestMessages({ body: { user_id: "someone-else", text: "not the example's" } })).items;
      const otherReply = await approvedReply(t, "someone-else-2");
      const keys = { baseUrl, botKey: t.keys.bot, agentKey: t.keys.agent, reviewerKey: t.keys.reviewer };
      const log = vi.spyOn(console, "log").mockImplementation(() => {});
      const [first, second] = await Promise.all([turn(keys), turn(keys)]).finally(() => log.mockRestore());
      expect(first.sent && second.sent).toBe(true);
      expect(second.user).not.toBe(first.user);
      expect(second.message_id).not.toBe(first.message_id);
      expect([first.chat_id, second.chat_id]).toEqual([42, 42]);
      // The other consumer's message was never claimed: still queued, no lease, handed to the next generic claim.
      const agent = createHitlClient({ baseUrl, apiKey: t.keys.agent });
      expect(await agent.getMessageStats()).toMatchObject({ pending: 1, in_flight: 0 });
      const next = (await agent.claimMessages({ body: { max: 10 } })).items;
      expect(next.map((m) => ({ id: m.message_id, attempts: m.attempts }))).toEqual([{ id: queued!.message_id, attempts: 1 }]);
      // The other reply was never leased either.
      const [lease] = await t.services.db.query<{ outbox_lease_token: string | null }>(
        "SELECT outbox_lease_token FROM interactions WHERE id = $1",
        [otherReply],
      );
      expect(lease!.outbox_lease_token).toBeNull();
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});

describe("claims filtered to given ids", () => {
  it("a message claim with message_ids hands out only those (queued, or under a lapsed lease), never one under a live lease", async () => {
    const t = await createTestContext();
    const bot = createHitlClient({ baseUrl: "http://api.local", apiKey: t.keys.bot, fetch: async (r) => t.app.request(r) });
    const agent = createHitlClient({ baseUrl: "http://api.local", apiKey: t.keys.agent, fetch: async (r) => t.app.request(r) });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await bot.ingestMessages({ body: { user_id: `f${i}`, text: `m${i}` } })).items[0]!.message_id);
    const [a, b, c, d] = ids as [string, string, string, string];
    // Another consumer holds b under a live lease.
    const held = (await agent.claimMessages({ body: { message_ids: [b], lease_seconds: 60 } })).items;
    expect(held.map((m) => m.message_id)).toEqual([b]);
    // c and d asked for, and b (held), and an unknown id: only c and d, in the order asked, within max.
    const unknown = "00000000-0000-4000-8000-000000000000";
    const mine = (await agent.claimMessages({ body: { message_ids: [d, b, unknown, c], max: 10 } })).items;
    expect(mine.map((m) => m.message_id)).toEqual([d, c]);
    expect((await agent.claimMessages({ body: { message_ids: [a, c], max: 1 } })).items.map((m) => m.message_id)).toEqual([a]);
    expect(await agent.getMessageStats()).toMatchObject({ pending: 0, in_flight: 4 });
    await expect(agent.claimMessages({ body: { message_ids: ["not-a-uuid"] } })).rejects.toMatchObject({ status: 400 });
  });
});

/** An approved reply waiting in the outbox, made through the API. */
async function approvedReply(t: Awaited<ReturnType<typeof createTestContext>>, user: string): Promise<string> {
  const res = await t.call("POST", "/v1/interactions", {
    key: t.keys.agent,
    body: {
      user_id: user,
      user_message: "hi",
      user_message_timestamp: new Date().toISOString(),
      llm1_raw_response: "draft",
      llm2_bubbles: ["hello"],
      constitution_risk_score: 0.1,
      constitution_flags: [],
      constitution_recommendation: "review",
    },
  });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  const approved = await t.call("POST", `/v1/reviews/${id}/approve`, {
    key: t.keys.reviewer,
    body: { final_bubbles: ["hello"], quality_score: 4 },
  });
  expect(approved.status, await approved.clone().text()).toBe(200);
  return id;
}
