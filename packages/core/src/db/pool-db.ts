import { Pool } from "@neondatabase/serverless";
import type { Db, Statement } from "./db.js";

/**
 * `Db` over the driver's WebSocket `Pool`: the Postgres wire protocol end to end. Bulk readers
 * (backup, archive) use it: a 2,500-row page costs ~60 ms here against ~100 ms over HTTP, where
 * every page is also re-encoded as JSON by the HTTP endpoint. Request handlers keep `neon()`.
 */
export class PoolDb implements Db {
  private readonly pool: Pool;

  constructor(url: string, max = 2) {
    this.pool = new Pool({ connectionString: url, max });
    this.pool.on("error", () => {});
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

  end(): Promise<void> {
    return this.pool.end();
  }
}
