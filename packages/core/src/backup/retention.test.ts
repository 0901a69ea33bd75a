import { describe, expect, it } from "vitest";
import { planRetention, RETENTION, type SetInfo } from "./retention.js";

const now = new Date("2026-11-25T12:00:00Z");
const daysAgo = (d: number, over: Partial<SetInfo> = {}): SetInfo => ({
  id: `d${d}`,
  started_at: new Date(now.getTime() - d * 86_400_000),
  complete: true,
  verified: true,
  ...over,
});

describe("backup retention", () => {
  it("prunes sets older than 7 days and keeps the younger ones", () => {
    const plan = planRetention([daysAgo(1), daysAgo(3), daysAgo(8), daysAgo(30)], now, RETENTION.postgres);
    expect(plan.keep).toEqual(["d1", "d3"]);
    expect(plan.remove).toEqual(["d8", "d30"]);
    expect(plan.warnings).toEqual([]);
  });

  it("keeps the newest verified set even when it is older than 7 days", () => {
    const plan = planRetention([daysAgo(2, { verified: false }), daysAgo(9), daysAgo(12)], now, RETENTION.postgres);
    expect(plan.keep).toEqual(["d2", "d9"]);
    expect(plan.remove).toEqual(["d12"]);
  });

  it("caps the number of complete sets", () => {
    const sets = Array.from({ length: 20 }, (_, i) => daysAgo(i / 4));
    const plan = planRetention(sets, now, { ...RETENTION.postgres, maxCount: 5 });
    expect(plan.keep).toHaveLength(5);
    expect(plan.remove).toHaveLength(15);
  });

  it("drops unfinished sets once they can no longer be resumed, keeps recent ones", () => {
    const plan = planRetention(
      [daysAgo(0.5, { complete: false, verified: false }), daysAgo(2, { complete: false, verified: false }), daysAgo(1)],
      now,
      RETENTION.postgres,
    );
    expect(plan.keep.sort()).toEqual(["d0.5", "d1"]);
    expect(plan.remove).toEqual(["d2"]);
  });

  it("warns when retention cannot hold two sets of the schedule, or nothing is verified", () => {
    const plan = planRetention([daysAgo(1, { verified: false })], now, { maxAgeDays: 1, maxCount: 10, scheduleHours: 24 });
    expect(plan.warnings).toEqual(["retention of 1 days keeps fewer than two sets at one set every 24 h", "no verified set exists"]);
  });
});
