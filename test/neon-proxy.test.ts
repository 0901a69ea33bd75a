import { neon, neonConfig, Pool } from "@neondatabase/serverless";
import { beforeAll, describe, expect, it } from "vitest";
import { useLocalNeonProxy } from "@hitl/core/postgres";
import { startNeonProxy } from "@hitl/devstack";
import { WebSocket } from "ws";
import { createTestDatabase, stack } from "./support/stack.js";
import { withPg } from "./support/backup.js";

// The local Neon endpoint held to what Neon does: through the real driver where it can tell, and
// raw HTTP for what the driver never sends (it always asks for array mode and raw text).
let url: string;
beforeAll(async () => {
  useLocalNeonProxy(stack().neonProxyUrl);
  url = await createTestDatabase();
  await withPg(url, (c) => c.query("CREATE TABLE IF NOT EXISTS fidelity (id int PRIMARY KEY, note text)"));
});
const sqlHttp = (body: unknown, headers: Record<string, string> = {}, connectionString = url) =>
  fetch(`${stack().neonProxyUrl}/sql`, {
    method: "POST",
    headers: { "neon-connection-string": connectionString, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
const count = () => withPg(url, async (c) => (await c.query("SELECT count(*)::int AS n FROM fidelity")).rows[0].n as number);

describe("Neon /sql fidelity", () => {
  it("always uses the extended protocol: two statements in one string are refused with nothing run; a parameter count mismatch is Postgres's own error", async () => {
    const sql = neon(url);
    await expect(sql.query("INSERT INTO fidelity VALUES (1); INSERT INTO fidelity VALUES (2)")).rejects.toMatchObject({ code: "42601" });
    expect(await count()).toBe(0);
    await expect(sql.query("SELECT 1; SELECT 2")).rejects.toMatchObject({ code: "42601" });
    await expect(sql.query("SELECT $1::int AS n", [])).rejects.toMatchObject({ code: "08P01" });
  });

  it("a bare BEGIN never leaks: the next request's write is committed and stays", async () => {
    const sql = neon(url);
    await sql.query("BEGIN");
    await sql.query("INSERT INTO fidelity VALUES (10, 'after a bare begin')");
    expect(await count()).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    await sql.query("SELECT 1");
    expect(await withPg(url, async (c) => (await c.query("SELECT note FROM fidelity WHERE id = 10")).rows)).toEqual([
      { note: "after a bare begin" },
    ]);
    await sql.query("DELETE FROM fidelity");
  });

  it("validates every Neon-Batch-* header and honours it; nothing is pasted into SQL", async () => {
    const batch = {
      queries: [
        {
          query:
            "SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro, current_setting('transaction_deferrable') AS d",
          params: [],
        },
      ],
    };
    for (const [name, value] of [
      ["neon-batch-isolation-level", "Serializable; SELECT pg_sleep(5)"],
      ["neon-batch-isolation-level", "serializable"],
      ["neon-batch-read-only", "yes"],
      ["neon-batch-deferrable", "1"],
      ["neon-array-mode", "TRUE"],
      ["neon-raw-text-output", "on"],
    ] as const) {
      const res = await sqlHttp(batch, { [name]: value });
      expect(res.status, `${name}: ${value}`).toBe(400);
      expect(((await res.json()) as { message: string }).message).toContain(name);
    }
    const res = await sqlHttp(batch, {
      "neon-batch-isolation-level": "Serializable",
      "neon-batch-read-only": "true",
      "neon-batch-deferrable": "true",
    });
    expect(((await res.json()) as { results: { rows: unknown[] }[] }).results[0]!.rows).toEqual([
      { iso: "serializable", ro: "on", d: "on" },
    ]);
    const sql = neon(url);
    await expect(sql.transaction([sql`INSERT INTO fidelity VALUES (20)`], { readOnly: true })).rejects.toMatchObject({ code: "25006" });
  });

  it("honours Neon-Array-Mode and Neon-Raw-Text-Output (objects and JSON values by default)", async () => {
    const query = {
      query: "SELECT 1::int AS n, true AS b, '{\"k\":[1]}'::jsonb AS j, 'x'::text AS t, 1.5::float8 AS f, NULL::int AS z",
      params: [],
    };
    const plain = (await (await sqlHttp(query)).json()) as { rows: unknown[]; rowAsArray: boolean };
    expect(plain).toMatchObject({ rowAsArray: false, rows: [{ n: 1, b: true, j: { k: [1] }, t: "x", f: 1.5, z: null }] });
    const raw = (await (await sqlHttp(query, { "neon-array-mode": "true", "neon-raw-text-output": "true" })).json()) as {
      rows: unknown[];
      rowAsArray: boolean;
    };
    expect(raw).toMatchObject({ rowAsArray: true, rows: [["1", "t", '{"k": [1]}', "x", "1.5", null]] });
  });

  it("400 for a malformed body, CORS and OPTIONS as Neon answers them, routing by host whatever the port", async () => {
    for (const body of ["not json", "{}", '{"query":1}', '{"queries":[{"params":[]}]}']) {
      const res = await sqlHttp(body);
      expect(res.status, body).toBe(400);
      expect(typeof ((await res.json()) as { message: string }).message).toBe("string");
    }
    const pre = await fetch(`${stack().neonProxyUrl}/sql`, { method: "OPTIONS" });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-headers")).toMatch(/Neon-Connection-String/);
    const ok = await sqlHttp({ query: "SELECT 1 AS one", params: [] });
    expect(ok.headers.get("access-control-allow-origin")).toBe("*");
    // A port-less string (the driver builds one) and a wrong port reach the stack's Postgres.
    for (const cs of [url.replace(/:\d+\//, "/"), url.replace(/:\d+\//, ":1/")]) {
      const res = await sqlHttp({ query: "SELECT current_database() AS db", params: [] }, {}, cs);
      expect(((await res.json()) as { rows: { db: string }[] }).rows[0]!.db, cs).toBe(new URL(url).pathname.slice(1));
    }
    const far = await sqlHttp({ query: "SELECT 1", params: [] }, {}, url.replace("127.0.0.1", "db.example.com"));
    expect(far.status).toBe(400);
  });
});

describe("Neon /v1 fidelity", () => {
  it("runs the driver's Pool with its production defaults: pipelined cleartext-password connect, coalesced writes", async () => {
    expect(neonConfig.pipelineConnect).toBe("password");
    expect(neonConfig.coalesceWrites).toBe(true);
    const pool = new Pool({ connectionString: url });
    try {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await client.query("INSERT INTO fidelity VALUES (30, 'pool')");
        await client.query("COMMIT");
      } finally {
        client.release();
      }
      expect((await pool.query("SELECT note FROM fidelity WHERE id = 30")).rows).toEqual([{ note: "pool" }]);
      await pool.query("DELETE FROM fidelity");
    } finally {
      await pool.end();
    }
  });
});

describe("injected latency (the latency bench's model)", () => {
  const MS = 150;
  it("charges one /sql exchange its latency once", async () => {
    const proxy = await startNeonProxy({ postgresPort: stack().ports.postgres });
    try {
      proxy.faults.set({ latency: { ms: MS, jitterMs: 0 } });
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const res = await fetch(`${proxy.url}/sql`, {
          method: "POST",
          headers: { "neon-connection-string": url, "content-type": "application/json" },
          body: JSON.stringify({ query: "SELECT 1 AS n", params: [] }),
        });
        expect(res.status).toBe(200);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      expect(times[1]).toBeGreaterThanOrEqual(MS);
      expect(times[1]).toBeLessThan(2 * MS);
    } finally {
      await proxy.stop();
    }
  });

  it("delays WebSocket messages sent together once, not once per message in series", async () => {
    const proxy = await startNeonProxy({ postgresPort: stack().ports.postgres });
    const ws = new WebSocket(`${proxy.url.replace("http", "ws")}/v1?address=127.0.0.1:5432`);
    try {
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      proxy.faults.set({ latency: { ms: MS, jitterMs: 0 } });
      // A Postgres startup packet in three WebSocket messages: Postgres answers once it has all three.
      const params = Buffer.from("user\0postgres\0database\0postgres\0\0");
      const packet = Buffer.alloc(8 + params.length);
      packet.writeInt32BE(packet.length, 0);
      packet.writeInt32BE(196608, 4);
      params.copy(packet, 8);
      const answered = new Promise<number>((resolve) => ws.once("message", () => resolve(performance.now())));
      const sent = performance.now();
      for (const part of [packet.subarray(0, 4), packet.subarray(4, 12), packet.subarray(12)]) ws.send(part);
      const ms = (await answered) - sent;
      expect(ms).toBeGreaterThanOrEqual(MS);
      // In series it was 3 x MS.
      expect(ms).toBeLessThan(2 * MS);
    } finally {
      ws.terminate();
      await proxy.stop();
    }
  });
});
