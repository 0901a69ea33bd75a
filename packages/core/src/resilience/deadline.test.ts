import { describe, expect, it } from "vitest";
import { callBudget, timeoutSignal, withDeadline } from "./deadline.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("store-call deadlines", () => {
  it("abort a call that outlives its budget, with a TimeoutError", async () => {
    let seen: AbortSignal | undefined;
    const slow = withDeadline({ timeoutMs: 30 }, (signal) => {
      seen = signal;
      return new Promise((_, reject) => signal!.addEventListener("abort", () => reject(signal!.reason)));
    });
    await expect(slow).rejects.toMatchObject({ name: "TimeoutError" });
    expect(seen!.aborted).toBe(true);
  });

  it("leave no timer behind a call that ended in time: its signal never fires afterwards", async () => {
    let seen: AbortSignal | undefined;
    let fired = 0;
    expect(
      await withDeadline({ timeoutMs: 30 }, async (signal) => {
        seen = signal;
        signal!.addEventListener("abort", () => fired++);
        return "done";
      }),
    ).toBe("done");
    await sleep(60);
    expect(seen!.aborted).toBe(false);
    expect(fired).toBe(0);
    // A failed call clears its timer too.
    await expect(
      withDeadline({ timeoutMs: 30 }, async (signal) => {
        seen = signal;
        throw new Error("refused");
      }),
    ).rejects.toThrow("refused");
    await sleep(60);
    expect(seen!.aborted).toBe(false);
  });

  it("take the earlier of the call's budget and the request's deadline; none when both are off", async () => {
    const now = 1_000_000;
    expect(callBudget({ timeoutMs: 1000, requestDeadline: () => now + 200 }, now)).toBe(200);
    expect(callBudget({ timeoutMs: 100, requestDeadline: () => now + 200 }, now)).toBe(100);
    expect(callBudget({ timeoutMs: 0 }, now)).toBeUndefined();
    expect(await withDeadline({ timeoutMs: 0 }, async (signal) => signal)).toBeUndefined();
    const t = timeoutSignal(10);
    t.clear();
    await sleep(30);
    expect(t.signal.aborted).toBe(false);
  });
});

describe("a call that misses its signal", () => {
  it("is abandoned at the deadline: the caller gets the expired error, not a hang", async () => {
    const started = performance.now();
    // Ignores the abort entirely, like a library sleeping between its own retries.
    const deaf = withDeadline(
      { timeoutMs: 40 },
      () => new Promise<string>((resolve) => setTimeout(() => resolve("too late"), 2_000).unref()),
      (reason) => Object.assign(new Error("store did not answer"), { reason }),
    );
    await expect(deaf).rejects.toMatchObject({ message: "store did not answer", reason: { name: "TimeoutError" } });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("tells the call when it must end, so a retry that would not fit is not started", async () => {
    const before = Date.now();
    const at = await withDeadline({ timeoutMs: 500 }, async (_signal, deadlineAt) => deadlineAt);
    expect(at).toBeGreaterThanOrEqual(before + 500);
    expect(at).toBeLessThanOrEqual(Date.now() + 500);
    expect(await withDeadline({ timeoutMs: 0 }, async (_signal, deadlineAt) => deadlineAt)).toBeUndefined();
  });
});
