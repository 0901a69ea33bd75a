import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { neon } from "@neondatabase/serverless";
import { Redis } from "@upstash/redis";

/**
 * The baseline of `npm run bench -- hotpath`: the least a message-ingest handler can do with the same
 * stack (Hono, @upstash/redis, the Neon driver bundled): check a bearer key against a SHA-256 hash
 * in constant time, parse the JSON body, and queue the message with one EVAL.
 */
const QUEUE = `redis.call('HSET', KEYS[1], 'user_id', ARGV[2], 'text', ARGV[3]); redis.call('RPUSH', KEYS[2], ARGV[1]); return 1`;

/** The body the route accepts, or undefined: by default two `typeof` checks. */
export type BodyParser = (body: unknown) => { user_id: string; text: string } | undefined;
const typeofChecks: BodyParser = (body) => {
  const b = body as { user_id?: unknown; text?: unknown } | null;
  return b && typeof b.user_id === "string" && typeof b.text === "string" ? { user_id: b.user_id, text: b.text } : undefined;
};

export function minimalApp(env: { url: string; token: string; keySha256: string; databaseUrl?: string }, parse: BodyParser = typeofChecks) {
  const redis = new Redis({ url: env.url, token: env.token, enableTelemetry: false });
  const want = Buffer.from(env.keySha256, "hex");
  // Present as in any such handler, not used by this route.
  const sql = env.databaseUrl ? neon(env.databaseUrl) : undefined;
  const app = new Hono();
  app.post("/v1/messages", async (c) => {
    const key = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1];
    const got = createHash("sha256")
      .update(key ?? "")
      .digest();
    if (!key || !timingSafeEqual(got, want)) return c.json({ error: { code: "unauthorized", message: "unknown key" } }, 401);
    const body = parse(await c.req.json());
    if (!body) return c.json({ error: { code: "invalid_request", message: "user_id and text" } }, 400);
    const id = crypto.randomUUID();
    await redis.eval(QUEUE, [`min:msg:${id}`, "min:pending"], [id, body.user_id, body.text]);
    return c.json({ items: [{ message_id: id, status: "queued" }] }, 202);
  });
  app.get("/health", (c) => c.json({ status: sql ? "ok" : "ok" }));
  return app;
}
