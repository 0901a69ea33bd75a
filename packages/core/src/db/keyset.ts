import { ValidationError } from "../errors.js";

/**
 * Opaque keyset cursors for paged lists: the last row's sort key, as text (full precision, e.g.
 * microsecond timestamps), base64url-encoded. A cursor that was not made here is a 400.
 */
export function encodeCursor(values: string[]): string {
  return Buffer.from(JSON.stringify(values)).toString("base64url");
}

/** Checks for the parts of a cursor, so a forged one is a 400 and never reaches SQL as a bad cast. */
export const CursorPart = {
  number: (s: string) => s !== "" && Number.isFinite(Number(s)),
  timestamp: (s: string) => /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)?$/.test(s),
  uuid: (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s),
  integer: (s: string) => /^\d{1,19}$/.test(s),
  text: (s: string) => s.length <= 200,
};

export function decodeCursor(cursor: string | undefined, parts: ((s: string) => boolean)[]): string[] | null {
  if (!cursor) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === parts.length && v.every((x, i) => typeof x === "string" && parts[i]!(x))) return v as string[];
  } catch {
    /* below */
  }
  throw new ValidationError("invalid cursor", [
    { in: "query", path: "cursor", message: "not a cursor this API returned", code: "invalid_value" },
  ]);
}

/**
 * Bytes one list page may carry, by `pageBytes` (the raw size of a row's variable columns plus a
 * fixed allowance). Neon refuses an answer over 10 MiB (HTTP 507); its JSON text encoding grows a
 * value at most 6x (a control character becomes \u0001; a quote in a text array becomes \\\"), so
 * a page stays under 1.5 MiB by this measure. The first row always fits (the API's field limits
 * bound a row far below it).
 */
export const PAGE_BYTE_BUDGET = 1.5 * 1024 * 1024;

/**
 * SQL: the raw size of a row for the page budget: the bytes of its variable-length values, read
 * from their headers for text (no decompression), plus 1 KiB for the fixed-size columns.
 */
export const rowBytes = (exprs: string[]) => `(1024 + ${exprs.map((e) => `coalesce(octet_length(${e}), 0)`).join(" + ")})`;

/**
 * Wraps a keyset page query (`inner`, ending in ORDER BY ... LIMIT, with a \`row_bytes\` column from
 * \`rowBytes\`) so Postgres keeps only the rows that start within the budget (the last of them may
 * cross it, which says "more"; so does a row starting exactly at the budget, so a page ending
 * exactly there still gets its cursor). `order` repeats the page order over the inner query's
 * output columns (alias `l`); `budget` is the placeholder of the budget parameter.
 */
export function budgetedPage(inner: string, order: string, budget: string): string {
  return `SELECT * FROM (
    SELECT l.*, sum(l.row_bytes) OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING) AS page_bytes FROM (${inner}) l) p
  WHERE page_bytes - row_bytes <= ${budget} ORDER BY page_bytes`;
}

/**
 * A buffered Lambda response must stay under 6 MB after its body has been escaped into the
 * response envelope as a JSON string (`{"statusCode":200,...,"body":"{\\"items\\":..."}`): a
 * control character in a value is 6 bytes in the body (\u0001) and 7 in the envelope. Counted
 * in decimal megabytes, the smaller reading of "6 MB".
 */
export const LAMBDA_RESPONSE_LIMIT = 6_000_000;

/**
 * What one list page's items may take in the envelope: a margin of 1 MB under the limit for the
 * page's wrapper, its cursor, the headers and the status line.
 */
export const ENVELOPE_PAGE_BUDGET = 5_000_000;

/**
 * Bytes a value takes in the Lambda envelope: its JSON text (as the route serializes it), escaped
 * again as the envelope's body string, without that string's quotes. Exact, not an estimate: JSON
 * text holds no control character or lone surrogate (JSON.stringify escapes them in ASCII), so
 * escaping it again adds one byte for each quote and backslash and nothing else.
 */
export function envelopeBytes(value: unknown): number {
  const json = JSON.stringify(value) ?? "";
  let escaped = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) escaped++;
  }
  return Buffer.byteLength(json) + escaped;
}

/**
 * How many of `items` (in page order) fit `budget` bytes of the Lambda envelope, each with its
 * separating comma; always at least one (every field limit bounds a single item far below it).
 */
export function fitEnvelope(items: readonly unknown[], budget = ENVELOPE_PAGE_BUDGET): number {
  let used = 0;
  let n = 0;
  while (n < items.length) {
    used += envelopeBytes(items[n]) + 1;
    if (n > 0 && used > budget) break;
    n++;
  }
  return n;
}

/**
 * The page a budgeted query answered: at most `limit` rows and no row past the byte budget (but
 * always one); `more` when rows were left for the next page.
 */
export function sizedPage<T extends Record<string, unknown>>(
  rows: T[],
  limit: number,
  budget = PAGE_BYTE_BUDGET,
): { page: Omit<T, "page_bytes" | "row_bytes">[]; more: boolean } {
  let n = 0;
  while (n < rows.length && n < limit && (n === 0 || Number(rows[n]!.page_bytes) <= budget)) n++;
  const page = rows.slice(0, n).map(({ page_bytes: _p, row_bytes: _r, ...r }) => r);
  return { page, more: rows.length > n };
}

export interface KeysetPage<I> {
  items: I[];
  next_cursor: string | null;
}

/**
 * The one way a list route makes its page from a keyset query's rows (fetched with LIMIT
 * `limit + 1`, through `budgetedPage` so Neon's 10 MiB answer is never reached): at most `limit`
 * rows, within the query's byte budget, and only as many items as fit the Lambda envelope
 * (`fitEnvelope`, measured on the items as the route serializes them). A page that stops short
 * of the rows there are always carries the cursor of its last item.
 */
export function keysetPage<R extends Record<string, unknown>, I>(
  rows: R[],
  limit: number,
  toItem: (row: Omit<R, "page_bytes" | "row_bytes">) => I,
  cursorOf: (row: Omit<R, "page_bytes" | "row_bytes">) => string[],
  budget = ENVELOPE_PAGE_BUDGET,
): KeysetPage<I> {
  const { page } = sizedPage(rows, limit);
  const items = page.map(toItem);
  const n = fitEnvelope(items, budget);
  const last = page[n - 1];
  return { items: items.slice(0, n), next_cursor: rows.length > n && last ? encodeCursor(cursorOf(last)) : null };
}
