import { createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UserHasher } from "./hash.js";

describe("UserHasher", () => {
  it("is HMAC-SHA256 of the id under the key, for short and long keys", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 100 }), fc.string(), (key, id) => {
        expect(new UserHasher(key).hash(id)).toBe(createHmac("sha256", Buffer.from(key, "utf8")).update(id, "utf8").digest("hex"));
      }),
    );
  });

  it("differs by key: the same id under another key is another hash", () => {
    expect(new UserHasher("a".repeat(32)).hash("12345")).not.toBe(new UserHasher("b".repeat(32)).hash("12345"));
  });
});
