import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startRedisServer, startUpstashBridge } from "@hitl/devstack";
import { createTestContext, type TestContext } from "./support/stack.js";

// The WAL's scripts go by hash (EVALSHA through the Upstash client's script helper): a warm
// instance never sends script text; a Redis without them (new, flushed) costs one EVAL, once.
let stop: () => Promise<void>;
let t: TestContext;
const bodies: string[] = [];
beforeAll(async () => {
  const redis = await startRedisServer({ port: await freePort() });
  const token = randomBytes(12).toString("hex");
  const bridge = await startUpstashBridge({ redisUrl: redis.url, token });
  stop = async () => { await bridge.stop(); await redis.stop(); };
  t = await createTestContext({ UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: token });
  // Every REST body the real client sends, through its own requester.
  const upstash = t.services.redis.client as unknown as { client: { request: (req: { body?: unknown }) => Promise<unknown> } };
  const request = upstash.client.request.bind(upstash.client);
  upstash.client.request = (req) => { bodies.push(JSON.stringify(req.body)); return request(req); };
});
afterAll(async () => { await stop(); });

describe("Lua scripts", () => {
  it("a new Redis: EVALSHA, NOSCRIPT, then EVAL once; from then on EVALSHA only, never the script text", async () => {
    const ingest = (i: number) => t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: `s${i}`, text: `m${i}` } });
    expect((await ingest(1)).status).toBe(202);
    const commands = () => bodies.map((b) => JSON.parse(b) as unknown[]).filter((c) => typeof c[0] === "string" && /^eval/i.test(c[0])) as string[][];
    const first = commands().map((c) => c[0]!.toLowerCase());
    // The first EVALSHA meets NOSCRIPT and the script goes once as text; the second use of it in this
    // request (the ingest runs again once the user's protocol is known) is by hash.
    expect(first.slice(0, 2)).toEqual(["evalsha", "eval"]);
    expect(first.filter((c) => c === "eval")).toHaveLength(1);
    bodies.length = 0;
    for (let i = 2; i < 5; i++) expect((await ingest(i)).status).toBe(202);
    const later = commands();
    expect(later.length).toBeGreaterThanOrEqual(3);
    expect(new Set(later.map((c) => c[0]!.toLowerCase()))).toEqual(new Set(["evalsha"]));
    expect(later.every((c) => c[1]!.length === 40 && !c[1]!.includes("redis.call"))).toBe(true);
    // A second instance on the same (now warm) Redis sends no script text either.
    const other = await createTestContext({ UPSTASH_REDIS_REST_URL: t.config.redis.url, UPSTASH_REDIS_REST_TOKEN: t.config.redis.token });
    expect((await other.call("POST", "/v1/messages/claim", { key: other.keys.agent, body: { max: 2 } })).status).toBe(200);
  });
});
