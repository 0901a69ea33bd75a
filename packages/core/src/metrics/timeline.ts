/** Minutes of history kept for the status page's charts. */
export const TIMELINE_MINUTES = 60;

/** Latency bins: upper edges from 0.5 ms growing by a quarter up to ~60 s (percentiles within 25%). */
const EDGES: number[] = [];
for (let e = 0.5; e < 60_000; e *= 1.25) EDGES.push(e);
EDGES.push(Infinity);

interface MinuteBucket {
  minute: number;
  requests: number;
  errors: number;
  totalMs: number;
  maxMs: number;
  bins: Uint32Array;
}

export interface HourSummary {
  requests: number;
  errors: number;
  /** 5xx answers / requests; 0 without requests. */
  error_rate: number;
  /** Upper edge of the latency bin holding the percentile (ms); null without requests. */
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

/**
 * Per-minute request counts, errors and a latency histogram of this instance for the last hour: a
 * fixed ring of 60 buckets, O(1) per request, for the status page's charts and percentiles.
 */
export class Timeline {
  private readonly buckets: MinuteBucket[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  record(ms: number, status: number): void {
    const minute = Math.floor(this.now() / 60_000);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.minute !== minute) {
      b = { minute, requests: 0, errors: 0, totalMs: 0, maxMs: 0, bins: new Uint32Array(EDGES.length) };
      this.buckets.push(b);
      while (this.buckets.length > TIMELINE_MINUTES) this.buckets.shift();
    }
    b.requests++;
    if (status >= 500) b.errors++;
    b.totalMs += ms;
    b.maxMs = Math.max(b.maxMs, ms);
    let i = 0;
    while (ms > EDGES[i]!) i++;
    b.bins[i]!++;
  }

  private recent(): MinuteBucket[] {
    const oldest = Math.floor(this.now() / 60_000) - TIMELINE_MINUTES + 1;
    return this.buckets.filter((b) => b.minute >= oldest);
  }

  /** The last hour, one entry per minute (empty minutes included), oldest first. */
  lastHour(): { minute: number; requests: number; errors: number; avg_ms: number; max_ms: number }[] {
    const current = Math.floor(this.now() / 60_000);
    const byMinute = new Map(this.recent().map((b) => [b.minute, b]));
    return Array.from({ length: TIMELINE_MINUTES }, (_, i) => {
      const minute = current - TIMELINE_MINUTES + 1 + i;
      const b = byMinute.get(minute);
      return {
        minute,
        requests: b?.requests ?? 0,
        errors: b?.errors ?? 0,
        avg_ms: b && b.requests ? b.totalMs / b.requests : 0,
        max_ms: b?.maxMs ?? 0,
      };
    });
  }

  /** Requests, error rate and latency percentiles over the last hour. */
  summary(): HourSummary {
    const bins = new Uint32Array(EDGES.length);
    let requests = 0,
      errors = 0,
      max = 0;
    for (const b of this.recent()) {
      requests += b.requests;
      errors += b.errors;
      max = Math.max(max, b.maxMs);
      b.bins.forEach((n, i) => {
        bins[i]! += n;
      });
    }
    const at = (q: number) => {
      if (!requests) return null;
      const rank = Math.ceil(q * requests);
      let seen = 0;
      for (let i = 0; i < bins.length; i++) {
        seen += bins[i]!;
        if (seen >= rank) return Math.min(EDGES[i]!, max);
      }
      return max;
    };
    return { requests, errors, error_rate: requests ? errors / requests : 0, p50_ms: at(0.5), p95_ms: at(0.95), p99_ms: at(0.99) };
  }
}
