import { errors, type Requester, type UpstashRequest, type UpstashResponse } from "@upstash/redis";
import { sleep, withDeadline, type DeadlineOptions } from "../resilience/deadline.js";
import { StoreFailure, isUnavailableStatus, neverSent } from "../resilience/store-failure.js";

export interface UpstashTransportOptions extends DeadlineOptions {
  url: string;
  token: string;
  /** Network retries of a request that got no response at all (connection refused or reset). */
  retries: number;
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
 * Retries re-send only requests that never reached the server (refused, DNS): a reset after the
 * request went out may follow an applied write, and is the caller's to retry (WAL ingest dedupes
 * by user and Telegram message id; cache writes are versioned or plain SETs).
 */
export class UpstashTransport implements Requester {
  readYourWrites = true;
  upstashSyncToken = "";
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: UpstashTransportOptions) {
    this.base = opts.url.replace(/\/$/, "");
    this.headers = { "Content-Type": "application/json", authorization: `Bearer ${opts.token}`, "Upstash-Encoding": "base64" };
  }

  request<TResult = unknown>(req: UpstashRequest): Promise<UpstashResponse<TResult>> {
    return req.signal ? this.send(req, req.signal) : withDeadline(this.opts, (signal) => this.send(req, signal));
  }

  private async send<TResult>(req: UpstashRequest, signal: AbortSignal | undefined): Promise<UpstashResponse<TResult>> {
    const headers = { ...this.headers, ...req.headers, "upstash-sync-token": this.upstashSyncToken };
    const init: RequestInit = { method: "POST", headers, body: JSON.stringify(req.body), signal, keepalive: true };
    const url = [this.base, ...(req.path ?? [])].join("/");
    let res: Response | undefined;
    for (let attempt = 0; !res; attempt++) {
      try {
        res = await fetch(url, init);
      } catch (e) {
        if (signal?.aborted) throw timeout(signal);
        // Only a request that never left is sent again (a reset may follow an applied write).
        if (attempt >= this.opts.retries || !neverSent(e)) throw new StoreFailure("redis", "connection", "redis is unreachable", undefined, { cause: e });
        await sleep(25 * 2 ** attempt, signal).catch(() => { throw timeout(signal!); });
      }
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (signal?.aborted) throw timeout(signal);
      throw new StoreFailure("redis", "connection", "redis connection reset mid-response", undefined, { cause: e });
    }
    if (isUnavailableStatus(res.status) || res.status === 401 || res.status === 403) {
      throw new StoreFailure("redis", "http", `redis answered HTTP ${res.status}`, res.status);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new StoreFailure("redis", "http", `redis answered HTTP ${res.status} with a body that is not JSON`, res.status, { cause: e });
    }
    if (!res.ok) throw new errors.UpstashError(String((body as { error?: unknown }).error ?? `HTTP ${res.status}`));
    this.upstashSyncToken = res.headers.get("upstash-sync-token") ?? "";
    if (Array.isArray(body)) {
      return body.map(({ result, error }: UpstashResponse<unknown>) => ({ result: decode(result), error })) as UpstashResponse<TResult>;
    }
    const { result, error } = body as UpstashResponse<unknown>;
    return { result: decode(result) as TResult, error };
  }
}

function timeout(signal: AbortSignal): StoreFailure {
  return new StoreFailure("redis", "timeout", "redis did not answer before the deadline", undefined, { cause: signal.reason });
}

/** Upstash's base64 encoding, decoded exactly as the built-in client decodes it. */
function decode(raw: unknown): unknown {
  if (typeof raw === "string") return raw === "OK" ? raw : fromBase64(raw);
  if (Array.isArray(raw)) return raw.map((v) => (typeof v === "string" ? fromBase64(v) : Array.isArray(v) ? v.map(decode) : v));
  return raw === undefined || typeof raw === "number" ? raw : null;
}

const fromBase64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
