import type { Db } from "../db/db.js";
import type { Manifest } from "./manifest.js";

type Partial = Pick<Manifest, "kind" | "id" | "prefix" | "started_at">;

/** Upserts a set into the catalog: started (incomplete) or finished (with its manifest's totals). */
export async function recordSet(db: Db, m: Partial | Manifest, verified = false): Promise<void> {
  const done = "totals" in m;
  await db.query(
    `INSERT INTO backup_sets (id, kind, prefix, started_at, finished_at, complete, verified, bytes, objects)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (id) DO UPDATE SET finished_at = EXCLUDED.finished_at, complete = EXCLUDED.complete, verified = EXCLUDED.verified,
      bytes = EXCLUDED.bytes, objects = EXCLUDED.objects`,
    [
      m.id,
      m.kind,
      m.prefix,
      m.started_at,
      done ? m.finished_at : null,
      done,
      verified,
      done ? m.totals.bytes : 0,
      done ? m.totals.objects : 0,
    ],
  );
}

export async function markVerified(db: Db, id: string, verified: boolean): Promise<void> {
  await db.query("UPDATE backup_sets SET verified = $2 WHERE id = $1", [id, verified]);
}

export interface BackupSetRow {
  id: string;
  kind: "postgres" | "redis" | "archive";
  started_at: string;
  finished_at: string | null;
  complete: boolean;
  verified: boolean;
  bytes: number;
  objects: number;
}

/** GET /v1/backups: newest first. */
export async function listBackupSets(db: Db, limit = 200): Promise<{ items: BackupSetRow[] }> {
  const rows = await db.query(
    `SELECT id, kind, started_at, finished_at, complete, verified, bytes::float8 AS bytes, objects
    FROM backup_sets ORDER BY started_at DESC LIMIT $1`,
    [limit],
  );
  const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);
  return {
    items: rows.map(
      (r) => ({ ...r, started_at: iso(r.started_at)!, finished_at: iso(r.finished_at), bytes: Number(r.bytes) }) as BackupSetRow,
    ),
  };
}
