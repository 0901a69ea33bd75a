import { describe, expect, it } from "vitest";
import { decompose, localMidnights, spanCover } from "./query.js";

const HOUR = 3_600_000;
const DAY = 86_400_000;

describe("decompose: local days as whole UTC days plus or minus edge hours", () => {
  // A value per UTC hour; a day's value is the sum of its hours (as the rollups are).
  const value = (h: number) => ((h / HOUR) * 7919) % 97;
  const sumHours = (from: number, to: number) => {
    let s = 0;
    for (let h = from; h < to; h += HOUR) s += value(h);
    return s;
  };
  const start = Date.UTC(2026, 2, 20); // across the March DST change in Europe and the US

  for (const tz of ["UTC", "Europe/Madrid", "America/New_York", "Pacific/Auckland", "Asia/Tokyo", "Pacific/Kiritimati"]) {
    it(`sums to each local day's hours in ${tz}`, () => {
      const days = Array.from({ length: 20 }, (_, i) => new Date(start + i * DAY).toISOString().slice(0, 10));
      const bounds = localMidnights(days, tz);
      const pieces = decompose(bounds, days);
      const got = new Map<string, number>();
      pieces.days.forEach((d, i) => {
        const t = Date.parse(`${d}T00:00:00Z`);
        got.set(pieces.dayBuckets[i]!, (got.get(pieces.dayBuckets[i]!) ?? 0) + sumHours(t, t + DAY));
      });
      pieces.hours.forEach((h, i) =>
        got.set(pieces.hourBuckets[i]!, (got.get(pieces.hourBuckets[i]!) ?? 0) + pieces.signs[i]! * value(Date.parse(h))),
      );
      days.forEach((d, i) => expect(got.get(d) ?? 0, `${tz} ${d}`).toBeCloseTo(sumHours(bounds[i]!, bounds[i + 1]!), 6));
      // At most 12 signed hours per local midnight, counted on both sides of it.
      expect(pieces.hours.length).toBeLessThanOrEqual(2 * 12 * bounds.length);
    });
  }

  it("local midnights agree with Intl for every day of a year (DST changes included)", () => {
    const days = Array.from({ length: 366 }, (_, i) => new Date(Date.UTC(2026, 0, 1) + i * DAY).toISOString().slice(0, 10));
    for (const tz of ["Europe/Madrid", "America/New_York", "Africa/Casablanca"]) {
      const bounds = localMidnights(days, tz);
      const f = new Intl.DateTimeFormat("en-CA", {
        timeZone: tz,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        hourCycle: "h23",
      });
      days.forEach((d, i) => {
        expect(f.format(new Date(bounds[i]!)), `${tz} ${d}`).toBe(`${d}, 00`);
        expect(f.format(new Date(bounds[i]! - 1)).slice(0, 10), `${tz} ${d}`).not.toBe(d);
      });
    }
  });
});

describe("spanCover: aligned per-user spans", () => {
  it("covers [d0, d1) exactly, with at most two spans of each size, each aligned", () => {
    for (let d0 = 20_000; d0 < 20_070; d0 += 3) {
      for (const len of [0, 1, 7, 30, 90, 91, 366]) {
        const cover = spanCover(d0, d0 + len);
        let at = d0;
        for (const [span, day] of cover) {
          expect(day).toBe(at);
          expect(day % span).toBe(0);
          at += span;
        }
        expect(at).toBe(d0 + len);
        const per = new Map<number, number>();
        for (const [span] of cover) per.set(span, (per.get(span) ?? 0) + 1);
        for (const [span, n] of per) if (span < 64) expect(n, `span ${span}`).toBeLessThanOrEqual(2);
      }
    }
  });
});
