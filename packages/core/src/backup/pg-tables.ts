import type { Db } from "../db/db.js";

export interface TableInfo {
  name: string;
  /** Primary key columns with their types, in index order: the keyset for paging. */
  key: { column: string; type: string }[];
  /** Columns to insert on restore (generated columns excluded). */
  columns: string[];
  /** Identity columns whose sequences are reset after a restore. */
  identity: string[];
}

/** Tables that are not data (the migration runner owns this one). */
const SKIP = new Set(["schema_migrations"]);

/** Every top-level table of the public schema (partitions are read through their parent). */
export async function listTables(db: Db): Promise<TableInfo[]> {
  const rows = await db.query<{ name: string; key: { column: string; type: string }[]; columns: string[]; identity: string[] | null }>(`
    SELECT c.relname AS name,
      (SELECT json_agg(json_build_object('column', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY k.ord)
         FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE i.indrelid = c.oid AND i.indisprimary) AS key,
      (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns,
      (SELECT array_agg(a.attname::text) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> '') AS identity
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    ORDER BY c.relname`);
  return rows.filter((r) => !SKIP.has(r.name)).map((r) => {
    if (!r.key?.length) throw new Error(`table ${r.name} has no primary key: it cannot be paged`);
    return { name: r.name, key: r.key, columns: r.columns, identity: r.identity ?? [] };
  });
}

const q = (ident: string) => `"${ident.replace(/"/g, '""')}"`;

/**
 * One page of a table in primary-key order, each row as its JSON text, and the last key as text
 * (full precision: a timestamp key must not be rounded to milliseconds between pages).
 */
export async function readPage(db: Db, t: TableInfo, after: string[] | null, limit: number): Promise<{ lines: string[]; last: string[] | null }> {
  const cols = t.key.map((k) => `t.${q(k.column)}`);
  const keyText = t.key.map((k, i) => `t.${q(k.column)}::text AS k${i}`).join(", ");
  const cond = after ? `WHERE (${cols.join(", ")}) > (${t.key.map((k, i) => `$${i + 1}::text::${k.type}`).join(", ")})` : "";
  const rows = await db.query<Record<string, string>>(
    `SELECT row_to_json(t)::text AS j, ${keyText} FROM ${q(t.name)} t ${cond} ORDER BY ${cols.join(", ")} LIMIT ${Number(limit)}`, after ?? []);
  const lastRow = rows[rows.length - 1];
  return { lines: rows.map((r) => r.j!), last: lastRow ? t.key.map((_, i) => lastRow[`k${i}`]!) : null };
}

export { q as quoteIdent };
