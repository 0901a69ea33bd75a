import createFetchClient, { type MaybeOptionalInit } from "openapi-fetch";
import type { paths } from "./schema.js";
import { OPERATIONS } from "./operations.js";
import { HitlApiError, HitlRequestError } from "./errors.js";

export { HitlApiError, HitlRequestError } from "./errors.js";
export { OPERATIONS } from "./operations.js";
export type { components, operations, paths } from "./schema.js";

type Ops = typeof OPERATIONS;
export type OperationId = keyof Ops;
type PathOf<K extends OperationId> = Ops[K]["path"];
type MethodOf<K extends OperationId> = Ops[K]["method"];
type Def<K extends OperationId> = paths[PathOf<K>][MethodOf<K> & keyof paths[PathOf<K>]];
type Init<K extends OperationId> = MaybeOptionalInit<paths[PathOf<K>], MethodOf<K> & keyof paths[PathOf<K>]>;
type RequiredKeys<T> = { [P in keyof T]-?: object extends Pick<T, P> ? never : P }[keyof T];
type Args<K extends OperationId> = RequiredKeys<Init<K>> extends never ? [init?: Init<K>] : [init: Init<K>];
type Success<D> = D extends { responses: infer R }
  ? {
      [S in keyof R]: S extends 200 | 201 | 202
        ? R[S] extends { content: { "application/json": infer B } }
          ? B
          : never
        : S extends 204
          ? null
          : never;
    }[keyof R]
  : never;

/** One method per operation, named by its operationId; each resolves to the success body (null for 204). */
export type HitlClient = { [K in OperationId]: (...args: Args<K>) => Promise<Success<Def<K>>> };

export interface HitlClientOptions {
  /** The API's base URL, e.g. http://127.0.0.1:8787 or the Function URL. */
  baseUrl: string;
  /** An API key (`npm run keygen`). */
  apiKey?: string;
  /** Per attempt. @default 10000 */
  timeoutMs?: number;
  /** Further attempts after a 503, a 429 or a failed connection, for calls safe to repeat. @default 3 */
  retries?: number;
  /** Ceiling of one wait between attempts (Retry-After included). @default 10000 */
  maxDelayMs?: number;
  /** A fetch of your own (tests, proxies). */
  fetch?: (request: Request) => Promise<Response>;
}

const RETRYABLE = new Set([429, 503]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A typed client of the HITL data layer, on openapi-fetch and the types openapi-typescript generates
 * from the API's document.
 * - Every call has a timeout (per attempt).
 * - A 503 or 429, or a connection that failed, is retried up to `retries` times, waiting Retry-After
 *   when given (else 0.2 s doubling), with full jitter, never past `maxDelayMs`, and only for calls
 *   safe to repeat: GET, PUT and DELETE, and the POST/PATCH operations that honour Idempotency-Key,
 *   to which the client adds one key (the same on every attempt) unless the caller gave one.
 * - An error answer throws HitlApiError carrying the API's error code; no answer throws HitlRequestError.
 */
export function createHitlClient(opts: HitlClientOptions): HitlClient {
  const http = createFetchClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/$/, ""),
    headers: opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : undefined,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const retries = opts.retries ?? 3;
  const maxDelayMs = opts.maxDelayMs ?? 10_000;

  async function call(id: OperationId, init: Record<string, unknown> = {}): Promise<unknown> {
    const op = OPERATIONS[id];
    let params = init.params as { header?: Record<string, unknown> } | undefined;
    if (op.retry === "keyed" && !params?.header?.["Idempotency-Key"]) {
      params = { ...params, header: { ...params?.header, "Idempotency-Key": crypto.randomUUID() } };
    }
    const repeatable = op.retry !== "once";
    for (let attempt = 0; ; attempt++) {
      const signal = AbortSignal.timeout(timeoutMs);
      let res: Response;
      let data: unknown;
      let error: unknown;
      try {
        ({
          response: res,
          data,
          error,
        } = await (http.request as (m: string, p: string, i: object) => Promise<{ response: Response; data?: unknown; error?: unknown }>)(
          op.method,
          op.path,
          { ...init, params, signal: init.signal ? AbortSignal.any([signal, init.signal as AbortSignal]) : signal },
        ));
      } catch (e) {
        if (repeatable && attempt < retries && !(init.signal as AbortSignal | undefined)?.aborted) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new HitlRequestError(id, signal.aborted, { cause: e });
      }
      if (res.ok) return res.status === 204 ? null : data;
      const retryAfter = Number(res.headers.get("retry-after"));
      if (repeatable && RETRYABLE.has(res.status) && attempt < retries) {
        await sleep(
          Number.isFinite(retryAfter) && retryAfter > 0
            ? Math.min(maxDelayMs, retryAfter * 1000 * (0.5 + Math.random() / 2))
            : backoff(attempt),
        );
        continue;
      }
      const body = (error ?? {}) as { error?: { code?: string; message?: string; details?: unknown } };
      throw new HitlApiError(
        id,
        res.status,
        body.error?.code ?? `http_${res.status}`,
        body.error?.message ?? res.statusText,
        body.error?.details,
        res.headers.get("x-request-id") ?? undefined,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      );
    }
  }
  /** Full jitter over 0.2 s doubling, capped. */
  const backoff = (attempt: number) => Math.random() * Math.min(maxDelayMs, 200 * 2 ** attempt);

  return Object.fromEntries(
    Object.keys(OPERATIONS).map((id) => [id, (init?: Record<string, unknown>) => call(id as OperationId, init)]),
  ) as unknown as HitlClient;
}
