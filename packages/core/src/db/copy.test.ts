import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { copyFields, LastLine } from "./copy.js";

describe("LastLine", () => {
  it("keeps the last complete line whatever the chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[^\n]*$/), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (lines, cuts) => {
          const text = Buffer.from(lines.map((l) => l + "\n").join(""));
          const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const last = new LastLine();
          let from = 0;
          for (const c of [...at, text.length]) {
            // The driver reuses its buffer: the tracker must have copied what it keeps.
            const chunk = Buffer.from(text.subarray(from, c));
            last.push(chunk);
            chunk.fill(0x21);
            from = c;
          }
          expect(last.value?.toString()).toBe(lines.at(-1));
        },
      ),
    );
  });

  it("has no line before the first newline", () => {
    const last = new LastLine();
    last.push(Buffer.from("partial"));
    expect(last.value).toBeNull();
  });
});

describe("copyFields", () => {
  it("splits on tabs and decodes COPY's escapes and NULL", () => {
    expect(copyFields("1\ta\\tb\\nc\\\\d\t\\N\t\\\\N\tü\\r\\b\\f\\v")).toEqual(["1", "a\tb\nc\\d", null, "\\N", "ü\r\b\f\v"]);
  });
});
