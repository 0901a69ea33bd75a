import { copyFields, LastLine } from "../db/copy.js";
import type { CopySession } from "../db/pool-db.js";
import { quoteIdent as q, type TableInfo } from "./pg-tables.js";

/*
 * Pages of a table as COPY text (the insertable columns, in `columns` order). COPY takes no
 * parameters, so values (cursors, block numbers) go in as parameters of `set_config` and the COPY
 * reads them back with `current_setting`: nothing is spliced into SQL. Callers run inside a
 * transaction and the settings are local to it, so nothing outlives it on a pooled connection.
 */

const setting = (name: string) => `hitl.backup_${name}`;
const selectColumns = (t: TableInfo) => t.columns.map(q).join(", ");

/** Number of heap blocks of a table (the upper bound of block-range pages). */
export async function tableBlocks(s: CopySession, t: TableInfo): Promise<number> {
  const [row] = await s.query<{ n: string }>("SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::bigint AS n", [
    q(t.name),
  ]);
  return Number(row?.n ?? 0);
}

/**
 * The rows stored in heap blocks [from, to): a TID range scan, read in physical order. Used inside
 * one snapshot for the whole table (a row moved by an update between pages would otherwise be
 * missed or seen twice).
 */
export async function copyBlocks(
  s: CopySession,
  t: TableInfo,
  from: number,
  to: number,
  onChunk: (chunk: Buffer) => void,
): Promise<number> {
  await s.query(`SELECT set_config('${setting("from")}', $1, true), set_config('${setting("to")}', $2, true)`, [
    `(${from},0)`,
    `(${to},0)`,
  ]);
  const { rows } = await s.copyOut(
    `COPY (SELECT ${selectColumns(t)} FROM ONLY ${q(t.name)}
    WHERE ctid >= current_setting('${setting("from")}')::tid AND ctid < current_setting('${setting("to")}')::tid) TO STDOUT`,
    onChunk,
  );
  return rows;
}

/**
 * One keyset page in primary-key order: resumable across snapshots, at the price of reading the
 * heap in key order. Returns the row count and the page's last key (decoded from its last line, as
 * text: full precision for the next page's comparison).
 */
export async function copyKeyPage(
  s: CopySession,
  t: TableInfo,
  after: string[] | null,
  limit: number,
  onChunk: (chunk: Buffer) => void,
): Promise<{ rows: number; last: string[] | null }> {
  const positions = t.key.map((k) => {
    const at = t.columns.indexOf(k.column);
    if (at < 0) throw new Error(`table ${t.name}: key column ${k.column} is not stored`);
    return at;
  });
  const order = t.key.map((k) => q(k.column)).join(", ");
  // The page must walk the key's index: without statistics (fresh data) or with a large LIMIT, the
  // planner may instead sort what is left of the table, for every page.
  const sets = [
    "set_config('enable_sort', 'off', true)",
    ...(after ?? []).map((_, i) => `set_config('${setting(`after_${i}`)}', $${i + 1}, true)`),
  ];
  await s.query(`SELECT ${sets.join(", ")}`, after ?? []);
  const cond = after
    ? `WHERE (${order}) > (${t.key.map((k, i) => `current_setting('${setting(`after_${i}`)}')::${k.type}`).join(", ")})`
    : "";
  const last = new LastLine();
  const { rows } = await s.copyOut(
    `COPY (SELECT ${selectColumns(t)} FROM ONLY ${q(t.name)} ${cond} ORDER BY ${order} LIMIT ${Math.floor(limit)}) TO STDOUT`,
    (chunk) => {
      last.push(chunk);
      onChunk(chunk);
    },
  );
  if (!rows) return { rows, last: null };
  const fields = copyFields(last.value ?? Buffer.alloc(0));
  return { rows, last: positions.map((p) => fields[p] ?? "") };
}
