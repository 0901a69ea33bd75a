import { z } from "zod";

/** A report covers at most this many days (its hourly series stays under ~9,000 points). */
export const MAX_REPORT_DAYS = 366;
/** Without `from`, a report covers the last 30 days (today included). */
export const DEFAULT_REPORT_DAYS = 30;

const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "a date, YYYY-MM-DD")
  .refine(
    (s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s),
    "not a calendar date",
  );

/** One formatter per zone: building an Intl.DateTimeFormat costs far more than using one. */
const formatters = new Map<string, Intl.DateTimeFormat>();
const formatter = (tz: string) => {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    if (formatters.size >= 64) formatters.clear();
    formatters.set(tz, f);
  }
  return f;
};

/** The UTC offset of `tz` at `at`, in minutes (Intl: the zone names Postgres also knows). */
export function offsetMinutes(tz: string, at: Date): number {
  const parts = formatter(tz).formatToParts(at);
  const n = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const local = Date.UTC(n("year"), n("month") - 1, n("day"), n("hour"), n("minute"), n("second"));
  return Math.round((local - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
}

const knownZone = (tz: string) => {
  if (tz === "UTC") return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(tz);
  } catch {
    return false;
  }
};

/** Today's date in `tz`. */
export function todayIn(tz: string, now = new Date()): string {
  return new Date(now.getTime() + offsetMinutes(tz, now) * 60_000).toISOString().slice(0, 10);
}

export const addDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
const daysBetween = (a: string, b: string) => Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);

/**
 * A report's range: whole days `from`..`to` (inclusive) in `tz`. Rollups are hourly in UTC, so a
 * zone must be a whole number of hours from UTC over the range (every zone of the product's users
 * is; a 30- or 45-minute zone is refused rather than answered approximately).
 */
export const ReportQuery = z
  .object({
    from: Day.optional().describe("first day (in tz), YYYY-MM-DD; default: 29 days before to"),
    to: Day.optional().describe("last day (in tz), inclusive; default: today"),
    tz: z
      .string()
      .max(64)
      .default("UTC")
      .refine(knownZone, "not a time zone name (IANA, e.g. Europe/Madrid)")
      .describe("IANA time zone of the days"),
  })
  .superRefine((q, ctx) => {
    if (!knownZone(q.tz)) return;
    const { from, to } = resolveRange(q);
    const span = daysBetween(from, to) + 1;
    if (span < 1) ctx.addIssue({ code: "custom", path: ["from"], message: "from is after to" });
    if (span > MAX_REPORT_DAYS) ctx.addIssue({ code: "custom", path: ["from"], message: `at most ${MAX_REPORT_DAYS} days` });
    if ([from, addDays(to, 1)].some((d) => offsetMinutes(q.tz, new Date(`${d}T12:00:00Z`)) % 60 !== 0)) {
      ctx.addIssue({ code: "custom", path: ["tz"], message: "the rollups are hourly: the zone must be a whole number of hours from UTC" });
    }
  });

export interface ReportRange {
  from: string;
  to: string;
  tz: string;
}

/** The range a (valid) report query names, its defaults applied. */
export function resolveRange(q: { from?: string; to?: string; tz: string }): ReportRange {
  const to = q.to ?? todayIn(q.tz);
  return { from: q.from ?? addDays(to, -(DEFAULT_REPORT_DAYS - 1)), to, tz: q.tz };
}

/** Every date of the range, in order. */
export function rangeDays(r: ReportRange): string[] {
  return Array.from({ length: daysBetween(r.from, r.to) + 1 }, (_, i) => addDays(r.from, i));
}
