/** Format of every backup set's manifest.json, written last: a set without one is incomplete. */
export interface ObjectEntry {
  key: string;
  bytes: number;
  sha256: string;
  /** Lines (rows or keys) in the object. */
  rows: number;
}

export interface TableEntry {
  name: string;
  /** A partition's rows are restored into this partitioned table. */
  parent?: string;
  primary_key: string[];
  /** Postgres sets: the columns of each COPY line, in order. */
  columns?: string[];
  rows: number;
  objects: ObjectEntry[];
}

export interface Manifest {
  format: 1;
  kind: "postgres" | "redis" | "archive";
  id: string;
  prefix: string;
  started_at: string;
  finished_at: string;
  /** Postgres: the last migration applied; schema/ holds the migration files. */
  schema_version?: string;
  schema_objects?: ObjectEntry[];
  tables?: TableEntry[];
  /** How table rows are written: `copy` is COPY's text format (Postgres sets). */
  row_format?: "copy";
  /** Postgres: months (YYYY_MM) of interaction partitions the data needs. */
  partitions?: string[];
  /** Redis: the snapshot object and key counts by type. */
  objects?: ObjectEntry[];
  key_counts?: Record<string, number>;
  totals: { objects: number; bytes: number; rows: number };
}

export const BACKUP_ROOT = "backups";
export const setPrefix = (kind: Manifest["kind"], id: string) => `${BACKUP_ROOT}/${kind}/${id}/`;
/** Set ids sort by time: `2026-11-25T21-00-00-000Z`. */
export const newSetId = (now: Date) => now.toISOString().replace(/[:.]/g, "-");
export const setTime = (id: string) => new Date(id.replace(/^(\d{4}-\d{2}-\d{2}T\d{2})-(\d{2})-(\d{2})-(\d{3})Z$/, "$1:$2:$3.$4Z"));

export function allObjects(m: Manifest): ObjectEntry[] {
  return [...(m.schema_objects ?? []), ...(m.tables ?? []).flatMap((t) => t.objects), ...(m.objects ?? [])];
}
