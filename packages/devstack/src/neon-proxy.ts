import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readBody } from "./process.js";
import { connect, type Socket } from "node:net";
import pg from "pg";
import { WebSocketServer, type WebSocket } from "ws";
import { FaultSwitch, handleFaultAdmin, resetMidResponse } from "./faults.js";

export interface NeonProxy {
  /** Base URL, e.g. http://127.0.0.1:PORT: WebSocket at /v1, Neon HTTP queries at /sql. */
  url: string;
  port: number;
  /** Injected faults, for `/sql` and the `/v1` WebSocket alike. */
  faults: FaultSwitch;
  stop(): Promise<void>;
}

/** Neon's limit on a `/sql` request or response body. */
export const NEON_HTTP_LIMIT_BYTES = 10 * 1024 * 1024;

/** The bodies Neon's HTTP endpoint answers with, by status. */
const NEON_ERROR_BODIES: Record<number, string> = {
  500: JSON.stringify({ message: "internal error" }),
  502: JSON.stringify({ message: "Couldn't connect to compute node" }),
  503: JSON.stringify({ message: "compute is unavailable, please retry" }),
  507: JSON.stringify({ message: `response is too large (max is ${NEON_HTTP_LIMIT_BYTES} bytes)` }),
};
const neonErrorBody = (status: number) => NEON_ERROR_BODIES[status] ?? JSON.stringify({ message: `HTTP ${status}` });

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);
/** Postgres error fields the Neon HTTP API returns on a 400 (the driver copies them onto its error). */
const PG_ERROR_FIELDS = ["severity", "code", "detail", "hint", "position", "internalPosition", "internalQuery",
  "where", "schema", "table", "column", "dataType", "constraint", "file", "line", "routine"] as const;
/** Raw text for every type: the driver parses values itself from each field's dataTypeID. */
const RAW_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

interface SqlQuery { query: string; params?: unknown[] }

function toResult(r: pg.QueryResult) {
  return {
    command: r.command,
    rowCount: r.rowCount,
    rows: r.rows,
    fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID, tableID: f.tableID, columnID: f.columnID,
      dataTypeSize: f.dataTypeSize, dataTypeModifier: f.dataTypeModifier, format: f.format })),
    rowAsArray: true,
  };
}

/**
 * The subset of Neon's HTTP query API that `neon()` uses: one query, or a batch run as one
 * transaction (`{queries:[...]}`), with the connection string in a header.
 */
function sqlHandler(pools: Map<string, pg.Pool>, faults: FaultSwitch) {
  const poolFor = (cs: string) => {
    let pool = pools.get(cs);
    if (!pool) {
      pool = new pg.Pool({ connectionString: cs, max: 20, idleTimeoutMillis: 10_000 });
      pool.on("error", () => {});
      // A checked-out connection whose server dies (killed Postgres) must not crash the proxy.
      pool.on("connect", (c) => c.on("error", () => {}));
      pools.set(cs, pool);
    }
    return pool;
  };
  return async (req: IncomingMessage, res: ServerResponse) => {
    const verdict = await faults.before();
    if (verdict.kind === "hang") return faults.hold(req.socket);
    if (verdict.kind === "status") {
      res.writeHead(verdict.status, { "content-type": "application/json" });
      return void res.end(neonErrorBody(verdict.status));
    }
    const send = (status: number, body: unknown) => {
      let text = JSON.stringify(body);
      if (text.length > NEON_HTTP_LIMIT_BYTES && Buffer.byteLength(text) > NEON_HTTP_LIMIT_BYTES) [status, text] = [507, neonErrorBody(507)];
      if (verdict.kind === "reset") return resetMidResponse(res, status, text);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(text);
    };
    let client: pg.PoolClient | undefined;
    let inTx = false;
    // Neon cancels the statement when its client goes away (an aborted fetch): so does this.
    const cancelOnAbort = () => {
      const pid = (client as unknown as { processID?: number } | undefined)?.processID;
      if (res.writableFinished || !pid) return;
      const abortedAt = Date.now();
      const c = new pg.Client({ connectionString: cs });
      c.on("error", () => {});
      // Only a statement that started before the abort: the connection may serve another by then.
      void c.connect()
        .then(() => c.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query_start <= to_timestamp($2 / 1000.0)", [pid, abortedAt]))
        .catch(() => {}).finally(() => void c.end().catch(() => {}));
    };
    let cs = "";
    try {
      cs = String(req.headers["neon-connection-string"] ?? "");
      const host = new URL(cs.replace(/^postgres(ql)?:/, "http:")).hostname;
      if (!LOOPBACK.has(host)) return send(400, { message: "only loopback databases are served" });
      const raw = await readBody(req);
      if (Buffer.byteLength(raw) > NEON_HTTP_LIMIT_BYTES) return send(413, { message: `request is too large (max is ${NEON_HTTP_LIMIT_BYTES} bytes)` });
      const body = JSON.parse(raw) as SqlQuery | { queries: SqlQuery[] };
      res.once("close", cancelOnAbort);
      client = await poolFor(cs).connect();
      const exec = (q: SqlQuery) => client!.query({ text: q.query, values: q.params ?? [], rowMode: "array", types: RAW_TYPES });
      if ("queries" in body) {
        const iso = req.headers["neon-batch-isolation-level"];
        const ro = req.headers["neon-batch-read-only"] === "true";
        const isoSql = iso ? ` ISOLATION LEVEL ${String(iso).replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase()}` : "";
        await client.query(`BEGIN${isoSql}${ro ? " READ ONLY" : ""}`);
        inTx = true;
        const results = [];
        for (const q of body.queries) results.push(toResult(await exec(q)));
        await client.query("COMMIT");
        inTx = false;
        return send(200, { results });
      }
      return send(200, toResult(await exec(body)));
    } catch (e) {
      if (inTx) await client?.query("ROLLBACK").catch(() => {});
      const err = e as Record<string, unknown>;
      const out: Record<string, unknown> = { message: String(err.message ?? e) };
      for (const f of PG_ERROR_FIELDS) if (err[f] !== undefined) out[f] = err[f];
      // A Postgres error (SQLSTATE) is a 400; not reaching the compute is Neon's 5xx.
      const sqlstate = typeof err.code === "string" && /^[0-9A-Z]{5}$/.test(err.code);
      return sqlstate ? send(400, out) : send(502, JSON.parse(neonErrorBody(502)));
    } finally {
      client?.release();
    }
  };
}

/** Relay buffers: reused, because allocating one per read made garbage collection the proxy's main cost. */
const BLOCK = 256 << 10;
const spare: Buffer[] = [];
/** Reads land here and are copied out at once (the callback runs synchronously), so one serves all. */
const readBuffer = Buffer.allocUnsafe(BLOCK);
/** The WebSocket's unsent bytes above which Postgres is no longer read (TCP pushes back on it). */
const HIGH_WATER = 8 << 20;

/**
 * What Postgres sends, relayed to the WebSocket: the bytes read in one turn of the event loop go
 * out as one message (no added latency; Postgres writes 8 KB at a time), and reading pauses while
 * the client is behind, so flow control reaches Postgres as it would through Neon's proxy.
 */
function relay(ws: WebSocket, tcp: () => Socket, cutAfterFirstBlock?: () => void) {
  let block: Buffer | null = null;
  let used = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!block || !used) return;
    const sent = block;
    const data = sent.subarray(0, used);
    block = null;
    used = 0;
    if (cutAfterFirstBlock) {
      // A reset mid-response: half of what Postgres sent goes out, then the connection dies.
      ws.send(data.subarray(0, Math.max(1, data.length >> 1)), () => cutAfterFirstBlock());
      return;
    }
    ws.send(data, () => {
      if (spare.length < 32) spare.push(sent);
      if (tcp().isPaused() && ws.bufferedAmount < HIGH_WATER / 4) tcp().resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) tcp().pause();
  };
  return {
    buffer: readBuffer,
    callback(n: number) {
      for (let at = 0; at < n;) {
        block ??= spare.pop() ?? Buffer.allocUnsafe(BLOCK);
        const copied = readBuffer.copy(block, used, at, n);
        used += copied;
        at += copied;
        if (used === BLOCK) flush();
      }
      if (!scheduled) { scheduled = true; setImmediate(flush); }
      return true;
    },
  };
}

/**
 * Lets `@neondatabase/serverless` reach a plain Postgres unchanged: `Pool`/`Client` over a
 * WebSocket tunnelled to TCP (loopback only), and `neon()` over HTTP through `/sql`.
 */
export async function startNeonProxy(opts: { port?: number; faultToken?: string } = {}): Promise<NeonProxy> {
  const pools = new Map<string, pg.Pool>();
  const faults = new FaultSwitch();
  const handleSql = sqlHandler(pools, faults);
  const server = createServer((req, res) => void (async () => {
    if (opts.faultToken && await handleFaultAdmin(req, res, faults, opts.faultToken, readBody)) return;
    if (req.method === "POST" && req.url?.startsWith("/sql")) return handleSql(req, res);
    res.writeHead(404).end();
  })().catch(() => { if (!res.headersSent) res.writeHead(500).end(); else res.destroy(); }));
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://x");
    const [host, port] = (url.searchParams.get("address") ?? "").split(":");
    if (url.pathname !== "/v1" || !LOOPBACK.has(host!) || !port) return socket.destroy();
    void faults.before().then((verdict) => {
      if (verdict.kind === "status") {
        const body = neonErrorBody(verdict.status);
        return void socket.end(`HTTP/1.1 ${verdict.status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        // Hang: the WebSocket opens and nothing ever comes back.
        if (verdict.kind === "hang") return faults.hold({ destroy: () => ws.terminate() });
        tunnel(ws, host!, Number(port), verdict.kind === "reset", () => faults.current().latency);
      });
    });
  });
  /**
   * One WebSocket relayed to Postgres over TCP. `reset` cuts the connection once Postgres has
   * started answering; `latency` delays each client message (in order).
   */
  const tunnel = (ws: WebSocket, host: string, port: number, reset: boolean, latency: () => { ms: number; jitterMs: number } | undefined) => {
    {
      const tcp: Socket = connect({ port, host: host === "localhost" ? "127.0.0.1" : host, noDelay: true, onread: relay(ws, () => tcp, reset ? () => ws.terminate() : undefined) });
      const pending: Buffer[] = [];
      let chain = Promise.resolve();
      tcp.on("connect", () => { for (const b of pending.splice(0)) tcp.write(b); });
      tcp.on("end", () => ws.close());
      tcp.on("error", () => ws.close());
      const forward = (data: Buffer) => {
        if (tcp.connecting) pending.push(data);
        else tcp.write(data);
        // Terminate ('X'): half-close so Postgres ends the session promptly.
        if (data.length === 5 && data[0] === 0x58) tcp.end();
      };
      ws.on("message", (data: Buffer) => {
        const l = latency();
        if (!l) return void chain.then(() => forward(data));
        chain = chain.then(() => new Promise<void>((r) => setTimeout(r, l.ms + Math.random() * l.jitterMs))).then(() => forward(data));
      });
      ws.on("close", () => tcp.end());
      ws.on("error", () => tcp.destroy());
    }
  };
  await new Promise<void>((r) => server.listen(opts.port ?? 0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    faults,
    async stop() {
      faults.releaseHeld();
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.all([...pools.values()].map((p) => p.end().catch(() => {})));
    },
  };
}
