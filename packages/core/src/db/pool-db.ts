import { Pool, type PoolClient } from "@neondatabase/serverless";
import { ensureWebSocket } from "./neon-local.js";
import { CopyInQuery, CopyOutQuery, type CopyResult } from "./copy.js";
import type { Db, Statement } from "./db.js";
import { withDeadline } from "../resilience/deadline.js";
import { timedOut } from "../resilience/store-failure.js";
import type { Config } from "../config/schema.js";

/** One database session (connection): statements and COPY, in order, sharing transaction state. */
export interface CopySession {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** `COPY ... TO STDOUT`, each chunk passed to `onChunk` as it arrives (see CopyOutQuery). */
  copyOut(copy: string, onChunk: (chunk: Buffer) => void): Promise<CopyResult>;
  /** `COPY ... FROM STDIN` fed from `source`. */
  copyIn(copy: string, source: AsyncIterable<Buffer>): Promise<CopyResult>;
}

/** Bulk transfer with COPY (backup and restore): work on one session at a time. */
export interface CopyDb {
  session<T>(fn: (s: CopySession) => Promise<T>): Promise<T>;
}

export interface PoolDbOptions {
  max?: number;
  /** @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Server-side statement_timeout of every statement (COPY included); 0 = none. The client waits
   * this plus `connectTimeoutMs` for the answer (Postgres's own cancel included) before it gives
   * the connection up. @default 300000
   */
  statementTimeoutMs?: number;
}

/**
 * `Db` over the driver's WebSocket `Pool`: the Postgres wire protocol end to end, so sessions,
 * transactions, exported snapshots and COPY work. Bulk jobs (backup, restore, archive) use it;
 * request handlers keep `neon()` (one HTTP round trip per statement or batch, no connection).
 */
/** A new session did not answer within the connection deadline. */
export class ConnectTimeoutError extends Error {
  override name = "ConnectTimeoutError";
  constructor(ms: number) {
    super(`database session not ready within ${ms} ms`);
  }
}

const READY = Symbol("session ready");

export class PoolDb implements Db, CopyDb {
  private readonly pool: Pool;
  private readonly connectTimeoutMs: number;
  private readonly statementTimeoutMs: number;

  /**
   * `max` 2: a session per backup worker. Deadlines: connection set-up (`connectTimeoutMs`), and a
   * server-side `statement_timeout` set when a connection opens (Postgres cancels the statement
   * itself, so nothing is left running if the job dies, and the client gets the error).
   */
  constructor(url: string, opts: PoolDbOptions = {}) {
    ensureWebSocket();
    this.statementTimeoutMs = opts.statementTimeoutMs ?? 300_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.pool = new Pool({
      connectionString: url,
      max: opts.max ?? 2,
      connectionTimeoutMillis: this.connectTimeoutMs,
      // No client-side query_timeout: pg arms it per query and never clears it for COPY query
      // objects (a 5-minute timer keeping the process alive); the server-side limit cancels.
    });
    this.pool.on("error", () => {});
  }

  /**
   * A pooled session, proven ready. With the driver's pipelined connect (its default, as in
   * production) `connect` resolves once the start-up is sent, before the server has answered: a
   * hung server would then hang the first statement, which has no client-side timeout. So a new
   * session's first statement (its statement_timeout) must answer within the connection deadline,
   * or the session is discarded and the call fails.
   */
  private async connect(): Promise<PoolClient> {
    const client = await this.pool.connect();
    const marked = client as PoolClient & { [READY]?: true };
    if (marked[READY]) return client;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        client.query(`SET statement_timeout = ${Math.floor(this.statementTimeoutMs)}`),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new ConnectTimeoutError(this.connectTimeoutMs)), this.connectTimeoutMs);
        }),
      ]);
      marked[READY] = true;
      return client;
    } catch (e) {
      client.release(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One statement's answer, or a StoreFailure once Postgres has had its statement_timeout plus the
   * connection deadline to answer (it cancels at the first and says so): no word by then means the
   * network or the server is gone (a frozen host cancels nothing), and the session is given up.
   */
  private answer<T>(statement: Promise<T>): Promise<T> {
    if (!this.statementTimeoutMs) return statement;
    return withDeadline(
      { timeoutMs: this.statementTimeoutMs + this.connectTimeoutMs },
      () => statement,
      (cause) => timedOut("postgres", cause),
    );
  }

  async query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      return (await this.answer(client.query(text, params))).rows as T[];
    } catch (e) {
      broken = isConnectionError(e) ? (e as Error) : undefined;
      throw e;
    } finally {
      client.release(broken);
    }
  }

  async transaction(statements: Statement[]): Promise<Record<string, unknown>[][]> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await this.answer(client.query("BEGIN"));
      const out: Record<string, unknown>[][] = [];
      for (const s of statements) out.push((await this.answer(client.query(s.text, s.params ?? []))).rows);
      await this.answer(client.query("COMMIT"));
      return out;
    } catch (e) {
      broken = isConnectionError(e) ? (e as Error) : undefined;
      if (!broken) await this.answer(client.query("ROLLBACK")).catch(() => {});
      throw e;
    } finally {
      client.release(broken);
    }
  }

  /** A pooled connection for `fn`; one that failed is closed rather than handed out again. */
  async session<T>(fn: (s: CopySession) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      return await fn({
        query: async <R>(text: string, params: unknown[] = []) => (await this.answer(client.query(text, params))).rows as R[],
        copyOut: (copy, onChunk) => this.answer(run(client, new CopyOutQuery(copy, onChunk))),
        copyIn: (copy, source) => this.answer(run(client, new CopyInQuery(copy, source))),
      });
    } catch (e) {
      broken = e as Error;
      throw e;
    } finally {
      client.release(broken);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

/** An error that is not Postgres's answer (no SQLSTATE): the session may be unusable. */
const isConnectionError = (e: unknown) =>
  !(typeof (e as { code?: unknown })?.code === "string" && /^[0-9A-Z]{5}$/.test((e as { code: string }).code));

function run(client: PoolClient, q: CopyOutQuery | CopyInQuery): Promise<CopyResult> {
  (client as unknown as { query(q: unknown): void }).query(q);
  return q.done;
}

/** The jobs' bulk reader (backups, archive, exports): the WebSocket pool with the bulk statement timeout. */
export const bulkReader = (config: Config): PoolDb =>
  new PoolDb(config.databaseUrl, {
    connectTimeoutMs: config.postgres.connectTimeoutMs,
    statementTimeoutMs: config.postgres.bulkStatementTimeoutMs,
  });
