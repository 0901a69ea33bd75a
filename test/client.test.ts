import { describe, expect, it } from "vitest";
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
  it("runs twice against a served API: each run is its own conversation and acts only on its own message", async () => {
    const { serve } = await import("@hono/node-server");
    const { turn } = await import("../packages/client/examples/turn.js");
    const t = await createTestContext();
    const server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      // Someone else's message is queued first: the example leaves it alone (it is not acknowledged).
      const other = createHitlClient({ baseUrl, apiKey: t.keys.bot });
      await other.ingestMessages({ body: { user_id: "someone-else", text: "not the example's" } });
      const keys = { baseUrl, botKey: t.keys.bot, agentKey: t.keys.agent, reviewerKey: t.keys.reviewer };
      const first = await turn(keys);
      const second = await turn(keys);
      expect(first.sent).toBe(true);
      expect(second.sent).toBe(true);
      expect(second.user).not.toBe(first.user);
      expect(second.message_id).not.toBe(first.message_id);
      const stats = await createHitlClient({ baseUrl, apiKey: t.keys.agent }).getMessageStats();
      // The other message is still there, queued or under a lapsing 5 s lease: never acknowledged.
      expect(stats.pending + stats.in_flight).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});
