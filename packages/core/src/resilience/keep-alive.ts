import type { Agent, ClientRequest, IncomingMessage, OutgoingHttpHeaders, request as httpRequest } from "node:http";

/**
 * Keep-alive connections to the stores' HTTP endpoints (Upstash REST, Neon's /sql), shared by
 * both transports.
 *
 * How long an idle connection is kept: neither Upstash nor Neon documents an idle timeout for its
 * HTTP endpoint (searched their docs, the drivers' issues and Neon's proxy source, whose HTTP
 * server sets none: it closes a connection only on shutdown or when over its connection limit).
 * 4 s (undici's default, what `fetch` did) made a Lambda serving a request every few seconds pay
 * a new TCP and TLS handshake to each store on almost every request. 60 s keeps a connection
 * across the gaps of any instance that is kept warm (Lambda freezes an idle instance; it keeps a
 * frozen one for minutes), and stays well below the 350 s after which an AWS load balancer
 * forgets an idle TCP flow.
 *
 * A connection the server (or a middlebox) closed while this instance was frozen is found dead
 * only when the next request is written onto it: `postOnce` then sends that request once more, on
 * a new connection (see `isStaleSocket` for why that is safe).
 */
export const KEEP_ALIVE_IDLE_MS = 60_000;

interface Http {
  request: typeof httpRequest;
  agent: Agent;
}

/** node:http or node:https with a keep-alive agent, loaded on first use (TLS costs ~12 ms to load: a cold start's import skips it). */
export async function keepAliveHttp(protocol: string, idleMs = KEEP_ALIVE_IDLE_MS): Promise<Http> {
  const { request, Agent } = protocol === "https:" ? await import("node:https") : await import("node:http");
  return { request: request as typeof httpRequest, agent: new Agent({ keepAlive: true, timeout: idleMs }) };
}

/**
 * A request that failed on a reused keep-alive connection before any byte of an answer: the
 * connection was dead when the request was written (ECONNRESET, EPIPE, or "socket hang up").
 *
 * Why sending it again is safe: an HTTP/1.1 server closes an idle persistent connection only
 * between requests (RFC 9112 §9.3.1 lets a client retry such a request), so a request written onto a
 * connection the server had already closed was never read by it; the kernel answered it with a
 * reset. The one case that looks the same, a server that dies while handling a request on a
 * reused connection, is no worse than the caller's own retry, which every write we send already
 * survives (WAL ingest dedupes by user and Telegram id, claims are leases that expire and
 * redeliver, cache writes are versioned or plain SETs, Postgres writes are idempotent on their
 * message id or Idempotency-Key). Only one such retry is made, at once, on a new connection.
 */
export function isStaleSocket(e: unknown, req: ClientRequest, answered: boolean): boolean {
  if (answered || !req.reusedSocket) return false;
  const code = (e as { code?: unknown })?.code;
  return code === "ECONNRESET" || code === "EPIPE" || code === "ECONNABORTED";
}

/** Closes the agent's idle connections: after one proved dead, the others idle as long are too. */
function dropIdle(agent: Agent): void {
  for (const sockets of Object.values(agent.freeSockets)) for (const s of sockets ?? []) s.destroy();
}

export interface PostOptions {
  protocol: string;
  hostname: string;
  port: string;
  path: string;
  method?: string;
  headers: OutgoingHttpHeaders;
  body: string;
  signal?: AbortSignal;
}

/**
 * One request; resolves with the response once its headers arrive (the caller reads the body). A
 * stale keep-alive connection costs at most one retry on a new connection (`isStaleSocket`);
 * `onStale` is told (metrics, tests).
 */
export async function postOnce(http: Http, o: PostOptions, onStale?: () => void): Promise<IncomingMessage> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send(http, o);
    } catch (e) {
      const stale = (e as { staleSocket?: boolean }).staleSocket === true;
      if (!stale || attempt > 0 || o.signal?.aborted) throw e;
      onStale?.();
      dropIdle(http.agent);
    }
  }
}

function send(http: Http, o: PostOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      {
        protocol: o.protocol,
        hostname: o.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: o.port,
        path: o.path,
        method: o.method ?? "POST",
        headers: o.headers,
        agent: http.agent,
        signal: o.signal,
      },
      (res) => {
        answered = true;
        resolve(res);
      },
    );
    // `on`, not `once`: an error after the answer (an abort, a reset) must find a listener too.
    req.on("error", (e: Error & { staleSocket?: boolean }) => {
      if (isStaleSocket(e, req, answered)) e.staleSocket = true;
      reject(e);
    });
    req.end(o.body);
  });
}

/**
 * `fetch` for the Neon driver over `postOnce` (one POST with a string body, the answer read
 * whole): keep-alive connections held as above, a stale one retried once, and no WHATWG request
 * machinery on the way out (the driver only reads status, headers and the body of the answer).
 */
export function keepAliveFetch(idleMs = KEEP_ALIVE_IDLE_MS, onStale?: () => void) {
  const agents = new Map<string, Promise<Http>>();
  return async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    let http = agents.get(url.protocol);
    if (!http) agents.set(url.protocol, (http = keepAliveHttp(url.protocol, idleMs)));
    const body = typeof init.body === "string" ? init.body : init.body == null ? "" : String(init.body);
    const headers: OutgoingHttpHeaders = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    headers["content-length"] = String(Buffer.byteLength(body));
    // As fetch does: a compressed answer is accepted (and decoded below).
    headers["accept-encoding"] ??= "gzip, deflate, br";
    const res = await postOnce(
      await http,
      {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: init.method,
        headers,
        body,
        signal: init.signal ?? undefined,
      },
      onStale,
    );
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      res.on("data", (c: Buffer) => chunks.push(c));
      res.once("end", resolve);
      res.on("error", reject);
      res.once("close", () => {
        if (!res.complete) reject(Object.assign(new Error("connection closed mid-response"), { code: "ECONNRESET" }));
      });
    });
    const status = res.statusCode ?? 0;
    const encoding = String(res.headers["content-encoding"] ?? "").toLowerCase();
    let raw = Buffer.concat(chunks);
    if (raw.length && ["gzip", "deflate", "br"].includes(encoding)) {
      const zlib = await import("node:zlib");
      raw = encoding === "gzip" ? zlib.gunzipSync(raw) : encoding === "br" ? zlib.brotliDecompressSync(raw) : zlib.inflateSync(raw);
    }
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined || (encoding && (k === "content-encoding" || k === "content-length"))) continue;
      out.set(k, Array.isArray(v) ? v.join(", ") : v);
    }
    return new Response([101, 204, 205, 304].includes(status) ? null : raw, { status, headers: out });
  };
}
