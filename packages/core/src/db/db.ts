import type { NeonQueryFunction } from "@neondatabase/serverless";
import { UnavailableError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { CircuitBreaker } from "../resilience/breaker.js";
import { storeBreaker } from "../resilience/store-breaker.js";
import { callBudget, expiry, timeoutSignal, type DeadlineOptions } from "../resilience/deadline.js";
import { StoreFailure, isStoreFailure, isUnavailableStatus, timedOut } from "../resilience/store-failure.js";
import { isConnectionError, withSafeRetry, type RetryOptions } from "./retry.js";
import { boardWrite } from "./ride-along.js";

export interface Statement {
  text: string;
  params?: unknown[];
}

/**
 * The narrow Postgres port: one statement, or a batch run as one transaction, each exactly one
 * network round trip (Neon's HTTP API). Callers branch on SQLSTATE via `error.code`.
 */
export interface Db {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  transaction(statements: Statement[]): Promise<Record<string, unknown>[][]>;
}

export interface NeonDbOptions extends DeadlineOptions {
  url: string;
  /** Local mode: the devstack's Neon proxy, applied when the driver loads. */
  localProxyUrl?: string;
  metrics?: Metrics;
  log?: Logger;
  retry: RetryOptions;
  breaker: { failureThreshold: number; cooldownMs: number };
}

/** Neon answered HTTP 507: the response (or request) is over its 10 MiB limit. A bug of ours, not an outage. */
export class ResultTooLargeError extends Error {
  override name = "ResultTooLargeError";
}

/**
 * The driver's fetch, with Neon's HTTP status kept: the driver turns every non-400 answer into
 * `Server error (HTTP status N)`, so the status is read here and thrown as a typed error (the
 * driver keeps it as the NeonDbError's `sourceError`).
 */
async function statusAwareFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const res = await fetch(input, init);
  if (res.ok || res.status === 400) return res;
  const body = await res.text().catch(() => "");
  if (res.status === 507) throw new ResultTooLargeError(`Neon refused a result over its size limit: ${body.slice(0, 200)}`);
  if (isUnavailableStatus(res.status)) throw new StoreFailure("postgres", "http", `postgres answered HTTP ${res.status}`, res.status);
  return new Response(body, { status: res.status, headers: res.headers });
}

/** What NeonDb asks of the driver: one statement, or statements as one transaction; each is one HTTP round trip. */
export interface SqlRunner {
  query(text: string, params: unknown[], opts: { fetchOptions: RequestInit }): Promise<Record<string, unknown>[]>;
  transaction(statements: Statement[], opts: { fetchOptions: RequestInit }): Promise<Record<string, unknown>[][]>;
}

/**
 * The Neon driver loads with the first query, not at cold start: paths that need only Redis
 * (message ingest, claim) never pay for its code (about a fifth of the API bundle).
 */
async function loadDriver(localProxyUrl: string | undefined) {
  const driver = await import("@neondatabase/serverless");
  driver.neonConfig.fetchFunction = statusAwareFetch;
  if (localProxyUrl) (await import("./neon-local.js")).useLocalNeonProxy(localProxyUrl);
  return driver;
}

/** `neon(url)`'s queries over the lazily loaded driver (a failed load is tried again on the next query). */
function neonRunner(url: string, localProxyUrl: string | undefined): SqlRunner {
  let sql: Promise<NeonQueryFunction<false, false>> | undefined;
  const load = () =>
    (sql ??= loadDriver(localProxyUrl)
      .then(({ neon }) => neon(url))
      .catch((e: unknown) => {
        sql = undefined;
        throw e;
      }));
  return {
    query: async (text, params, opts) => (await load()).query(text, params, opts) as Promise<Record<string, unknown>[]>,
    transaction: async (statements, opts) => {
      const q = await load();
      return q.transaction(statements.map((s) => q.query(s.text, s.params ?? [])) as never, opts) as Promise<Record<string, unknown>[][]>;
    },
  };
}

/**
 * `Db` over `neon()` HTTP queries. Every call has a deadline (the fetch is aborted; Neon, and the
 * local proxy, cancel the statement when its client goes away), connection failures are retried
 * with backoff inside that deadline, and a circuit breaker turns a Postgres that keeps failing
 * into immediate 503s. `sql` executes and is public so tests can wrap it in a counting Proxy
 * (each `query` or `transaction` call on it is one round trip).
 */
export class NeonDb implements Db {
  sql: SqlRunner;
  readonly breaker: CircuitBreaker;

  constructor(private readonly opts: NeonDbOptions) {
    this.sql = neonRunner(opts.url, opts.localProxyUrl);
    this.breaker = storeBreaker("postgres", opts.breaker, opts);
  }

  /**
   * A request's first write carries the statement riding along with it (its audit row, see
   * RideAlong): the two run as one transaction in the same round trip.
   */
  query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    const rider = boardWrite([{ text, params }]);
    if (!rider) return this.timed("query", (fetchOptions) => this.sql.query(text, params, { fetchOptions }) as Promise<T[]>);
    return this.withRider(rider, "query", [{ text, params }]).then(([rows]) => rows as T[]);
  }

  transaction(statements: Statement[]): Promise<Record<string, unknown>[][]> {
    const rider = boardWrite(statements);
    if (!rider) return this.timed("transaction", (fetchOptions) => this.sql.transaction(statements, { fetchOptions }));
    return this.withRider(rider, "transaction", statements);
  }

  private async withRider(
    rider: NonNullable<ReturnType<typeof boardWrite>>,
    kind: string,
    statements: Statement[],
  ): Promise<Record<string, unknown>[][]> {
    try {
      const results = await this.timed(kind, (fetchOptions) => this.sql.transaction([...statements, rider.statement], { fetchOptions }));
      rider.settle(results.at(-1)?.[0] ?? {});
      return results.slice(0, -1);
    } catch (e) {
      rider.settle(undefined);
      throw e;
    }
  }

  private async timed<T>(kind: string, fn: (fetchOptions: { signal?: AbortSignal }) => Promise<T>): Promise<T> {
    const m = this.opts.metrics;
    const started = Date.now();
    const budget = callBudget(this.opts, started);
    const timer = budget === undefined ? undefined : timeoutSignal(budget);
    const signal = timer?.signal;
    const deadline = budget === undefined ? undefined : started + budget;
    // The deadline is ours even if the driver misses the abort (a body read left pending: nodejs/node#56917).
    const expired = signal && expiry(signal);
    expired?.catch(() => {}); // settled here too when no attempt ran (an open breaker)
    const attempt = () => (expired ? Promise.race([fn({ signal }), expired]) : fn({ signal }));
    m?.poolActive.inc();
    const end = m?.queryDuration.startTimer({ kind });
    try {
      return await this.breaker.run(
        () =>
          withSafeRetry(
            () =>
              attempt().catch((e) => {
                throw classify(e, signal);
              }),
            { ...this.opts.retry, deadline: () => deadline },
          ),
        isStoreFailure,
      );
    } catch (e) {
      if (!isStoreFailure(e)) throw e;
      m?.connectionErrors.inc({ store: "postgres" });
      if (e.kind === "timeout") m?.storeTimeouts.inc({ store: "postgres" });
      this.opts.log?.warn("postgres call failed", { kind: e.kind, status: e.status, elapsed_ms: Date.now() - started });
      throw new UnavailableError("postgres", this.breaker.retryAfterSeconds(), { cause: e });
    } finally {
      timer?.clear();
      end?.();
      m?.poolActive.dec();
    }
  }
}

/** A driver error as what it means for the store: deadline, unreachable, unavailable, or Postgres's own answer. */
function classify(e: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return timedOut("postgres", e);
  const source = (e as { sourceError?: unknown }).sourceError;
  if (source instanceof StoreFailure || source instanceof ResultTooLargeError) return source;
  if (isConnectionError(e)) return new StoreFailure("postgres", "connection", "postgres is unreachable", undefined, { cause: e });
  return e;
}
