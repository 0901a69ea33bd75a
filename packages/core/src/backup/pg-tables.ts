import type { Db } from "../db/db.js";

export interface TableInfo {
  name: string;
  /** For a partition: the partitioned table its rows are restored into. */
  parent?: string;
  /** Primary key columns with their types, in index order: the keyset for paging. */
  key: { column: string; type: string }[];
  /** Columns to insert on restore (generated columns excluded). */
  columns: string[];
  /** Heap size when listed (orders the backup's work). */
  bytes: number;
}

/** Tables that are not data (the migration runner owns this one). */
const SKIP = new Set(["schema_migrations"]);

/**
 * Every table of the public schema, for backup and restore. A partitioned table is listed as its
 * partitions (each exported on its own, so large months go in parallel), each naming its parent.
 */
export async function listTables(db: Db, opts: { leaves?: boolean } = {}): Promise<TableInfo[]> {
  const rows = await db.query<{
    name: string;
    parent: string | null;
    key: { column: string; type: string }[];
    columns: string[];
    bytes: string;
  }>(`
    SELECT c.relname AS name, pg_relation_size(c.oid) AS bytes, (SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid) AS parent,
      (SELECT json_agg(json_build_object('column', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY k.ord)
         FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE i.indrelid = c.oid AND i.indisprimary) AS key,
      (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND ${opts.leaves ? "c.relkind = 'r'" : "c.relkind IN ('r', 'p') AND NOT c.relispartition"}
    ORDER BY c.relname`);
  return rows
    .filter((r) => !SKIP.has(r.name))
    .map((r) => {
      if (!r.key?.length) throw new Error(`table ${r.name} has no primary key: it cannot be paged`);
      return { name: r.name, ...(r.parent ? { parent: r.parent } : {}), key: r.key, columns: r.columns, bytes: Number(r.bytes) };
    });
}

const q = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

export { q as quoteIdent };
