import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readBody } from "./process.js";
import { connect, type Socket } from "node:net";
import pg from "pg";
import { WebSocketServer, type WebSocket } from "ws";
import { FaultSwitch, SERVER_KEEP_ALIVE_MS, handleFaultAdmin, resetMidResponse, stallMidResponse } from "./faults.js";

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

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
/** Postgres error fields the Neon HTTP API returns on a 400 (the driver copies them onto its error). */
const PG_ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;
/** Raw text for every type: the driver parses values itself from each field's dataTypeID. */
const RAW_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/** What Neon's HTTP endpoint answers to a browser's preflight and on every response. */
const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-allow-headers":
    "Authorization, Content-Type, Neon-Connection-String, Neon-Raw-Text-Output, Neon-Array-Mode, Neon-Pool-Opt-In, Neon-Batch-Read-Only, Neon-Batch-Isolation-Level, Neon-Batch-Deferrable",
  "access-control-max-age": "86400",
};

const ISOLATION: Record<string, string> = {
  Serializable: "SERIALIZABLE",
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
};

/** A request the endpoint refuses before running anything (Neon answers 400 with a message). */
class BadRequest extends Error {}

interface SqlOptions {
  arrayMode: boolean;
  rawText: boolean;
  isolation?: string;
  readOnly?: boolean;
  deferrable?: boolean;
}

/** The Neon-* headers, each checked against the values Neon accepts (nothing is pasted into SQL unchecked). */
function sqlOptions(h: IncomingMessage["headers"]): SqlOptions {
  const bool = (name: string): boolean | undefined => {
    const v = h[name];
    if (v === undefined) return undefined;
    if (v === "true" || v === "false") return v === "true";
    throw new BadRequest(`invalid ${name} header: expected true or false`);
  };
  const iso = h["neon-batch-isolation-level"];
  if (iso !== undefined && (typeof iso !== "string" || !ISOLATION[iso]))
    throw new BadRequest(`invalid neon-batch-isolation-level header: expected one of ${Object.keys(ISOLATION).join(", ")}`);
  return {
    arrayMode: bool("neon-array-mode") ?? false,
    rawText: bool("neon-raw-text-output") ?? false,
    isolation: iso ? ISOLATION[iso] : undefined,
    readOnly: bool("neon-batch-read-only"),
    deferrable: bool("neon-batch-deferrable"),
  };
}

interface SqlQuery {
  query: string;
  params: unknown[];
}
const isQuery = (q: unknown): q is SqlQuery =>
  typeof q === "object" &&
  q !== null &&
  typeof (q as SqlQuery).query === "string" &&
  ((q as SqlQuery).params === undefined || Array.isArray((q as SqlQuery).params));
function parseBody(raw: string): SqlQuery | { queries: SqlQuery[] } {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new BadRequest("request body is not valid JSON");
  }
  if (isQuery(body)) return body;
  const queries = (body as { queries?: unknown })?.queries;
  if (Array.isArray(queries) && queries.every(isQuery)) return { queries };
  throw new BadRequest("request body must be {query, params} or {queries: [{query, params}]}");
}

/** Without Neon-Raw-Text-Output, Neon gives JSON values for the types JSON has. */
const NUMBER_TYPES = new Set([21, 23, 26, 700, 701]);
const JSON_TYPES = new Set([114, 3802]);
function jsonValue(v: unknown, typeId: number): unknown {
  if (v === null || typeof v !== "string") return v;
  if (typeId === 16) return v === "t";
  if (NUMBER_TYPES.has(typeId)) return Number(v);
  if (JSON_TYPES.has(typeId)) return JSON.parse(v);
  return v;
}

function toResult(r: pg.QueryResult, o: SqlOptions) {
  const fields = r.fields.map((f) => ({
    name: f.name,
    dataTypeID: f.dataTypeID,
    tableID: f.tableID,
    columnID: f.columnID,
    dataTypeSize: f.dataTypeSize,
    dataTypeModifier: f.dataTypeModifier,
    format: f.format,
  }));
  const values = (row: unknown[]) => (o.rawText ? row : row.map((v, i) => jsonValue(v, fields[i]!.dataTypeID)));
  const rows = (r.rows as unknown[][]).map((row) => {
    const out = values(row);
    return o.arrayMode ? out : Object.fromEntries(fields.map((f, i) => [f.name, out[i]]));
  });
  return { command: r.command, rowCount: r.rowCount, rows, fields, rowAsArray: o.arrayMode };
}

/**
 * Neon's HTTP query API (`neon()` and `fetch`): one query, or a batch run as one transaction
 * (`{queries:[...]}`), the connection string in a header, always over the extended protocol (so a
 * string with two statements is refused by Postgres itself, with nothing run). Every connection
 * string reaches the stack's own Postgres, whatever its port; a connection not idle after the
 * request (a bare BEGIN) is discarded, never handed to the next request.
 */
function sqlHandler(pools: Map<string, pg.Pool>, faults: FaultSwitch, postgresPort: number) {
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
      res.writeHead(verdict.status, { "content-type": "application/json", ...CORS_HEADERS });
      return void res.end(neonErrorBody(verdict.status));
    }
    const send = (status: number, body: unknown) => {
      let text = JSON.stringify(body);
      if (text.length > NEON_HTTP_LIMIT_BYTES && Buffer.byteLength(text) > NEON_HTTP_LIMIT_BYTES)
        [status, text] = [507, neonErrorBody(507)];
      if (verdict.kind === "reset") return resetMidResponse(res, status, text);
      if (verdict.kind === "stall") return stallMidResponse(res, status, text, faults);
      res.writeHead(status, { "content-type": "application/json", ...CORS_HEADERS });
      faults.traffic.bytesOut += Buffer.byteLength(text);
      res.end(text);
    };
    let client: pg.PoolClient | undefined;
    let inTx = false;
    let cs = "";
    // Neon cancels the statement when its client goes away (an aborted fetch): so does this.
    const cancelOnAbort = () => {
      const pid = (client as unknown as { processID?: number } | undefined)?.processID;
      if (res.writableFinished || !pid) return;
      const abortedAt = Date.now();
      const c = new pg.Client({ connectionString: cs });
      c.on("error", () => {});
      // Only a statement that started before the abort: the connection may serve another by then.
      void c
        .connect()
        .then(() =>
          c.query(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query_start <= to_timestamp($2 / 1000.0)",
            [pid, abortedAt],
          ),
        )
        .catch(() => {})
        .finally(() => void c.end().catch(() => {}));
    };
    try {
      let target: URL;
      try {
        target = new URL(String(req.headers["neon-connection-string"] ?? ""));
      } catch {
        throw new BadRequest("missing or invalid neon-connection-string header");
      }
      if (!/^postgres(ql)?:$/.test(target.protocol)) throw new BadRequest("neon-connection-string must be a postgres:// URL");
      if (!LOOPBACK.has(target.hostname)) return send(400, { message: "only loopback databases are served" });
      // Neon routes by host name: whatever port the string names, the stack's Postgres answers.
      target.hostname = "127.0.0.1";
      target.port = String(postgresPort);
      cs = target.toString();
      const options = sqlOptions(req.headers);
      const raw = await readBody(req);
      if (Buffer.byteLength(raw) > NEON_HTTP_LIMIT_BYTES)
        return send(413, { message: `request is too large (max is ${NEON_HTTP_LIMIT_BYTES} bytes)` });
      const body = parseBody(raw);
      faults.traffic.commands += "queries" in body ? body.queries.length : 1;
      res.once("close", cancelOnAbort);
      client = await poolFor(cs).connect();
      const exec = (q: SqlQuery) =>
        client!.query({
          text: q.query,
          values: q.params ?? [],
          rowMode: "array",
          types: RAW_TYPES,
          queryMode: "extended",
        } as pg.QueryConfig);
      if ("queries" in body) {
        const mode = [
          options.isolation && `ISOLATION LEVEL ${options.isolation}`,
          options.readOnly !== undefined && (options.readOnly ? "READ ONLY" : "READ WRITE"),
          options.deferrable !== undefined && (options.deferrable ? "DEFERRABLE" : "NOT DEFERRABLE"),
        ]
          .filter(Boolean)
          .join(", ");
        await client.query(`BEGIN${mode ? ` ${mode}` : ""}`);
        inTx = true;
        const results = [];
        for (const q of body.queries) results.push(toResult(await exec(q), options));
        await client.query("COMMIT");
        inTx = false;
        return send(200, { results });
      }
      return send(200, toResult(await exec(body), options));
    } catch (e) {
      if (e instanceof BadRequest) return send(400, { message: e.message });
      if (inTx) await client?.query("ROLLBACK").catch(() => {});
      const err = e as Record<string, unknown>;
      // A Postgres error (a SQLSTATE from the server) is a 400 with its fields; anything else is
      // not reaching the compute: Neon's 5xx, with no Node error code dressed up as a SQLSTATE.
      const fromPostgres = e instanceof pg.DatabaseError;
      if (!fromPostgres) return send(502, JSON.parse(neonErrorBody(502)));
      const out: Record<string, unknown> = { message: String(err.message ?? e) };
      for (const f of PG_ERROR_FIELDS) if (err[f] !== undefined) out[f] = err[f];
      return send(400, out);
    } finally {
      // Neon never hands on a connection that is not idle (a bare BEGIN, a failed transaction).
      const status = (client as unknown as { _txStatus?: string | null } | undefined)?._txStatus;
      client?.release(status !== "I" ? true : undefined);
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
      for (let at = 0; at < n; ) {
        block ??= spare.pop() ?? Buffer.allocUnsafe(BLOCK);
        const copied = readBuffer.copy(block, used, at, n);
        used += copied;
        at += copied;
        if (used === BLOCK) flush();
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return true;
    },
  };
}

/**
 * Lets `@neondatabase/serverless` reach a plain Postgres unchanged: `Pool`/`Client` over a
 * WebSocket tunnelled to TCP (loopback only), and `neon()` over HTTP through `/sql`.
 */
export async function startNeonProxy(opts: { postgresPort: number; port?: number; faultToken?: string }): Promise<NeonProxy> {
  const pools = new Map<string, pg.Pool>();
  const faults = new FaultSwitch();
  const handleSql = sqlHandler(pools, faults, opts.postgresPort);
  const server = createServer(
    (req, res) =>
      void (async () => {
        if (opts.faultToken && (await handleFaultAdmin(req, res, faults, opts.faultToken, readBody))) return;
        const path = (req.url ?? "/").split("?")[0];
        if (path === "/sql" && req.method === "OPTIONS") return void res.writeHead(204, CORS_HEADERS).end();
        if (path === "/sql" && req.method === "POST") return handleSql(req, res);
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "not found" }));
      })().catch(() => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(neonErrorBody(500));
        else res.destroy();
      }),
  );
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
  server.on("connection", () => faults.traffic.connections++);
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://x");
    // Routed by host, as Neon does: any loopback address reaches the stack's Postgres, whatever its port.
    const host = (url.searchParams.get("address") ?? "").replace(/:\d*$/, "");
    if (url.pathname !== "/v1" || !LOOPBACK.has(host)) return socket.destroy();
    void faults.before().then((verdict) => {
      if (verdict.kind === "status") {
        const body = neonErrorBody(verdict.status);
        return void socket.end(
          `HTTP/1.1 ${verdict.status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        // Hang (or a stall, which a relay of whole messages cannot cut mid-body): the WebSocket opens and nothing ever comes back.
        if (verdict.kind === "hang" || verdict.kind === "stall") return faults.hold({ destroy: () => ws.terminate() });
        tunnel(ws, "127.0.0.1", opts.postgresPort, verdict.kind === "reset", () => faults.current().latency);
      });
    });
  });
  /**
   * One WebSocket relayed to Postgres over TCP. `reset` cuts the connection once Postgres has
   * started answering; `latency` delays each client message (in order).
   */
  const tunnel = (
    ws: WebSocket,
    host: string,
    port: number,
    reset: boolean,
    latency: () => { ms: number; jitterMs: number } | undefined,
  ) => {
    {
      const tcp: Socket = connect({ port, host, noDelay: true, onread: relay(ws, () => tcp, reset ? () => ws.terminate() : undefined) });
      const pending: Buffer[] = [];
      let chain = Promise.resolve();
      tcp.on("connect", () => {
        for (const b of pending.splice(0)) tcp.write(b);
      });
      tcp.on("end", () => ws.close());
      tcp.on("error", () => ws.close());
      const forward = (data: Buffer) => {
        if (tcp.connecting) pending.push(data);
        else tcp.write(data);
        // Terminate ('X'): half-close so Postgres ends the session promptly.
        if (data.length === 5 && data[0] === 0x58) tcp.end();
      };
      // Each message reaches Postgres `latency` after it was sent, in order: messages sent together
      // (a pipelined Parse/Bind/Execute, a query right after the previous one) are delayed once,
      // not once per message one after another (which charged a pipeline its latency n times).
      ws.on("message", (data: Buffer) => {
        const l = latency();
        if (!l) return void (chain = chain.then(() => forward(data)));
        const due = Date.now() + l.ms + Math.random() * l.jitterMs;
        chain = chain.then(() => new Promise<void>((r) => setTimeout(r, Math.max(0, due - Date.now())))).then(() => forward(data));
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
