import { spawn } from "node:child_process";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// The smoke script runs in its own process: on a loaded 2-core machine they take longer than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });
import { createTestContext, type TestContext } from "./support/stack.js";
import { createTestBucket, withPg } from "./support/backup.js";

/** `npm run smoke -- --url … --key …` as a deployer runs it, in its own process; its output and exit code. */
function runSmoke(url: string, key: string, args = ["--url", url, "--key", key]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/smoke.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code, out }));
  });
}

describe("npm run smoke against the local stack", () => {
  let t: TestContext;
  let server: ReturnType<typeof serve>;
  let url: string;
  beforeAll(async () => {
    const { bucket } = await createTestBucket();
    t = await createTestContext({ S3_BUCKET: bucket });
    await new Promise<void>((r) => {
      server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
        url = `http://127.0.0.1:${info.port}`;
        r();
      });
    });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("health, then ingest-claim-ack for a throwaway user who is then erased: each step reported, exit 0, nothing of the user left", async () => {
    const { code, out } = await runSmoke(url, t.keys.admin);
    expect(out).toMatch(/ok +GET \/health/);
    for (const s of ["GET /v1/health (admin key)", "ingest a message for smoke-", "claim it", "acknowledge it", "erase smoke-"])
      expect(out).toContain(s);
    expect(out).toContain("smoke test passed");
    expect(code).toBe(0);
    const user = /ingest a message for (smoke-[0-9a-f]+)/.exec(out)![1]!;
    // Nothing of the user in Redis (under this instance's prefix) or in any Postgres table that names users.
    // Only the erasure's own mark stays, refusing cache writes for the user until it expires (15 minutes).
    const keys = await t.services.redis.client.keys(`${t.config.redis.prefix}*${user}*`);
    expect(keys.filter((k) => !k.endsWith(":erasing"))).toEqual([]);
    for (const k of keys) expect(await t.services.redis.client.ttl(k)).toBeGreaterThan(0);
    const tables = await withPg(t.databaseUrl, async (c) =>
      (
        await c.query(`SELECT table_name FROM information_schema.columns
      WHERE column_name = 'user_id' AND table_schema = 'public' AND table_name NOT LIKE 'interactions\\_%'`)
      ).rows.map((r) => r.table_name as string),
    );
    for (const table of tables) {
      const n = await withPg(
        t.databaseUrl,
        async (c) => (await c.query(`SELECT count(*)::int AS n FROM "${table}" WHERE user_id = $1`, [user])).rows[0].n,
      );
      expect(n, table).toBe(0);
    }
    const stats = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.admin })).json()) as {
      pending: number;
      in_flight: number;
    };
    expect(stats).toMatchObject({ pending: 0, in_flight: 0 });
  });

  it("stops at the first failure with exit 1: a key without the admin scope fails the health step and goes no further", async () => {
    const { code, out } = await runSmoke(url, t.keys.bot);
    expect(code).toBe(1);
    expect(out).toMatch(/ok +GET \/health/);
    expect(out).toMatch(/FAIL +GET \/v1\/health \(admin key\): health: HTTP 403/);
    expect(out).not.toContain("ingest a message");
  });

  it("passes beside real queued messages and never claims them (it claims its own message by id)", async () => {
    await t.call("POST", "/v1/messages", { key: t.keys.bot, body: { user_id: "real-user", text: "a real message" } });
    const { code, out } = await runSmoke(url, t.keys.admin);
    expect(out).toContain("smoke test passed");
    expect(code).toBe(0);
    const stats = (await (await t.call("GET", "/v1/messages/stats", { key: t.keys.admin })).json()) as {
      pending: number;
      in_flight: number;
    };
    expect(stats).toMatchObject({ pending: 1, in_flight: 0 });
  });

  it("names a missing or unknown argument with the usage, exit 2, before calling anything", async () => {
    const missing = await runSmoke(url, "", ["--url", url]);
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.out).toMatch(/--key is missing\nusage: npm run smoke -- --url <api url> --key <admin key>/);
    const unknown = await runSmoke(url, "", ["--url", url, "--kee", "x"]);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toContain("Unknown option '--kee'");
  });
});
