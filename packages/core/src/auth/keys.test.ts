import { describe, expect, it } from "vitest";
import { generateKey, hashKey, hasScope, KeyRing } from "./keys.js";

describe("KeyRing", () => {
  const a = generateKey("bot-1", ["bot"]);
  const b = generateKey("rev-1", ["reviewer", "agent"]);
  const ring = new KeyRing([a.entry, b.entry]);

  it("stores only the hash and finds the principal of a presented key", () => {
    expect(a.entry.sha256).toBe(hashKey(a.key));
    expect(JSON.stringify(a.entry)).not.toContain(a.key);
    expect(ring.authenticate(a.key)).toEqual({ id: "bot-1", scopes: ["bot"] });
    expect(ring.authenticate(b.key)?.id).toBe("rev-1");
  });

  it("rejects missing, unknown and near-miss keys", () => {
    expect(ring.authenticate(undefined)).toBeUndefined();
    expect(ring.authenticate("")).toBeUndefined();
    expect(ring.authenticate(a.key + "x")).toBeUndefined();
    expect(ring.authenticate(a.key.slice(0, -1))).toBeUndefined();
  });

  it("checks scopes, with admin allowed everywhere", () => {
    expect(hasScope({ id: "x", scopes: ["bot"] }, ["bot"])).toBe(true);
    expect(hasScope({ id: "x", scopes: ["bot"] }, ["reviewer", "agent"])).toBe(false);
    expect(hasScope({ id: "x", scopes: ["admin"] }, ["reviewer"])).toBe(true);
  });
});
