import { describe, expect, it } from "vitest";
import { neverSent, isUnavailableStatus } from "./store-failure.js";

describe("failure classification", () => {
  it("neverSent: only failures that prove the request did not reach the server", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    // The shapes the two clients give: fetch's TypeError with a cause, the Neon driver's sourceError.
    expect(neverSent(new TypeError("fetch failed", { cause: refused }))).toBe(true);
    expect(
      neverSent(
        Object.assign(new Error("Error connecting to database"), { sourceError: new TypeError("fetch failed", { cause: refused }) }),
      ),
    ).toBe(true);
    expect(neverSent({ code: "57P03" })).toBe(true);
    expect(
      neverSent(new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) })),
    ).toBe(false);
    expect(neverSent(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe(false);
    expect(neverSent({ code: "23505" })).toBe(false);
    const loop: { cause?: unknown } = {};
    loop.cause = loop;
    expect(neverSent(loop)).toBe(false);
  });

  it("429 and 5xx are the store's trouble; other statuses are not", () => {
    expect([429, 500, 502, 503, 507].map(isUnavailableStatus)).toEqual([true, true, true, true, true]);
    expect([400, 401, 404, 413].map(isUnavailableStatus)).toEqual([false, false, false, false]);
  });
});
