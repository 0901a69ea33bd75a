import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { EmfPublisher } from "@hitl/core/runtime";
import type { Registry } from "prom-client";

/** CloudWatch namespace and service dimension of every metric (alarms in infra/alarms.ts match them). */
export const METRICS_NAMESPACE = "HitlDataLayer";
export const METRICS_SERVICE = "hitl-data-layer";

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * The registry's metrics as CloudWatch EMF on stdout, through AWS Lambda Powertools. Each set of
 * dimensions (a route and status, a backup kind and outcome: small closed sets) keeps one Metrics
 * instance for the life of the Lambda instance: Powertools' `singleMetric()` built a new one, with
 * a new Console, for every value, every invocation (measured: a third of a millisecond per flush).
 * A flush publishes only the instances that received values.
 */
export function emfPublisher(registry: Registry): EmfPublisher {
  const options = { namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE };
  const metrics = new Metrics(options);
  const byDimensions = new Map<string, Metrics>();
  const filled = new Set<Metrics>();
  const add = (m: Metrics, name: string, unit: string, value: number) => {
    m.addMetric(name, unit as Unit, value);
    filled.add(m);
  };
  return new EmfPublisher(registry, {
    addMetric: (name, unit, value) => add(metrics, name, unit, value),
    addDimensionedMetric: (name, unit, value, dimensions) => {
      const id = JSON.stringify(dimensions);
      let m = byDimensions.get(id);
      if (!m) byDimensions.set(id, (m = new Metrics({ ...options, defaultDimensions: dimensions })));
      add(m, name, unit, value);
    },
    publishStoredMetrics: () => {
      for (const m of filled) m.publishStoredMetrics();
      filled.clear();
    },
  });
}
