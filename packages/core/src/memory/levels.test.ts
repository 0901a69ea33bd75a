import { describe, expect, it } from "vitest";
import { applyContextLimits, level1, level2, level3, logicalSize, MAX_CONTEXT_BYTES } from "./levels.js";

const now = new Date("2026-11-25T12:00:00Z");
const blob = (kb: number) => "x".repeat(kb * 1024);
const summaries = (n: number, kbEach: number) => Array.from({ length: n }, (_, i) => ({ i, text: blob(kbEach) }));

describe("context compression levels", () => {
  it("leaves a context under 100 KB alone (level 0)", () => {
    const ctx = { name: "Ana", notes: blob(50) };
    expect(applyContextLimits(ctx, now)).toEqual({ context: ctx, level: 0, bytesBefore: logicalSize(ctx), bytesAfter: logicalSize(ctx) });
  });

  it("L1 keeps profile keys, metadata and summaries, and drops the rest", () => {
    const ctx = {
      name: "Ana",
      age: 29,
      location: "MTY",
      occupation: "designer",
      preferences: { food: "tacos" },
      last_interaction: "t1",
      first_interaction: "t0",
      total_messages: 9,
      conversation_summary: ["s1"],
      scratch: blob(120),
    };
    const r = applyContextLimits(ctx, now);
    expect(r.level).toBe(1);
    expect(r.context).toEqual({
      name: "Ana",
      age: 29,
      location: "MTY",
      occupation: "designer",
      preferences: { food: "tacos" },
      last_interaction: "t1",
      first_interaction: "t0",
      total_messages: 9,
      conversation_summary: ["s1"],
      compression_applied: true,
      compression_level: 1,
      compression_timestamp: now.toISOString(),
    });
    expect(r.bytesAfter).toBeLessThanOrEqual(MAX_CONTEXT_BYTES);
  });

  it("L2 applies when summaries keep L1 over the limit, keeping the last 3", () => {
    const ctx = { name: "Ana", conversation_summary: summaries(10, 15) };
    const r = applyContextLimits(ctx, now);
    expect(r.level).toBe(2);
    expect((r.context.conversation_summary as { i: number }[]).map((s) => s.i)).toEqual([7, 8, 9]);
    expect(r.context.compression_level).toBe(2);
  });

  it("L3 applies when only the aggressive level gets under the limit", () => {
    const ctx = { name: "Ana", preferences: { essay: blob(150) }, last_interaction: "t9", conversation_summary: summaries(2, 1) };
    expect(logicalSize(level1(ctx, now))).toBeGreaterThan(MAX_CONTEXT_BYTES);
    expect(logicalSize(level2(ctx, now))).toBeGreaterThan(MAX_CONTEXT_BYTES);
    const r = applyContextLimits(ctx, now);
    expect(r.level).toBe(3);
    expect(r.context).toEqual({
      name: "Ana",
      last_interaction: "t9",
      aggressive_compression_applied: true,
      compression_level: 3,
      compression_timestamp: now.toISOString(),
    });
  });

  it("L3 names an unnamed user Unknown", () => {
    expect(level3({ stuff: 1 }, now)).toMatchObject({ name: "Unknown", last_interaction: null });
  });

  it("reports each level it tried, in order", () => {
    const tried: number[] = [];
    applyContextLimits({ preferences: blob(150) }, now, MAX_CONTEXT_BYTES, (level) => tried.push(level));
    expect(tried).toEqual([1, 2, 3]);
  });
});
