import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readBody } from "./process.js";
import { createHash, timingSafeEqual } from "node:crypto";
import { Redis as IORedis, ReplyError } from "ioredis";
import { FaultSwitch, SERVER_KEEP_ALIVE_MS, handleFaultAdmin, resetMidResponse, stallMidResponse } from "./faults.js";

export interface UpstashBridge {
  url: string;
  port: number;
  token: string;
  /** Injected faults (tests switch them in-process; `npm run fault` through /__faults). */
  faults: FaultSwitch;
  stop(): Promise<void>;
}

type Reply = Buffer | number | null | Reply[] | string;

/** Upstash's base64 response encoding: every bulk/status string is base64 except the literal "OK". */
function encode(v: Reply, base64: boolean): unknown {
  if (v === null || typeof v === "number") return v;
  if (Array.isArray(v)) return v.map((x) => encode(x, base64));
  const s = typeof v === "string" ? v : v.toString("utf8");
  if (s === "OK" || !base64) return s;
  return (typeof v === "string" ? Buffer.from(v) : v).toString("base64");
}

/**
 * Command name upper-cased: ioredis keys its reply transformers (hgetall -> object, ...) by the
 * lower-case name, and the bridge must pass Redis's raw replies through.
 */
const asArgs = (cmd: unknown[]) => cmd.map((a, i) => (i === 0 ? String(a).toUpperCase() : typeof a === "string" ? a : JSON.stringify(a)));

/** Script flags Upstash accepts and open-source Redis rejects ("Unexpected flag in script shebang"). */
const UPSTASH_ONLY_FLAGS = /^(#!lua[^\n]*?)\bflags=([^\n]*)/;
const sha1 = (s: string) => createHash("sha1").update(s).digest("hex");

/**
 * Upstash's answer when a script flagged `allow-key-locking` touches a key it was not passed in
 * KEYS. The wording is taken from public code that probes Upstash (Upstash's own docs say only
 * that such a script "is rejected"); tests match on "Dynamic keys are not allowed".
 */
export const UNDECLARED_KEY_ERROR = "ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set";

/**
 * Lua put before the body of a script flagged `allow-key-locking`: a local `redis` that checks the
 * keys of every `redis.call`/`redis.pcall` against KEYS, as Upstash does under the flag, and
 * refuses database-wide commands. One line, so the body's line numbers move by one.
 */
const STRICT_PRELUDE = `local redis = (function(r)
local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end
local none = {PING=1, ECHO=1, TIME=1}
local all = {DEL=1, UNLINK=1, EXISTS=1, MGET=1, TOUCH=1, SINTER=1, SUNION=1, SDIFF=1, SINTERSTORE=1, SUNIONSTORE=1, SDIFFSTORE=1, PFCOUNT=1, PFMERGE=1}
local two = {RENAME=1, RENAMENX=1, RPOPLPUSH=1, LMOVE=1, SMOVE=1, COPY=1, ZRANGESTORE=1}
local global = {FLUSHDB=1, FLUSHALL=1, KEYS=1, SCAN=1, RANDOMKEY=1, DBSIZE=1, SWAPDB=1, SELECT=1, MOVE=1}
local function undeclared(cmd, ...)
  local name = string.upper(tostring(cmd))
  local args = {...}
  if global[name] then return true end
  if none[name] then return false end
  local first, last, step = 1, 1, 1
  if all[name] then last = #args
  elseif two[name] then last = 2
  elseif name == 'MSET' or name == 'MSETNX' then last, step = #args, 2
  elseif name == 'ZUNIONSTORE' or name == 'ZINTERSTORE' or name == 'ZDIFFSTORE' then last = 2 + (tonumber(args[2]) or 0); first = 1
  end
  for i = first, last, step do
    if not (name:sub(1, 1) == 'Z' and name:sub(-5) == 'STORE' and i == 2) and args[i] ~= nil and not declared[args[i]] then return true end
  end
  return false
end
local msg = ${JSON.stringify(UNDECLARED_KEY_ERROR)}
return setmetatable({
  call = function(...) if undeclared(...) then error({err = msg}) end return r.call(...) end,
  pcall = function(...) if undeclared(...) then return {err = msg} end return r.pcall(...) end,
}, {__index = r})
end)(redis)`.replace(/\n/g, " ");

/**
 * Rewrites scripts the way Upstash runs them on a plain redis-server: Upstash-only shebang flags
 * are dropped, and a script that carried `allow-key-locking` gets STRICT_PRELUDE, so touching an
 * undeclared key fails here as it does on Upstash. EVALSHA of the original script's sha is mapped
 * to the rewritten one (clients keep their one-round-trip EVALSHA), and SCRIPT LOAD answers the
 * original's sha, as Upstash does.
 */
function scriptShim() {
  const shas = new Map<string, string>();
  const originals = new Map<string, string>();
  const rewrite = (script: string) => {
    const m = UPSTASH_ONLY_FLAGS.exec(script);
    if (!m) return script;
    const flags = m[2]!
      .split(",")
      .map((f) => f.trim())
      .filter(Boolean);
    const kept = flags.filter((f) => f !== "allow-key-locking");
    let out = script.replace(UPSTASH_ONLY_FLAGS, kept.length ? `${m[1]}flags=${kept.join(",")}` : m[1]!.trimEnd());
    if (kept.length !== flags.length) {
      const eol = out.indexOf("\n");
      out = eol < 0 ? `${out}\n${STRICT_PRELUDE}` : `${out.slice(0, eol)}\n${STRICT_PRELUDE}\n${out.slice(eol + 1)}`;
    }
    shas.set(sha1(script), sha1(out));
    originals.set(sha1(out), sha1(script));
    return out;
  };
  const args = (a: string[]): string[] => {
    const name = a[0];
    if ((name === "EVAL" || name === "EVAL_RO") && a[1]) return [name, rewrite(a[1]), ...a.slice(2)];
    if (name === "SCRIPT" && a[1]?.toUpperCase() === "LOAD" && a[2]) return ["SCRIPT", "LOAD", rewrite(a[2])];
    if ((name === "EVALSHA" || name === "EVALSHA_RO") && a[1] && shas.has(a[1])) return [name, shas.get(a[1])!, ...a.slice(2)];
    return a;
  };
  /** A reply as Upstash gives it: SCRIPT LOAD answers the sha of the script as sent. */
  const reply = (a: string[], r: Reply): Reply => {
    if (a[0] !== "SCRIPT" || a[1]?.toUpperCase() !== "LOAD") return r;
    const sha = Buffer.isBuffer(r) ? r.toString() : String(r);
    return originals.get(sha) ?? r;
  };
  return { args, reply };
}

/** The bodies Upstash answers with, by status (a 502/503 comes from its edge, not as JSON). */
const UPSTASH_ERROR_BODIES: Record<number, string> = {
  429: JSON.stringify({ error: "ERR max requests limit exceeded. Limit: 10000, Usage: 10000" }),
  500: JSON.stringify({ error: "ERR internal error" }),
  502: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
  503: JSON.stringify({ error: "ERR service unavailable" }),
};
const upstashErrorBody = (status: number) => UPSTASH_ERROR_BODIES[status] ?? JSON.stringify({ error: `ERR HTTP ${status}` });

/** Redis could not be reached (not a reply from it): Upstash answers a 5xx, never a command error. */
class BackendUnavailable extends Error {}

/** Commands that block their connection: each runs on a connection of its own. */
const BLOCKING = new Set(["BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF"]);
const blocks = (args: string[]) =>
  BLOCKING.has(args[0]!) || ((args[0] === "XREAD" || args[0] === "XREADGROUP") && args.some((a) => a.toUpperCase() === "BLOCK"));
/**
 * Commands that would change the state of a shared connection (subscriber mode, another database,
 * a closed or reset session, replication) are refused, as Upstash's REST API refuses them.
 * Pub/sub goes through the /subscribe and /psubscribe event streams.
 */
const REFUSED = new Set([
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "MONITOR",
  "SELECT",
  "SWAPDB",
  "QUIT",
  "RESET",
  "HELLO",
  "AUTH",
  "CLIENT",
  "SHUTDOWN",
  "SYNC",
  "PSYNC",
  "REPLICAOF",
  "SLAVEOF",
  "DEBUG",
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
]);
/** Connections shared by the non-blocking commands (round robin). */
const POOL_SIZE = 4;
/** Blocking commands at once; more wait for a connection (Upstash's own limit is far higher). */
const MAX_BLOCKING = 64;

type Arg = string | number | boolean;
const isCommand = (c: unknown): c is Arg[] =>
  Array.isArray(c) &&
  c.length > 0 &&
  c.every((a) => typeof a === "string" || typeof a === "number" || typeof a === "boolean" || (typeof a === "object" && a !== null));

/**
 * An Upstash-compatible REST front for a real redis-server, so tests and `npm start` use the real
 * `@upstash/redis` client: `POST /` (one command), `/pipeline`, `/multi-exec`, the `/subscribe` and
 * `/psubscribe` event streams, bearer token, `Upstash-Encoding: base64`, `upstash-sync-token`.
 * No request can wedge or crash it: blocking commands get connections of their own, commands that
 * would change a shared connection's state are refused, and malformed bodies are a 400.
 */
export async function startUpstashBridge(opts: {
  redisUrl: string;
  token: string;
  port?: number;
  faultToken?: string;
}): Promise<UpstashBridge> {
  const faults = new FaultSwitch();
  // RESP2, as Upstash's REST API answers: flat arrays for WITHSCORES/HGETALL, scores as strings.
  const connect = () => {
    const c = new IORedis(opts.redisUrl, { protocol: 2, lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true });
    c.on("error", () => {});
    return c;
  };
  const pool = Array.from({ length: POOL_SIZE }, connect);
  let turn = 0;
  /** The next ready connection (one still reconnecting after a Redis restart is passed over). */
  const shared = () => {
    for (let i = 0; i < POOL_SIZE; i++) {
      const c = pool[turn++ % POOL_SIZE]!;
      if (c.status === "ready") return c;
    }
    return pool[turn++ % POOL_SIZE]!;
  };
  const idleBlocking: IORedis[] = [];
  let blockingOpen = 0;
  const waiting: ((c: IORedis) => void)[] = [];
  const takeBlocking = async (): Promise<IORedis> => {
    const idle = idleBlocking.pop();
    if (idle) return idle;
    if (blockingOpen < MAX_BLOCKING) {
      blockingOpen++;
      return connect();
    }
    return new Promise((r) => waiting.push(r));
  };
  const giveBlocking = (c: IORedis, healthy: boolean) => {
    if (!healthy) {
      c.disconnect();
      blockingOpen--;
      if (waiting.length) {
        blockingOpen++;
        waiting.shift()!(connect());
      }
      return;
    }
    const next = waiting.shift();
    if (next) next(c);
    else idleBlocking.push(c);
  };
  const streams = new Set<IORedis>();
  // Read-your-writes: every answer carries a token that only grows (one Redis, so any answer's
  // token already covers every write before it).
  let syncToken = 0;
  const expected = Buffer.from(`Bearer ${opts.token}`);
  const authorized = (h: string | undefined) => {
    const got = Buffer.from(h ?? "");
    return got.length === expected.length && timingSafeEqual(got, expected);
  };
  const shim = scriptShim();
  /**
   * A request's commands run in order on one connection (a pipeline is Redis-pipelined on it):
   * a shared one, or one of its own when any command blocks.
   */
  const runAll = async (cmds: Arg[][]): Promise<{ result?: Reply; error?: string }[]> => {
    const parsed = cmds.map((c) => shim.args(asArgs(c)));
    const blocking = parsed.some(blocks);
    const conn = blocking ? await takeBlocking() : shared();
    let healthy = true;
    try {
      return await Promise.all(
        parsed.map(async ([name, ...args]) => {
          if (REFUSED.has(name!)) return { error: `ERR Command is not allowed: ${name!.toLowerCase()}` };
          try {
            return { result: shim.reply([name!, ...args], (await conn.callBuffer(name!, ...args)) as Reply) };
          } catch (e) {
            if (!(e instanceof ReplyError)) {
              healthy = false;
              throw new BackendUnavailable((e as Error).message);
            }
            return { error: (e as Error).message };
          }
        }),
      );
    } finally {
      if (blocking) giveBlocking(conn, healthy);
    }
  };
  /** POST /subscribe/<channel> or /psubscribe/<pattern>: Upstash's server-sent events. */
  const subscribe = (req: IncomingMessage, res: ServerResponse, pattern: boolean, target: string) => {
    const sub = connect();
    streams.add(sub);
    const end = () => {
      streams.delete(sub);
      sub.disconnect();
      if (!res.writableEnded) res.end();
    };
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "upstash-sync-token": String(++syncToken),
    });
    const event = (...parts: (string | number)[]) => res.write(`data: ${parts.join(",")}\n\n`);
    sub.on(pattern ? "pmessage" : "message", (...a: string[]) => event(pattern ? "pmessage" : "message", ...a));
    req.on("close", end);
    res.on("close", end);
    (pattern ? sub.psubscribe(target) : sub.subscribe(target))
      .then((n) => event(pattern ? "psubscribe" : "subscribe", target, Number(n)))
      .catch(() => end());
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (opts.faultToken && (await handleFaultAdmin(req, res, faults, opts.faultToken, readBody))) return;
    const verdict = await faults.before();
    if (verdict.kind === "hang") return faults.hold(req.socket);
    if (verdict.kind === "status") {
      const body = upstashErrorBody(verdict.status);
      res.writeHead(verdict.status, { "content-type": body.startsWith("{") ? "application/json" : "text/html" });
      return void res.end(body);
    }
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      if (verdict.kind === "reset") return resetMidResponse(res, status, text);
      if (verdict.kind === "stall") return stallMidResponse(res, status, text, faults);
      res.writeHead(status, { "content-type": "application/json", "upstash-sync-token": String(++syncToken) });
      faults.traffic.bytesOut += Buffer.byteLength(text);
      res.end(text);
    };
    if (!authorized(req.headers.authorization)) return reply(401, { error: "Unauthorized" });
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    const out = (r: { result?: Reply; error?: string }) =>
      r.error !== undefined ? { error: r.error } : { result: encode(r.result ?? null, base64) };
    const path = (req.url ?? "/").split("?")[0]!;
    const stream = /^\/(p?)subscribe\/(.+)$/.exec(path);
    if (stream) {
      await readBody(req);
      let target: string;
      try {
        target = decodeURIComponent(stream[2]!);
      } catch {
        target = stream[2]!;
      }
      return subscribe(req, res, stream[1] === "p", target);
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return reply(400, { error: "ERR failed to parse command" });
    }
    faults.traffic.commands += Array.isArray(body) && Array.isArray(body[0]) ? body.length : 1;
    if (path === "/pipeline" || path === "/multi-exec") {
      if (!Array.isArray(body) || body.length === 0 || !body.every(isCommand))
        return reply(400, { error: "ERR failed to parse pipeline request" });
      const cmds = body as Arg[][];
      if (path === "/pipeline") return reply(200, (await runAll(cmds)).map(out));
      const refused = cmds.map((c) => String(c[0]).toUpperCase()).find((n) => REFUSED.has(n) || BLOCKING.has(n));
      if (refused) return reply(400, { error: `ERR Command is not allowed in a transaction: ${refused.toLowerCase()}` });
      const tx = shared().multi();
      for (const c of cmds) {
        const [n, ...a] = shim.args(asArgs(c));
        tx.callBuffer(n!, ...a);
      }
      let results;
      try {
        results = (await tx.exec()) ?? [];
      } catch (e) {
        if (!(e instanceof ReplyError)) throw new BackendUnavailable((e as Error).message);
        return reply(400, { error: (e as Error).message });
      }
      return reply(
        200,
        results.map(([err, r]) => out(err ? { error: err.message } : { result: r as Reply })),
      );
    }
    if (path !== "/" && path !== "") return reply(404, { error: "ERR unknown endpoint" });
    if (!isCommand(body)) return reply(400, { error: "ERR failed to parse command" });
    const [r] = await runAll([body]);
    return r!.error !== undefined ? reply(400, { error: r!.error }) : reply(200, out(r!));
  };
  const server = createServer(
    (req, res) =>
      void handle(req, res).catch((e) => {
        if (res.headersSent) return void res.destroy();
        // Redis itself is gone (killed, refused): Upstash answers a 5xx, not a command error.
        const status = e instanceof BackendUnavailable ? 503 : 500;
        res
          .writeHead(status, { "content-type": "application/json" })
          .end(JSON.stringify({ error: status === 503 ? "ERR backend unavailable" : "ERR internal error" }));
      }),
  );
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
  server.on("connection", () => faults.traffic.connections++);
  await new Promise<void>((r) => server.listen(opts.port ?? 0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token: opts.token,
    faults,
    async stop() {
      faults.releaseHeld();
      for (const c of streams) c.disconnect();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      for (const c of [...pool, ...idleBlocking]) c.disconnect();
    },
  };
}
