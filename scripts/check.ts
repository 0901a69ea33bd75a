/**
 * `npm run check`: the integrity report (GET /v1/admin/integrity) against the configured stores,
 * printed one line per check; exits 1 when a check fails, 2 when it cannot run.
 */
import { createServices, integrityReport, loadConfig } from "@hitl/core";

async function main() {
  const services = createServices(await loadConfig());
  const r = await integrityReport({ db: services.db, redis: services.redis });
  for (const c of r.checks) {
    console.log(
      `${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.count ?? "n/a"} ${c.detail}${c.sample?.length ? ` (e.g. ${c.sample.slice(0, 3).join(", ")})` : ""}`,
    );
  }
  console.log(`integrity: ${r.checks.filter((c) => !c.ok).length} of ${r.checks.length} checks failing`);
  process.exit(r.ok ? 0 : 1);
}

main().catch((e: unknown) => {
  console.error(`check failed to run: ${(e as Error).message}`);
  process.exit(2);
});
