import { createHash } from "node:crypto";
import { Redis } from "@upstash/redis";
import { describe, expect, it } from "vitest";
import { stack } from "./support/stack.js";

// The REST bridge, held to what Upstash does, through the real @upstash/redis client (production
// settings: retries on, telemetry off) and raw HTTP where the client would hide the answer.
const client = (extra: Record<string, unknown> = {}) =>
  new Redis({ url: stack().upstashUrl, token: stack().upstashToken, enableTelemetry: false, ...extra });
const post = (path: string, body: string) =>
  fetch(`${stack().upstashUrl}${path}`, { method: "POST", headers: { authorization: `Bearer ${stack().upstashToken}` }, body });

describe("Upstash REST bridge fidelity", () => {
  it("refuses subscribe (and other connection-state commands) on the command routes, and keeps serving", async () => {
    for (const cmd of [["subscribe", "x"], ["psubscribe", "x*"], ["monitor"], ["select", "1"], ["client", "reply", "off"], ["quit"]]) {
      const res = await post("/", JSON.stringify(cmd));
      expect(res.status, cmd[0]).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/^ERR /);
    }
    const pipe = await post("/pipeline", JSON.stringify([["subscribe", "x"], ["ping"]]));
    expect(await pipe.json()).toEqual([{ error: expect.stringMatching(/^ERR /) }, { result: "PONG" }]);
    expect(await client().ping()).toBe("PONG");
  });

  it("answers malformed bodies with 400 and a Redis-worded error, never JavaScript text", async () => {
    for (const [path, body] of [
      ["/", "[]"],
      ["/", "{}"],
      ["/", '"get"'],
      ["/", "not json"],
      ["/", "[null]"],
      ["/pipeline", "[[]]"],
      ["/pipeline", "[]"],
      ["/multi-exec", '{"a":1}'],
    ] as const) {
      const res = await post(path, body);
      expect(res.status, `${path} ${body}`).toBe(400);
      const { error } = (await res.json()) as { error: string };
      expect(error, body).toMatch(/^ERR /);
      expect(error, body).not.toMatch(/TypeError|undefined|Cannot read|at /);
    }
  });

  it("a blocking command never delays another request", async () => {
    const redis = client();
    const key = `blpop-${Date.now()}`;
    const blocked = post("/", JSON.stringify(["blpop", key, "2"]));
    await new Promise((r) => setTimeout(r, 50));
    const start = performance.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => redis.set(`${key}:${i}`, i)));
    expect(performance.now() - start).toBeLessThan(1000);
    await redis.rpush(key, "v");
    expect(await (await blocked).json()).toEqual({ result: [key, "v"] });
  });

  it("serves /subscribe and /psubscribe event streams to the client's subscribe()", async () => {
    const redis = client();
    const channel = `chan-${Date.now()}`;
    const sub = redis.subscribe<{ n: number }>([channel]);
    const psub = redis.psubscribe<{ n: number }>([`${channel.slice(0, 5)}*`]);
    const got: unknown[] = [];
    const pgot: unknown[] = [];
    sub.on("message", (m) => got.push(m.message));
    psub.on("pmessage", (m) => pgot.push([m.channel, m.message]));
    const counts = await new Promise<number[]>((resolve) => {
      const seen: number[] = [];
      sub.on("subscribe", (n) => {
        seen.push(n);
        if (seen.length === 2) resolve(seen);
      });
      psub.on("psubscribe", (n) => {
        seen.push(n);
        if (seen.length === 2) resolve(seen);
      });
    });
    expect(counts).toEqual([1, 1]);
    expect(await redis.publish(channel, { n: 1 })).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    await sub.unsubscribe();
    await psub.unsubscribe();
    expect(got).toEqual([{ n: 1 }]);
    expect(pgot).toEqual([[channel, { n: 1 }]]);
  });

  it("sends an upstash-sync-token that only grows, and the client's readYourWrites uses it", async () => {
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post("/", JSON.stringify(["ping"]));
      tokens.push(Number(res.headers.get("upstash-sync-token")));
    }
    expect(tokens[0]).toBeGreaterThan(0);
    expect(tokens[1]).toBeGreaterThan(tokens[0]!);
    expect(tokens[2]).toBeGreaterThan(tokens[1]!);
    const redis = client({ readYourWrites: true });
    await redis.set("ryw", "1");
    expect(await redis.get("ryw")).toBe(1);
    expect(Number((redis as unknown as { client: { upstashSyncToken: string } }).client.upstashSyncToken)).toBeGreaterThan(tokens[2]!);
  });

  it("runs allow-key-locking scripts as Upstash does: declared keys work, an undeclared key is refused with Upstash's error", async () => {
    const redis = client();
    const k = `lock-${Date.now()}`;
    const flagged = (body: string, flags = "allow-key-locking") => `#!lua flags=${flags}\n${body}`;
    // Declared keys: reads and writes work, and the flag reaches no redis-server (7.0 would refuse it).
    expect(await redis.eval(flagged("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"), [`${k}:a`], ["v"])).toBe(
      "v",
    );
    expect(await redis.eval(flagged("return redis.call('DEL', KEYS[1], KEYS[2])"), [`${k}:a`, `${k}:b`], [])).toBe(1);
    // A key built inside the script, or a second key not passed, is refused, for call and pcall alike.
    for (const body of [
      "return redis.call('GET', ARGV[1])",
      "return redis.call('DEL', KEYS[1], ARGV[1])",
      "local r = redis.pcall('SET', ARGV[1], 'x'); if type(r) == 'table' and r.err then return redis.error_reply(r.err) end return r",
      "return redis.call('KEYS', '*')",
    ]) {
      await expect(redis.eval(flagged(body), [`${k}:a`], [`${k}:undeclared`]), body).rejects.toThrow(/Dynamic keys are not allowed/);
    }
    expect(await redis.exists(`${k}:undeclared`)).toBe(0);
    // Without the flag Upstash takes the global lock and lets the script touch any key.
    expect(await redis.eval("return redis.call('SET', ARGV[1], 'x')", [], [`${k}:free`])).toBe("OK");
    // no-writes stays in force beside the flag.
    await expect(
      redis.eval(flagged("return redis.call('SET', KEYS[1], 'x')", "no-writes,allow-key-locking"), [`${k}:ro`], []),
    ).rejects.toThrow(/Write commands are not allowed from read-only scripts/);
    expect(await redis.eval(flagged("return redis.call('GET', KEYS[1])", "no-writes,allow-key-locking"), [`${k}:free`], [])).toBe("x");
  });

  it("SCRIPT LOAD answers the sha of the script as sent, and EVALSHA by that sha runs the flagged script", async () => {
    const redis = client();
    const lua = "#!lua flags=allow-key-locking\nreturn redis.call('GET', KEYS[1])";
    const sha = createHash("sha1").update(lua).digest("hex");
    expect(await redis.scriptLoad(lua)).toBe(sha);
    await redis.set("sha-key", "y");
    expect(await redis.evalsha(sha, ["sha-key"], [])).toBe("y");
    const dynamic = "#!lua flags=allow-key-locking\nreturn redis.call('GET', ARGV[1])";
    const dynamicSha = await redis.scriptLoad(dynamic);
    await expect(redis.evalsha(dynamicSha, [], ["sha-key"])).rejects.toThrow(/Dynamic keys are not allowed/);
  });
});
