import { describe, expect, it } from "vitest";
import { contextRing } from "./context.js";
import { pushToPull } from "./pull.js";

const row = (user_id: string, user_message: string, is_target: boolean, reply: string[] | null = [`re ${user_message}`]) => ({
  id: `${user_id}-${user_message}`,
  user_id,
  created_at: "2026-01-01T00:00:00Z",
  user_message,
  reply,
  is_target,
  customer_status: "PROSPECT",
});

describe("contextRing", () => {
  it("gives each target the last n rows of its user, across batches, reset at a new user", () => {
    const ring = contextRing(2, () => false);
    const first = ring([row("a", "1", false), row("a", "2", true, null), row("a", "3", false)]);
    const second = ring([row("a", "4", true), row("b", "1", true), row("b", "2", true)]);
    const ctx = [...first, ...second].map((t) => [t.user_id, t.user_message, t.context.map((c) => c.user_message)]);
    expect(ctx).toEqual([
      ["a", "2", ["1"]],
      ["a", "4", ["2", "3"]],
      ["b", "1", []],
      ["b", "2", ["1"]],
    ]);
    expect(second[0]!.context[0]).toEqual({ user_message: "2", reply: null });
  });
  it("gives no context when n is 0, and no line for an erased user", () => {
    const ring = contextRing(0, (u) => u === "x");
    const out = ring([row("a", "1", true), row("a", "2", true), row("x", "1", true)]);
    expect(out.map((t) => [t.user_id, t.context.length])).toEqual([
      ["a", 0],
      ["a", 0],
    ]);
  });
});

describe("pushToPull", () => {
  it("yields the batches in order, and the producer's failure after them", async () => {
    const got: number[] = [];
    const it = pushToPull<number>(async (emit) => {
      await emit(1);
      await emit(2);
      throw new Error("boom");
    });
    await expect(
      (async () => {
        for await (const b of it) got.push(b);
      })(),
    ).rejects.toThrow("boom");
    expect(got).toEqual([1, 2]);
  });
  it("stops the producer at its next emit when the consumer stops, and waits for it to end", async () => {
    let emitted = 0;
    let ended = false;
    const it = pushToPull<number>(async (emit) => {
      try {
        for (let i = 0; ; i++) {
          await emit(i);
          emitted++;
        }
      } finally {
        ended = true;
      }
    });
    for await (const b of it) if (b === 2) break;
    expect(ended).toBe(true);
    expect(emitted).toBeLessThanOrEqual(4);
  });
});
