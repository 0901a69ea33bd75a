import { createLogger, createServices, refreshRollups } from "@hitl/core";
import { loadConfig } from "./lib/config.js";

/**
 * The analytics rollup job (every 5 minutes): recounts the days whose interactions changed since
 * its last run. Idempotent and safe to overlap (see refreshRollups); a failed run is retried by
 * Lambda, and the next scheduled run catches up whatever it missed anyway.
 */
export const handler = async () => {
  const config = await loadConfig();
  const services = createServices(config);
  const log = createLogger(config.logLevel).child({ job: "analytics-rollup" });
  try {
    const r = await refreshRollups(services.db);
    log.info("job done", { days: r.days.length, as_of: r.as_of });
    return { status: "complete", days: r.days.length, as_of: r.as_of };
  } catch (e) {
    log.error("job failed", { err: e instanceof Error ? e : new Error(String(e)) });
    throw e;
  }
};
