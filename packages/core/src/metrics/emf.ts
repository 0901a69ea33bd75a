import type { Registry } from "prom-client";

/** What we need of Powertools' Metrics: add values, then flush them as one EMF document. */
export interface EmfSink {
  addMetric(name: string, unit: string, value: number): void;
  /** One value with its own dimensions (published as its own EMF document). */
  addDimensionedMetric(name: string, unit: string, value: number, dimensions: Record<string, string>): void;
  publishStoredMetrics(): void;
}

/**
 * The labels each labelled counter keeps as CloudWatch dimensions. Every one is a small closed set
 * (route patterns, status codes, job kinds): each distinct combination is a billed custom metric.
 * The HTTP method is dropped (the route pattern nearly implies it).
 */
const DIMENSIONS: Record<string, string[]> = { http_requests_total: ["route", "status"] };

const UNIT: Record<string, string> = { seconds: "Seconds", bytes: "Bytes" };
const unitOf = (name: string) => UNIT[Object.keys(UNIT).find((u) => name.includes(u)) ?? ""] ?? "Count";

/**
 * Emits the registry's metrics as CloudWatch Embedded Metric Format (through Powertools): counters
 * as the increase since the last flush (left out when nothing was added), gauges as their value
 * (left out while they stay at zero), histograms as the mean of this flush's observations (left
 * out when there were none); the first flush sends every metric. In Lambda each instance flushes after each invocation; CloudWatch then
 * aggregates across instances (Sum for counters, Average/Maximum for the rest).
 */
export class EmfPublisher {
  private readonly last = new Map<string, number>();
  /** The first flush sends every metric (CloudWatch then knows them all); later ones only what moved. */
  private first = true;

  constructor(
    private readonly registry: Registry,
    private readonly sink: EmfSink,
  ) {}

  private delta(name: string, total: number): number {
    const d = total - (this.last.get(name) ?? 0);
    this.last.set(name, total);
    return d;
  }

  async publish(): Promise<number> {
    let emitted = 0;
    for (const m of await this.registry.getMetricsAsJSON()) {
      const type = String(m.type);
      const values = m.values as { value: number; labels: Record<string, string | number>; metricName?: string }[];
      if (type === "counter") {
        const total = values.reduce((s, v) => s + v.value, 0);
        const d = this.delta(m.name, total);
        if (d > 0 || this.first) {
          this.sink.addMetric(m.name, "Count", d);
          emitted++;
        }
        // Labelled counters also go out per label set, under the same metric name with the labels
        // as dimensions: backup_runs_total {kind=postgres, outcome=success}. Label sets that did not
        // move in this flush are left out (alarms on them treat missing data as zero or as breaching).
        const keep = DIMENSIONS[m.name];
        const sums = new Map<string, { dims: Record<string, string>; value: number }>();
        for (const v of values) {
          const labels = Object.entries(v.labels).filter(([k]) => !keep || keep.includes(k));
          if (!labels.length) continue;
          const dims = Object.fromEntries(labels.map(([k, l]) => [k, String(l)]));
          const id = JSON.stringify(dims);
          const entry = sums.get(id) ?? { dims, value: 0 };
          entry.value += v.value;
          sums.set(id, entry);
        }
        for (const [id, { dims, value }] of sums) {
          const d = this.delta(`${m.name}${id}`, value);
          if (d > 0) this.sink.addDimensionedMetric(m.name, "Count", d, dims);
        }
        continue;
      } else if (type === "gauge") {
        if (!values.length) continue;
        // A gauge at zero that stayed there says nothing new; any other value is sent (an alarm on
        // its Maximum must keep seeing a breaker held open or a pool kept waiting).
        const value = values.reduce((s, v) => s + v.value, 0);
        const key = `${m.name}:gauge`;
        const unchangedZero = value === 0 && this.last.get(key) === 0;
        this.last.set(key, value);
        if (unchangedZero && !this.first) continue;
        this.sink.addMetric(m.name, unitOf(m.name), value);
      } else if (type === "histogram") {
        const sum = values.filter((v) => v.metricName?.endsWith("_sum")).reduce((s, v) => s + v.value, 0);
        const count = values.filter((v) => v.metricName?.endsWith("_count")).reduce((s, v) => s + v.value, 0);
        const dSum = sum - (this.last.get(`${m.name}_sum`) ?? 0);
        const dCount = count - (this.last.get(`${m.name}_count`) ?? 0);
        this.last.set(`${m.name}_sum`, sum);
        this.last.set(`${m.name}_count`, count);
        if (dCount <= 0) continue;
        this.sink.addMetric(m.name, unitOf(m.name), dSum / dCount);
      } else continue;
      emitted++;
    }
    this.sink.publishStoredMetrics();
    this.first = false;
    return emitted;
  }
}
