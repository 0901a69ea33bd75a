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
  } catch { /* below */ }
  throw new ValidationError("invalid cursor", [{ in: "query", path: "cursor", message: "not a cursor this API returned", code: "invalid_value" }]);
}
