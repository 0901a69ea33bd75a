import { Pool, neon } from "@neondatabase/serverless";
import { Redis } from "@upstash/redis";
import { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { PoolDb, useLocalNeonProxy } from "@hitl/core/postgres";
import { createTestDatabase, stack } from "./support/stack.js";

describe("local stack", () => {
  it("serves the Neon driver over HTTP (/sql), including typed values, batches and SQLSTATE errors", async () => {
    useLocalNeonProxy(stack().neonProxyUrl);
    const sql = neon(await createTestDatabase());
    const [row] = await sql.query("SELECT 1::int AS n, $1::jsonb AS j, ARRAY['a','é'] AS arr, now() AS t, NULL::text AS z", [
      JSON.stringify({ k: [1] }),
    ]);
    expect(row).toMatchObject({ n: 1, j: { k: [1] }, arr: ["a", "é"], z: null });
    expect(row!.t).toBeInstanceOf(Date);
    const [a, b] = await sql.transaction([sql`SELECT 1 AS x`, sql`SELECT 2 AS y`]);
    expect([a, b]).toEqual([[{ x: 1 }], [{ y: 2 }]]);
    await expect(sql`SELECT * FROM no_such_table`).rejects.toMatchObject({ code: "42P01" });
  });

  it("rolls back a whole HTTP batch when one statement fails", async () => {
    useLocalNeonProxy(stack().neonProxyUrl);
    const sql = neon(await createTestDatabase());
    await sql`CREATE TABLE IF NOT EXISTS devstack_tx (id int PRIMARY KEY)`;
    await expect(sql.transaction([sql`INSERT INTO devstack_tx VALUES (1)`, sql`INSERT INTO devstack_tx VALUES (1)`])).rejects.toMatchObject(
      { code: "23505" },
    );
    expect(await sql`SELECT count(*)::int AS n FROM devstack_tx`).toEqual([{ n: 0 }]);
    await sql`DROP TABLE devstack_tx`;
  });

  it("serves the Neon driver's WebSocket Pool with interactive transactions", async () => {
    useLocalNeonProxy(stack().neonProxyUrl);
    const pool = new Pool({ connectionString: await createTestDatabase() });
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query("SELECT current_setting('server_version_num')::int AS v");
      await client.query("COMMIT");
      expect(Math.floor(rows[0].v / 10000)).toBe(17);
    } finally {
      client.release();
      await pool.end();
    }
  });

  it("relays a large result over the WebSocket intact (many relay blocks): the same bytes as COPY over TCP", async () => {
    useLocalNeonProxy(stack().neonProxyUrl);
    const url = await createTestDatabase();
    const sql = "COPY (SELECT g, repeat(md5(g::text), 40) FROM generate_series(1, 20000) g) TO STDOUT";
    const direct = createHash("sha256");
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await pipeline(
      c.query(copyTo(sql)),
      new Writable({
        write(chunk, _e, cb) {
          direct.update(chunk);
          cb();
        },
      }),
    );
    await c.end();
    const relayed = createHash("sha256");
    let bytes = 0;
    const db = new PoolDb(url);
    const { rows } = await db.session((s) =>
      s.copyOut(sql, (chunk) => {
        relayed.update(chunk);
        bytes += chunk.length;
      }),
    );
    await db.end();
    expect(rows).toBe(20000);
    expect(bytes).toBeGreaterThan(20 * 256 * 1024);
    expect(relayed.digest("hex")).toBe(direct.digest("hex"));
  });

  it("serves the real @upstash/redis client: commands, pipeline, multi-exec, Lua, base64 encoding", async () => {
    const redis = new Redis({ url: stack().upstashUrl, token: stack().upstashToken, enableTelemetry: false });
    const k = `devstack:${Date.now()}`;
    expect(await redis.set(`${k}:s`, "héllo ✓", { ex: 60 })).toBe("OK");
    expect(await redis.get(`${k}:s`)).toBe("héllo ✓");
    const p = redis.pipeline();
    p.hset(`${k}:h`, { a: "1", b: "two" });
    p.hgetall(`${k}:h`);
    p.rpush(`${k}:l`, "x", "y");
    p.lrange(`${k}:l`, 0, -1);
    p.zadd(`${k}:z`, { score: 2, member: "m" });
    p.zrange(`${k}:z`, 0, -1, { withScores: true });
    expect(await p.exec()).toEqual([2, { a: 1, b: "two" }, 2, ["x", "y"], 1, ["m", 2]]);
    const m = redis.multi();
    m.incr(`${k}:n`);
    m.incr(`${k}:n`);
    expect(await m.exec()).toEqual([1, 2]);
    expect(await redis.eval("return {KEYS[1], ARGV[1], 3}", [`${k}:s`], ["v"])).toEqual([`${k}:s`, "v", 3]);
    expect(await redis.ttl(`${k}:s`)).toBeGreaterThan(50);
  });

  it("runs Upstash-only script flags (allow-key-locking) and keeps EVALSHA of the original script working", async () => {
    const redis = new Redis({ url: stack().upstashUrl, token: stack().upstashToken, enableTelemetry: false });
    const script = "#!lua flags=allow-key-locking\nreturn ARGV[1]";
    expect(await redis.eval(script, [], ["ok"])).toBe("ok");
    const { createHash } = await import("node:crypto");
    expect(await redis.evalsha(createHash("sha1").update(script).digest("hex"), [], ["again"])).toBe("again");
  });

  it("rejects the REST bridge without the bearer token", async () => {
    const res = await fetch(stack().upstashUrl, { method: "POST", body: JSON.stringify(["PING"]) });
    expect(res.status).toBe(401);
    const bad = new Redis({ url: stack().upstashUrl, token: "wrong", enableTelemetry: false, retry: false });
    await expect(bad.ping()).rejects.toThrow();
  });

  it("stores objects through @aws-sdk/client-s3", async () => {
    const s = stack();
    const s3 = new S3Client({
      endpoint: s.s3Endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: s.s3AccessKeyId, secretAccessKey: s.s3SecretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    await s3.send(new PutObjectCommand({ Bucket: s.s3Bucket, Key: "devstack/hello.txt", Body: "hello" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: s.s3Bucket, Key: "devstack/hello.txt" }));
    expect(await got.Body!.transformToString()).toBe("hello");
    const list = await s3.send(new ListObjectsV2Command({ Bucket: s.s3Bucket, Prefix: "devstack/" }));
    expect(list.Contents?.map((o) => o.Key)).toContain("devstack/hello.txt");
  });
});
