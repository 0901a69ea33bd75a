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
    await expect(agent.ackMessages({ body: { items: [{ message_id: "00000000-0000-4000-8000-000000000000", lease_token: "x" }] } })).rejects.toMatchObject({ status: 503 });
    expect(seen).toHaveLength(1);
  });

  it("times out each attempt and throws HitlRequestError; a 4xx is never retried", async () => {
    const t = await createTestContext();
    const slow = (req: Request) => new Promise<Response>((resolve, reject) => {
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
