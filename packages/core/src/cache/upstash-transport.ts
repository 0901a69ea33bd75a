import type { IncomingMessage } from "node:http";
import { errors, type Requester, type UpstashRequest, type UpstashResponse } from "@upstash/redis";
import { sleep, withDeadline, type DeadlineOptions } from "../resilience/deadline.js";
import { StoreFailure, isUnavailableStatus, neverSent, timedOut } from "../resilience/store-failure.js";
import { keepAliveHttp, postOnce } from "../resilience/keep-alive.js";

export interface UpstashTransportOptions extends DeadlineOptions {
  url: string;
  token: string;
  /** Network retries of a request that got no response at all (connection refused or reset). */
  retries: number;
  /** How long an idle keep-alive connection is kept (default KEEP_ALIVE_IDLE_MS). */
  idleMs?: number;
  /** Told when a request met a dead keep-alive connection and was sent again (see isStaleSocket). */
  onStaleSocket?: () => void;
}

/**
 * The REST transport under the real `@upstash/redis` client (it accepts any `Requester`), doing
 * what its built-in HTTP client does (base64 responses, read-your-writes sync token, network
 * retries) plus what it cannot:
 *
 * - a deadline on every request, retries included; an expired request is aborted;
 * - failures classified by HTTP status and error kind. The built-in client folds a 429 or a 5xx
 *   into the same `UpstashError` as a WRONGTYPE reply, so a breaker could not tell an outage from a
 *   bad command; here a 400 is a reply error (`UpstashError`, as before) and a timeout, a transport
 *   error, a 429 or a 5xx is a `StoreFailure`.
 *
 * Retries re-send only requests that never reached the server (refused, DNS), and, once, a request
 * written onto a keep-alive connection that was already dead (resilience/keep-alive.ts); any other
 * reset after the request went out may follow an applied write, and is the caller's to retry (WAL
 * ingest dedupes by user and Telegram message id; cache writes are versioned or plain SETs).
 *
 * Requests go through `node:http(s)` on keep-alive connections, not `fetch`: a REST call needs no
 * WHATWG Request, Headers, Response or body stream, and building them cost about three times the
 * CPU of the request itself (measured: ~465 vs ~116 µs per call against a local server). Idle
 * connections are kept KEEP_ALIVE_IDLE_MS (resilience/keep-alive.ts, which says why). `node:http(s)`
 * load with the first call (TLS costs ~12 ms to load): a cold start's import skips it.
 */
export class UpstashTransport implements Requester {
  readYourWrites = true;
  upstashSyncToken = "";
  private readonly base: URL;
  private readonly headers: Record<string, string>;
  private connection?: ReturnType<typeof keepAliveHttp>;

  constructor(private readonly opts: UpstashTransportOptions) {
    this.base = new URL(opts.url.replace(/\/$/, ""));
    this.headers = { "Content-Type": "application/json", authorization: `Bearer ${opts.token}`, "Upstash-Encoding": "base64" };
  }

  request<TResult = unknown>(req: UpstashRequest): Promise<UpstashResponse<TResult>> {
    return req.signal
      ? this.send(req, req.signal)
      : withDeadline(
          this.opts,
          (signal) => this.send(req, signal),
          (cause) => timedOut("redis", cause),
        );
  }

  private async send<TResult>(req: UpstashRequest, signal: AbortSignal | undefined): Promise<UpstashResponse<TResult>> {
    const body = JSON.stringify(req.body);
    const headers = {
      ...this.headers,
      ...req.headers,
      "upstash-sync-token": this.upstashSyncToken,
      "content-length": String(Buffer.byteLength(body)),
    };
    const path = [this.base.pathname.replace(/\/$/, ""), ...(req.path ?? [])].join("/") || "/";
    let res: IncomingMessage | undefined;
    for (let attempt = 0; !res; attempt++) {
      try {
        res = await this.post(path, headers, body, signal);
      } catch (e) {
        if (signal?.aborted) throw timeout(signal);
        // Only a request that never left is sent again (a reset may follow an applied write).
        if (attempt >= this.opts.retries || !neverSent(e))
          throw new StoreFailure("redis", "connection", "redis is unreachable", undefined, { cause: e });
        await sleep(25 * 2 ** attempt, signal).catch(() => {
          throw timeout(signal!);
        });
      }
    }
    const status = res.statusCode ?? 0;
    let text: string;
    try {
      text = await readText(res);
    } catch (e) {
      if (signal?.aborted) throw timeout(signal);
      throw new StoreFailure("redis", "connection", "redis connection reset mid-response", undefined, { cause: e });
    }
    if (isUnavailableStatus(status) || status === 401 || status === 403) {
      throw new StoreFailure("redis", "http", `redis answered HTTP ${status}`, status);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new StoreFailure("redis", "http", `redis answered HTTP ${status} with a body that is not JSON`, status, { cause: e });
    }
    if (status < 200 || status > 299) throw new errors.UpstashError(String((parsed as { error?: unknown }).error ?? `HTTP ${status}`));
    const token = res.headers["upstash-sync-token"];
    this.upstashSyncToken = typeof token === "string" ? token : "";
    if (Array.isArray(parsed)) {
      return parsed.map(({ result, error }: UpstashResponse<unknown>) => ({ result: decode(result), error })) as UpstashResponse<TResult>;
    }
    const { result, error } = parsed as UpstashResponse<unknown>;
    return { result: decode(result) as TResult, error };
  }

  /** One POST; resolves with the response once its headers arrive (the body is read by the caller). */
  private async post(
    path: string,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    const http = await (this.connection ??= keepAliveHttp(this.base.protocol, this.opts.idleMs));
    const { protocol, hostname, port } = this.base;
    return postOnce(http, { protocol, hostname, port, path, headers, body, signal }, this.opts.onStaleSocket);
  }
}

/** A response body as text; rejects if the connection fails or is aborted before it ends. */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
    // A connection closed (or aborted) before the body ended: settles even without an "error".
    res.once("close", () => {
      if (!res.complete) reject(new Error("connection closed mid-response"));
    });
  });
}

const timeout = (signal: AbortSignal) => timedOut("redis", signal.reason);

/** Upstash's base64 encoding, decoded exactly as the built-in client decodes it. */
function decode(raw: unknown): unknown {
  if (typeof raw === "string") return raw === "OK" ? raw : fromBase64(raw);
  if (Array.isArray(raw)) return raw.map((v) => (typeof v === "string" ? fromBase64(v) : Array.isArray(v) ? v.map(decode) : v));
  return raw === undefined || typeof raw === "number" ? raw : null;
}

const fromBase64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
