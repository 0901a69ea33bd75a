import type { Config } from "../config/schema.js";
import { bulkReader, type PoolDb } from "../db/pool-db.js";
import { UserHasher } from "../gdpr/hash.js";
import type { Logger } from "../log.js";
import type { Db } from "../db/db.js";
import { S3BlobStore } from "../storage/s3-blob.js";
import type { ExportStarter } from "./api.js";
import { runExport, type ExportJobDeps, type ExportRunResult } from "./run.js";

/** The export job's stores from the configuration: the WebSocket pool for the cursor, the SDK store for the multipart upload. */
export function exportJobDeps(config: Config, db: Db, log?: Logger): ExportJobDeps & { reader: PoolDb } {
  return {
    db,
    reader: bulkReader(config),
    store: new S3BlobStore(config.s3),
    hasher: new UserHasher(config.erasureHashKey),
    log,
  };
}

/**
 * Local mode (`npm start`, tests): a start runs the export in this process, in the background (the
 * request answers 202 at once). `idle()` resolves when every started run has ended; `close()` ends
 * the pool once they have.
 */
export function inProcessExportStarter(deps: ExportJobDeps & { reader: PoolDb }): ExportStarter & {
  idle(): Promise<ExportRunResult[]>;
  close(): Promise<void>;
} {
  const running = new Set<Promise<ExportRunResult>>();
  const results: ExportRunResult[] = [];
  return {
    async start(id) {
      const run = runExport(deps, id).then(
        (r) => {
          results.push(r);
          return r;
        },
        (e: unknown) => {
          deps.log?.error("export run failed", { export_id: id, err: e as Error });
          const r: ExportRunResult = { status: "failed", id, reason: String(e) };
          results.push(r);
          return r;
        },
      );
      running.add(run);
      void run.finally(() => running.delete(run));
    },
    async idle() {
      while (running.size) await Promise.all([...running]);
      return results.splice(0);
    },
    async close() {
      while (running.size) await Promise.all([...running]);
      await deps.reader.end();
    },
  };
}

/**
 * Exports no run is working on: queued for over a minute (a start that never ran: the process
 * stopped first), or running with an expired lease (the run died). `npm start` starts them again
 * (each restarts from the beginning and writes the same key). In Lambda, a run that died is
 * retried by Lambda itself under the same request id, which takes its own lease back at once.
 */
export async function orphanedExports(db: Db, limit = 20): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT id FROM exports WHERE (state = 'queued' AND created_at < now() - interval '1 minute') OR (state = 'running' AND lease_expires_at < now())
      ORDER BY created_at LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.id);
}
