import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { archiveType, lineOf, microsOf, selectFormOfLegacyRow, timestampText, UnsupportedColumnError } from "./parquet-object.js";

describe("timestamps in the Parquet archive", () => {
  it("microseconds <-> the text row_to_json gives in a UTC session, exactly, across the range Postgres stores", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -62_135_596_800_000_000n, max: 253_402_300_799_999_999n }), (micros) => {
        const text = timestampText(micros);
        expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00:00$/);
        expect(microsOf(text)).toBe(micros);
      }),
    );
  });

  it("reads Postgres' forms: trailing zeros trimmed, other offsets, Z", () => {
    expect(timestampText(0n)).toBe("1970-01-01T00:00:00+00:00");
    expect(timestampText(1_500_000n)).toBe("1970-01-01T00:00:01.5+00:00");
    expect(timestampText(-1n)).toBe("1969-12-31T23:59:59.999999+00:00");
    expect(microsOf("2025-07-15T12:00:00.25+02:00")).toBe(microsOf("2025-07-15T10:00:00.25Z"));
    expect(microsOf("2025-07-15T05:30:00-0430")).toBe(microsOf("2025-07-15T10:00:00+00"));
    expect(() => microsOf("yesterday")).toThrow(/not a timestamp/);
  });

  it("maps every Postgres type the archive holds, and names the one it cannot", () => {
    expect(archiveType("a", "numeric(12,6)")).toBe("double");
    expect(archiveType("a", "character varying(20)")).toBe("string");
    expect(archiveType("a", "text[]")).toBe("string_list");
    expect(archiveType("a", "jsonb")).toBe("json");
    expect(() => archiveType("shape", "point")).toThrow(UnsupportedColumnError);
  });

  it("an NDJSON row of an older schema converts to today's columns: missing ones null, a bigint chat_id as text; an unknown field refuses", () => {
    const columns = [
      { name: "chat_id", type: "string" as const },
      { name: "created_at", type: "timestamp" as const },
      { name: "cta_data", type: "json" as const },
      { name: "review_claim_key", type: "string" as const },
    ];
    const row = selectFormOfLegacyRow(columns, { chat_id: 12345, created_at: "2025-07-15T10:00:00.5+00:00", cta_data: { a: [1, "x"] } });
    expect(row).toEqual({
      chat_id: "12345",
      created_at: Number(microsOf("2025-07-15T10:00:00.5Z")),
      cta_data: '{"a":[1,"x"]}',
      review_claim_key: null,
    });
    expect(JSON.parse(lineOf(columns, row))).toEqual({
      chat_id: "12345",
      created_at: "2025-07-15T10:00:00.5+00:00",
      cta_data: { a: [1, "x"] },
      review_claim_key: null,
    });
    expect(() => selectFormOfLegacyRow(columns, { dropped_column: 1 })).toThrow(/no longer has/);
  });
});
