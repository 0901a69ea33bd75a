import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeCursor, envelopeBytes, fitEnvelope, keysetPage } from "./keyset.js";

/** The definition: the value's JSON text, written again as a JSON string, less that string's quotes. */
const byDefinition = (v: unknown) => Buffer.byteLength(JSON.stringify(JSON.stringify(v))) - 2;

describe("envelopeBytes", () => {
  it("equals the size of the JSON text escaped again, for any JSON value (control characters, quotes, backslashes, non-BMP, lone surrogates)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (v, s) => {
        expect(envelopeBytes(v)).toBe(byDefinition(v));
        expect(envelopeBytes({ s, a: [s, s] })).toBe(byDefinition({ s, a: [s, s] }));
      }),
      { numRuns: 150 },
    );
  });

  it("counts a control character as 7 bytes, a quote or backslash as 4, a non-BMP character as 4", () => {
    const base = envelopeBytes("");
    expect(envelopeBytes("\u0001") - base).toBe(7);
    expect(envelopeBytes('"') - base).toBe(4);
    expect(envelopeBytes("\\") - base).toBe(4);
    expect(envelopeBytes("\u{1F600}") - base).toBe(4);
  });
});

describe("fitEnvelope and keysetPage", () => {
  const item = (n: number) => ({ t: "x".repeat(n) });

  it("keeps the items that fit with their commas, and always one", () => {
    const items = [item(100), item(100), item(100)];
    const one = envelopeBytes(items[0]) + 1;
    expect(fitEnvelope(items, one * 2)).toBe(2);
    expect(fitEnvelope(items, one * 2 - 1)).toBe(1);
    expect(fitEnvelope(items, 1)).toBe(1);
    expect(fitEnvelope([], 1)).toBe(0);
  });

  it("cuts at the limit, the query's byte budget or the envelope, and a cut page always carries the cursor of its last item", () => {
    const rows = [1, 2, 3, 4].map((i) => ({ id: String(i), t: "y".repeat(1000), row_bytes: 2000, page_bytes: 2000 * i }));
    const toItem = ({ id, t }: { id: string; t: string }) => ({ id, t });
    const cursor = (p: { next_cursor: string | null }) => p.next_cursor && decodeCursor(p.next_cursor, [() => true]);
    // The limit (rows were fetched with limit + 1).
    const byLimit = keysetPage(rows, 3, toItem, (r) => [r.id]);
    expect([byLimit.items.length, cursor(byLimit)]).toEqual([3, ["3"]]);
    // The envelope.
    const byEnvelope = keysetPage(rows, 3, toItem, (r) => [r.id], 2 * (envelopeBytes(toItem(rows[0]!)) + 1));
    expect([byEnvelope.items.length, cursor(byEnvelope)]).toEqual([2, ["2"]]);
    // Everything fits: no cursor.
    const all = keysetPage(rows.slice(0, 2), 3, toItem, (r) => [r.id]);
    expect([all.items.length, all.next_cursor]).toEqual([2, null]);
    // The row budget of the query.
    const big = rows.map((r, i) => ({ ...r, page_bytes: (i + 1) * 1024 * 1024 }));
    const byRows = keysetPage(big, 3, toItem, (r) => [r.id]);
    expect([byRows.items.length, cursor(byRows)]).toEqual([1, ["1"]]);
    expect(byRows.items[0]).toEqual({ id: "1", t: "y".repeat(1000) });
  });
});
