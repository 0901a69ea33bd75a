import { copyFields, LastLine } from "../db/copy.js";
import type { CopyDb } from "../db/pool-db.js";
import { quoteIdent as q, type TableInfo } from "./pg-tables.js";

/** The session setting carrying key column `i` of the cursor (COPY cannot take parameters). */
const cursorSetting = (i: number) => `hitl.backup_after_${i}`;

/**
 * One page of a table in primary-key order as COPY text (the insertable columns, in `columns`
 * order), each chunk passed to `onChunk` as it arrives. The cursor goes in as parameters to
 * `set_config` on the same session and the COPY reads it back with `current_setting`: no value is
 * ever spliced into SQL. Returns the row count and the page's last key (decoded from its last line,
 * as text: full precision for the next page's comparison).
 */
export async function copyPage(db: CopyDb, t: TableInfo, after: string[] | null, limit: number, onChunk: (chunk: Buffer) => void): Promise<{ rows: number; last: string[] | null }> {
  const positions = t.key.map((k) => {
    const at = t.columns.indexOf(k.column);
    if (at < 0) throw new Error(`table ${t.name}: key column ${k.column} is not stored`);
    return at;
  });
  const order = t.key.map((k) => q(k.column)).join(", ");
  const setup = after
    ? [{ text: `SELECT ${after.map((_, i) => `set_config('${cursorSetting(i)}', $${i + 1}, false)`).join(", ")}`, params: after }]
    : [];
  const cond = after ? `WHERE (${order}) > (${t.key.map((k, i) => `current_setting('${cursorSetting(i)}')::${k.type}`).join(", ")})` : "";
  const last = new LastLine();
  const { rows } = await db.copyOut(setup, `COPY (SELECT ${t.columns.map(q).join(", ")} FROM ${q(t.name)} ${cond} ORDER BY ${order} LIMIT ${Math.floor(limit)}) TO STDOUT`, (chunk) => {
    last.push(chunk);
    onChunk(chunk);
  });
  if (!rows) return { rows, last: null };
  const fields = copyFields(last.value ?? Buffer.alloc(0));
  return { rows, last: positions.map((p) => fields[p] ?? "") };
}
