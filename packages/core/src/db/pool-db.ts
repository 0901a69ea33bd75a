import { Pool, type PoolClient } from "@neondatabase/serverless";
import { ensureWebSocket } from "./neon-local.js";
import { CopyInQuery, CopyOutQuery, type CopyResult } from "./copy.js";
import type { Db, Statement } from "./db.js";

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
  /** Server-side statement_timeout of every statement (COPY included); 0 = none. @default 300000 */
  statementTimeoutMs?: number;
}

/**
 * `Db` over the driver's WebSocket `Pool`: the Postgres wire protocol end to end, so sessions,
 * transactions, exported snapshots and COPY work. Bulk jobs (backup, restore, archive) use it;
 * request handlers keep `neon()` (one HTTP round trip per statement or batch, no connection).
 */
export class PoolDb implements Db, CopyDb {
  private readonly pool: Pool;

  /**
   * `max` 2: a session per backup worker. Deadlines: connection set-up (`connectTimeoutMs`), and a
   * server-side `statement_timeout` set when a connection opens (Postgres cancels the statement
   * itself, so nothing is left running if the job dies, and the client gets the error).
   */
  constructor(url: string, opts: PoolDbOptions = {}) {
    ensureWebSocket();
    const statementTimeoutMs = opts.statementTimeoutMs ?? 300_000;
    this.pool = new Pool({
      connectionString: url,
      max: opts.max ?? 2,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
      // No client-side query_timeout: pg arms it per query and never clears it for COPY query
      // objects (a 5-minute timer keeping the process alive); the server-side limit cancels.
    });
    this.pool.on("error", () => {});
    if (statementTimeoutMs) this.pool.on("connect", (c: PoolClient) => void c.query(`SET statement_timeout = ${Math.floor(statementTimeoutMs)}`).catch(() => {}));
  }

  async query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(text, params)).rows as T[];
  }

  async transaction(statements: Statement[]): Promise<Record<string, unknown>[][]> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const out: Record<string, unknown>[][] = [];
      for (const s of statements) out.push((await client.query(s.text, s.params ?? [])).rows);
      await client.query("COMMIT");
      return out;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  /** A pooled connection for `fn`; one that failed is closed rather than handed out again. */
  async session<T>(fn: (s: CopySession) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      return await fn({
        query: async <R,>(text: string, params: unknown[] = []) => (await client.query(text, params)).rows as R[],
        copyOut: (copy, onChunk) => run(client, new CopyOutQuery(copy, onChunk)),
        copyIn: (copy, source) => run(client, new CopyInQuery(copy, source)),
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

function run(client: PoolClient, q: CopyOutQuery | CopyInQuery): Promise<CopyResult> {
  (client as unknown as { query(q: unknown): void }).query(q);
  return q.done;
}
