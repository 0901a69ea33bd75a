import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { UpstashTransport } from "../cache/upstash-transport.js";
import { keepAliveFetch } from "./keep-alive.js";

/**
 * Stale keep-alive connections against a real HTTP server that closes idle connections after 50 ms. A Lambda frozen past that is modelled by blocking this thread:
 * the server's close is then still unread when the next request is written onto the connection,
 * as it is when a thawed instance sends its first request.
 */
let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/**
 * A server answering every request with `body` that closes a connection idle for `idleMs`, without
 * announcing it (no Keep-Alive header, as Neon's proxy and most fronts); counts the requests it
 * handled and the connections it accepted.
 */
async function start(body: string, idleMs = 50) {
  const seen = { requests: 0, connections: 0 };
  const idle = new WeakMap<object, NodeJS.Timeout>();
  server = createServer((req, res) => {
    clearTimeout(idle.get(req.socket));
    req.resume();
    req.on("end", () => {
      seen.requests++;
      res.writeHead(200, { "content-type": "application/json" }).end(body);
      res.on("finish", () =>
        idle.set(
          req.socket,
          setTimeout(() => req.socket.destroy(), idleMs),
        ),
      );
    });
  });
  server.keepAliveTimeout = 0;
  server.on("connection", () => seen.connections++);
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** Blocks the thread (timers and I/O included), as a frozen Lambda. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe("keep-alive connections", () => {
  it("a Neon query written onto a connection the server closed while frozen is sent once more, on a new connection", async () => {
    const { url, seen } = await start('{"rows":[]}');
    let stale = 0;
    const fetchFn = keepAliveFetch(60_000, () => stale++);
    expect((await fetchFn(`${url}/sql`, { method: "POST", body: "{}" })).status).toBe(200);
    freeze(300);
    const res = await fetchFn(`${url}/sql`, { method: "POST", body: "{}" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ rows: [] });
    // The dead connection's request never reached the server: 2 requests handled, over 2 connections.
    expect({ stale, ...seen }).toEqual({ stale: 1, requests: 2, connections: 2 });
  });

  it("the Upstash transport does the same: one retry, the command run once", async () => {
    const { url, seen } = await start(JSON.stringify({ result: Buffer.from("PONG").toString("base64") }));
    let stale = 0;
    const t = new UpstashTransport({ url, token: "t", retries: 0, timeoutMs: 5_000, onStaleSocket: () => stale++ });
    expect((await t.request({ body: ["PING"] })).result).toBe("PONG");
    freeze(300);
    expect((await t.request({ body: ["PING"] })).result).toBe("PONG");
    expect({ stale, ...seen }).toEqual({ stale: 1, requests: 2, connections: 2 });
  });

  it("kept idle below the keep-alive time, a connection is reused: no new connection, no retry", async () => {
    const { url, seen } = await start('{"rows":[]}', 5_000);
    let stale = 0;
    const fetchFn = keepAliveFetch(60_000, () => stale++);
    for (let i = 0; i < 3; i++) {
      expect((await fetchFn(`${url}/sql`, { method: "POST", body: "{}" })).status).toBe(200);
      freeze(100);
    }
    expect({ stale, ...seen }).toEqual({ stale: 0, requests: 3, connections: 1 });
  });

  it("asks for and decodes a compressed answer, as fetch does", async () => {
    const { gzipSync } = await import("node:zlib");
    let asked = "";
    server = createServer((req, res) => {
      asked = String(req.headers["accept-encoding"]);
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" }).end(gzipSync('{"rows":[1]}'));
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const res = await keepAliveFetch()(`http://127.0.0.1:${(server.address() as AddressInfo).port}/sql`, { method: "POST", body: "{}" });
    expect(asked).toMatch(/gzip/);
    expect(await res.json()).toEqual({ rows: [1] });
  });

  it("a reset on a new connection, or after the answer began, is not sent again (it may follow an applied write)", async () => {
    let handled = 0;
    server = createServer((req, res) => {
      handled++;
      if (req.url === "/cut") {
        res.writeHead(200, { "content-length": "100" });
        res.write("partial", () => res.socket?.resetAndDestroy());
      } else req.socket.resetAndDestroy();
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let stale = 0;
    const fetchFn = keepAliveFetch(60_000, () => stale++);
    await expect(fetchFn(`${url}/reset`, { method: "POST", body: "{}" })).rejects.toMatchObject({ code: "ECONNRESET" });
    await expect(fetchFn(`${url}/cut`, { method: "POST", body: "{}" })).rejects.toThrow();
    expect({ stale, handled }).toEqual({ stale: 0, handled: 2 });
  });
});
