import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compress, decompress } from "./codec.js";
import { decodeEnvelope, encodeEnvelope, EnvelopeError } from "./envelope.js";

describe("lossless codec and envelope", () => {
  it("round-trips any JSON value through every codec (property)", () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.constantFrom("none", "deflate", "brotli") as fc.Arbitrary<"none" | "deflate" | "brotli">,
        (value, codec) => {
          const text = JSON.stringify(value);
          const enc = encodeEnvelope(text, codec, 0);
          expect(decodeEnvelope(enc.envelope)).toBe(text);
          expect(decompress(codec, compress(codec, Buffer.from(text))).toString()).toBe(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stores small values uncompressed and large ones compressed", () => {
    expect(encodeEnvelope('{"a":1}').codec).toBe("none");
    const big = JSON.stringify({ notes: "hello world ".repeat(500) });
    const enc = encodeEnvelope(big);
    expect(enc.codec).toBe("brotli");
    expect(enc.storedBytes).toBeLessThan(enc.rawBytes / 5);
    expect(enc.envelope.startsWith("1|b|")).toBe(true);
  });

  it("detects a flipped byte in the payload, a bad header and bad base64", () => {
    const plain = encodeEnvelope(JSON.stringify({ name: "Ana" })).envelope;
    const flipped = plain.slice(0, -3) + (plain.at(-3) === "A" ? "B" : "A") + plain.slice(-2);
    expect(() => decodeEnvelope(flipped)).toThrow(EnvelopeError);
    const packed = encodeEnvelope(JSON.stringify({ notes: "lorem ipsum dolor ".repeat(400) })).envelope;
    const mid = "1|b|00000000|".length + 4;
    expect(() => decodeEnvelope(packed.slice(0, mid) + (packed[mid] === "Q" ? "R" : "Q") + packed.slice(mid + 1))).toThrow(EnvelopeError);
    expect(() => decodeEnvelope("garbage")).toThrow(EnvelopeError);
    expect(() => decodeEnvelope("2|n|00000000|{}")).toThrow(EnvelopeError);
  });
});
