import { createHash } from "node:crypto";
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
  /** 2: the manifest carries `checksum`, the sha256 of its own canonical JSON without it. */
  format: 1 | 2;
  checksum?: string;
  kind: "postgres" | "redis" | "archive";
  id: string;
  prefix: string;
  started_at: string;
  finished_at: string;
  /** Postgres: the last migration applied; schema/ holds the migration files. */
  schema_version?: string;
  schema_objects?: ObjectEntry[];
  tables?: TableEntry[];
  /**
   * How rows are written: `copy` is COPY's text format (Postgres sets); archives are `parquet`
   * objects, or gzipped NDJSON (`ndjson`, and archives written before the field existed).
   */
  row_format?: "copy" | "parquet" | "ndjson";
  /** Parquet archives: the columns of every object, in order, with their types. */
  columns?: { name: string; type: string }[];
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

const canonical = (m: Manifest) => {
  const { checksum: _c, ...rest } = m;
  return JSON.stringify(rest);
};

/** The text a manifest is stored as: format 2, with the checksum of everything else in it. */
export function manifestText(m: Manifest): string {
  const sealed: Manifest = { ...m, format: 2, checksum: undefined };
  sealed.checksum = createHash("sha256").update(canonical(sealed)).digest("hex");
  return JSON.stringify(sealed, null, 2);
}

/**
 * A stored manifest, checked: a flipped byte anywhere in it (a count, a key, an object's sha256)
 * makes `problem` say so. Format 1 manifests (before checksums) carry none to check.
 */
export function readManifest(raw: Buffer | string): { manifest: Manifest | null; problem?: string } {
  let m: Manifest;
  try {
    m = JSON.parse(raw.toString()) as Manifest;
  } catch {
    return { manifest: null, problem: "manifest unreadable (not JSON)" };
  }
  if (m.format === 1 && m.checksum === undefined) return { manifest: m };
  const sum = createHash("sha256").update(canonical(m)).digest("hex");
  return sum === m.checksum
    ? { manifest: m }
    : { manifest: m, problem: "manifest checksum mismatch: the manifest changed after it was written" };
}
