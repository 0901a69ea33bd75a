import { neon, type NeonQueryFunction } from "@neondatabase/serverless";
import { UnavailableError } from "../errors.js";
import type { Metrics } from "../metrics/registry.js";
import { isConnectionError, withConnectRetry, type RetryOptions } from "./retry.js";

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

export interface NeonDbOptions {
  url: string;
  metrics?: Metrics;
  retry: RetryOptions;
}

/**
 * `Db` over `neon()` HTTP queries. `sql` executes and is public so tests can wrap it in a counting
 * Proxy (each `query` or `transaction` call on it is one round trip); `build` only builds the
 * statements of a batch.
 */
export class NeonDb implements Db {
  sql: NeonQueryFunction<false, false>;
  private readonly build: NeonQueryFunction<false, false>;

  constructor(private readonly opts: NeonDbOptions) {
    this.sql = this.build = neon(opts.url);
  }

  query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    return this.timed("query", () => this.sql.query(text, params) as Promise<T[]>);
  }

  transaction(statements: Statement[]): Promise<Record<string, unknown>[][]> {
    return this.timed("transaction", () =>
      this.sql.transaction(statements.map((s) => this.build.query(s.text, s.params ?? [])) as never) as Promise<Record<string, unknown>[][]>);
  }

  private async timed<T>(kind: string, fn: () => Promise<T>): Promise<T> {
    const m = this.opts.metrics;
    m?.poolActive.inc();
    const end = m?.queryDuration.startTimer({ kind });
    try {
      return await withConnectRetry(fn, this.opts.retry);
    } catch (e) {
      if (isConnectionError(e)) {
        m?.connectionErrors.inc({ store: "postgres" });
        throw new UnavailableError("postgres", 5, { cause: e });
      }
      throw e;
    } finally {
      end?.();
      m?.poolActive.dec();
    }
  }
}
