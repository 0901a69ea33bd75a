/** Minutes of history kept for the status page's charts. */
export const TIMELINE_MINUTES = 60;

export interface MinuteBucket { minute: number; requests: number; errors: number; totalMs: number; maxMs: number }

/**
 * Per-minute request counts and latency of this instance for the last hour: a fixed ring of 60
 * buckets, O(1) per request, for the status page's throughput and latency charts.
 */
export class Timeline {
  private readonly buckets: MinuteBucket[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  record(ms: number, status: number): void {
    const minute = Math.floor(this.now() / 60_000);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.minute !== minute) {
      b = { minute, requests: 0, errors: 0, totalMs: 0, maxMs: 0 };
      this.buckets.push(b);
      while (this.buckets.length > TIMELINE_MINUTES) this.buckets.shift();
    }
    b.requests++;
    if (status >= 500) b.errors++;
    b.totalMs += ms;
    b.maxMs = Math.max(b.maxMs, ms);
  }

  /** The last hour, one entry per minute (empty minutes included), oldest first. */
  lastHour(): { minute: number; requests: number; errors: number; avg_ms: number; max_ms: number }[] {
    const current = Math.floor(this.now() / 60_000);
    const byMinute = new Map(this.buckets.map((b) => [b.minute, b]));
    return Array.from({ length: TIMELINE_MINUTES }, (_, i) => {
      const minute = current - TIMELINE_MINUTES + 1 + i;
      const b = byMinute.get(minute);
      return { minute, requests: b?.requests ?? 0, errors: b?.errors ?? 0, avg_ms: b && b.requests ? b.totalMs / b.requests : 0, max_ms: b?.maxMs ?? 0 };
    });
  }
}
