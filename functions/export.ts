import { createLogger, createServices } from "@hitl/core";
import { exportJobDeps, runExport, type ExportRunResult } from "@hitl/core/exports";
import { z } from "zod";
import { emfPublisher } from "./lib/emf.js";
import { loadConfig } from "./lib/config.js";

/** What POST /v1/exports sends (an `Event` invocation: Lambda queues it, retries a failed one twice). */
const ExportEvent = z.object({ export_id: z.uuid() });

export class BadExportEventError extends Error {
  override name = "BadExportEventError";
}

/**
 * The export function: runs one export (packages/core/src/exports/run.ts) within this invocation's
 * time. Retry-safe: the lease holder is the request id, which Lambda keeps across the retries of one
 * event (a retry after a crash takes its own lease back at once); a duplicate delivery is another
 * request and finds the export held or done and does nothing. A failed export is recorded as failed
 * (with its reason) and the invocation succeeds: only an error before the export could be claimed
 * (Postgres unreachable) fails the invocation, for Lambda to retry.
 */
export async function handler(
  event: unknown,
  context?: { getRemainingTimeInMillis?: () => number; awsRequestId?: string },
): Promise<ExportRunResult> {
  const parsed = ExportEvent.safeParse(event);
  if (!parsed.success) throw new BadExportEventError(`not an export event: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  const config = await loadConfig();
  const log = createLogger(config.logLevel).child({ job: "export" });
  const services = createServices(config, { log });
  const remaining = context?.getRemainingTimeInMillis?.();
  const deps = exportJobDeps(config, services.db, log);
  try {
    return await runExport(
      { ...deps, holder: context?.awsRequestId, deadline: remaining !== undefined ? Date.now() + remaining : undefined },
      parsed.data.export_id,
    );
  } finally {
    await deps.reader.end().catch(() => {});
    await emfPublisher(services.metrics.registry).publish();
  }
}
