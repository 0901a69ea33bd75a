import { HISTORY_COLUMNS, HISTORY_QUERIES, HISTORY_TABLE } from "../packages/core/src/analytics/history-queries";
import { PREFIXES } from "./storage";

/** The first month partition projection lists (the archive holds nothing older: the project started in 2025). */
export const HISTORY_FIRST_MONTH = "2025-01";
/** A query scanning more than this is cancelled (the whole archive is far smaller for years). */
export const HISTORY_SCAN_CUTOFF_BYTES = 10 * 1024 ** 3;

/** `volume_by_day` -> `VolumeByDay` (a resource name). */
const pascal = (s: string) => s.replace(/(^|_)([a-z0-9])/g, (_m, _u, c: string) => c.toUpperCase());

/**
 * Analytics over history (README, "Archive and analytics over history"): Athena reads the archive
 * as it is. A Glue database and table over archives/interactions/ (Parquet, Hive-style `month=`
 * partitions) with partition projection, so no crawler and no partition to register: a month
 * archived today is queryable at once. A workgroup whose settings are enforced (results in the
 * bucket under athena-results/, expired by the bucket's lifecycle; a scan cutoff), and the named
 * queries of the reports over history, from packages/core/src/analytics/history-queries.ts: the
 * SQL test/analytics-history.test.ts runs in DuckDB over archives it made.
 */
export function analytics(bucket: sst.aws.Bucket) {
  const database = new aws.glue.CatalogDatabase("HistoryDatabase", {
    name: `${$app.name}_${$app.stage}`.toLowerCase().replace(/[^a-z0-9_]/g, "_"),
    description: "The archived months of interactions (Parquet), for Athena",
  });
  const table = new aws.glue.CatalogTable("HistoryTable", {
    databaseName: database.name,
    name: HISTORY_TABLE,
    tableType: "EXTERNAL_TABLE",
    parameters: {
      EXTERNAL: "TRUE",
      classification: "parquet",
      "projection.enabled": "true",
      "projection.month.type": "date",
      "projection.month.format": "yyyy-MM",
      "projection.month.range": `${HISTORY_FIRST_MONTH},NOW`,
      "projection.month.interval": "1",
      "projection.month.interval.unit": "MONTHS",
      "storage.location.template": $interpolate`s3://${bucket.name}/${PREFIXES.archiveTable}month=\${month}/`,
    },
    partitionKeys: [{ name: "month", type: "string" }],
    storageDescriptor: {
      location: $interpolate`s3://${bucket.name}/${PREFIXES.archiveTable}`,
      inputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
      outputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
      serDeInfo: {
        serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        parameters: { "serialization.format": "1" },
      },
      columns: HISTORY_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
    },
  });
  const workgroup = new aws.athena.Workgroup("History", {
    name: `${$app.name}-${$app.stage}-history`,
    description: "Queries over the archived months (named queries: the reports over history)",
    forceDestroy: $app.stage !== "production",
    configuration: {
      enforceWorkgroupConfiguration: true,
      publishCloudwatchMetricsEnabled: true,
      bytesScannedCutoffPerQuery: HISTORY_SCAN_CUTOFF_BYTES,
      engineVersion: { selectedEngineVersion: "Athena engine version 3" },
      // Results take the bucket's default encryption (SSE-KMS); the lifecycle expires them.
      resultConfiguration: { outputLocation: $interpolate`s3://${bucket.name}/${PREFIXES.athenaResults}` },
    },
  });
  const queries = HISTORY_QUERIES.map(
    (q) =>
      new aws.athena.NamedQuery(`HistoryQuery${pascal(q.name)}`, {
        name: q.name,
        description: q.description,
        database: database.name,
        workgroup: workgroup.name,
        query: q.sql,
      }),
  );
  return { database, table, workgroup, queries };
}
