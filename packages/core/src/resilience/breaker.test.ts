import { describe, expect, it } from "vitest";
import { UnavailableError } from "../errors.js";
import { CircuitBreaker, type BreakerState } from "./breaker.js";

function breaker() {
  let now = 0;
  const changes: string[] = [];
  const b = new CircuitBreaker("redis", {
    failureThreshold: 3,
    cooldownMs: 60_000,
    now: () => now,
    onStateChange: (from: BreakerState, to: BreakerState) => changes.push(`${from}->${to}`),
  });
  return { b, changes, advance: (ms: number) => (now += ms) };
}
const fail = () => Promise.reject(new Error("down"));
const ok = () => Promise.resolve("ok");

describe("CircuitBreaker", () => {
  it("opens after 3 consecutive failures and then fails fast without calling", async () => {
    const { b, changes } = breaker();
    for (let i = 0; i < 3; i++) await expect(b.run(fail)).rejects.toThrow("down");
    expect(b.state).toBe("open");
    let called = false;
    await expect(
      b.run(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(UnavailableError);
    expect(called).toBe(false);
    expect(changes).toEqual(["closed->open"]);
  });

  it("a success resets the consecutive count", async () => {
    const { b } = breaker();
    await expect(b.run(fail)).rejects.toThrow();
    await expect(b.run(fail)).rejects.toThrow();
    await b.run(ok);
    await expect(b.run(fail)).rejects.toThrow();
    expect(b.state).toBe("closed");
  });

  it("lets one probe through after the cooldown and closes on its success", async () => {
    const { b, changes, advance } = breaker();
    for (let i = 0; i < 3; i++) await expect(b.run(fail)).rejects.toThrow();
    expect(b.retryAfterSeconds()).toBe(60);
    advance(60_000);
    expect(b.state).toBe("half_open");
    let release!: () => void;
    const probe = b.run(
      () =>
        new Promise<string>((r) => {
          release = () => r("ok");
        }),
    );
    await expect(b.run(ok)).rejects.toBeInstanceOf(UnavailableError);
    release();
    await expect(probe).resolves.toBe("ok");
    expect(b.state).toBe("closed");
    expect(changes).toEqual(["closed->open", "open->half_open", "half_open->closed"]);
  });

  it("re-opens at once when the probe fails", async () => {
    const { b, advance } = breaker();
    for (let i = 0; i < 3; i++) await expect(b.run(fail)).rejects.toThrow();
    advance(60_000);
    await expect(b.run(fail)).rejects.toThrow("down");
    expect(b.state).toBe("open");
    advance(59_000);
    expect(b.state).toBe("open");
  });
});
