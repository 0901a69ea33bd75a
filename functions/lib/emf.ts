import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { EmfPublisher } from "@hitl/core";
import type { Registry } from "prom-client";

/** CloudWatch namespace and service dimension of every metric (alarms in infra/alarms.ts match them). */
export const METRICS_NAMESPACE = "HitlDataLayer";
export const METRICS_SERVICE = "hitl-data-layer";

/** The registry's metrics as CloudWatch EMF on stdout, through AWS Lambda Powertools. */
export function emfPublisher(registry: Registry): EmfPublisher {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });
  return new EmfPublisher(registry, {
    addMetric: (name, unit, value) => metrics.addMetric(name, unit as (typeof MetricUnit)[keyof typeof MetricUnit], value),
    addDimensionedMetric: (name, unit, value, dimensions) => {
      // A single metric is flushed at once, with the service dimension and its own.
      const single = metrics.singleMetric();
      single.addDimensions(dimensions);
      single.addMetric(name, unit as (typeof MetricUnit)[keyof typeof MetricUnit], value);
    },
    publishStoredMetrics: () => metrics.publishStoredMetrics(),
  });
}
