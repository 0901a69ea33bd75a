import { createHash } from "node:crypto";
import { createKey, createServices, generateKey, parseConfig } from "@hitl/core";
import { useLocalNeonProxy } from "@hitl/core/postgres";
import { localSettings } from "../scripts/local-env.js";
import { percentile, result, type BenchEnv, type BenchResult } from "./support.js";

/** Stored keys in the table (a generous deployment), and bootstrap keys in the secret. */
const STORED = 1000;
const BOOTSTRAP = 8;
const BATCH = 2000;
const ROUNDS = 25;

/**
 * The key check on a warm instance (issue 29), in-process against the bench stack's Postgres:
 * µs per check for a stored key, a bootstrap key, a wrong key and no key, beside the SHA-256 of
 * the key alone (the least any check does). The rounds interleave the cases, so a slower stretch
 * of the shared machine falls on all alike; the figure is the median round's µs per check.
 */
export async function keysBench(env: BenchEnv): Promise<BenchResult[]> {
  const bootstrap = Array.from({ length: BOOTSTRAP }, (_, i) => generateKey(`boot-${i}`, ["bot"]));
  const config = parseConfig({ ...localSettings(env.stack, JSON.stringify(bootstrap.map((b) => b.entry))), LOG_LEVEL: "error" });
  useLocalNeonProxy(config.localNeonProxyUrl!);
  const services = createServices(config);
  const run = Date.now().toString(36);
  let stored = "";
  for (let i = 0; i < STORED; i++)
    stored = (
      await createKey({ db: services.db, maxAgeMs: config.apiKeyMaxAgeMs }, { name: `bench-${run}-${i}`, scopes: ["agent"] }, "bench")
    ).key;
  await services.keys.refresh();
  const wrong = stored.slice(0, -2) + (stored.endsWith("AA") ? "BB" : "AA");
  const cases: [string, () => unknown][] = [
    ["sha256 of the key alone", () => createHash("sha256").update(stored, "utf8").digest()],
    ["stored key", () => services.keys.authenticate(stored)],
    ["bootstrap key", () => services.keys.authenticate(bootstrap[BOOTSTRAP - 1]!.key)],
    ["wrong key", () => services.keys.authenticate(wrong)],
    ["no key", () => services.keys.authenticate(undefined)],
  ];
  if (typeof (await services.keys.authenticate(stored)) === "string") throw new Error("the stored key was refused");
  const us = cases.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, fn]] of cases.entries()) {
      const t = performance.now();
      for (let n = 0; n < BATCH; n++) await fn();
      us[i]!.push(((performance.now() - t) * 1000) / BATCH);
    }
  }
  const med = us.map((s) => percentile(s, 50));
  const base = med[0]!;
  return cases.slice(1).map(([name], i) => result(`key check: ${name} (${STORED} stored)`, med[i + 1]!, "us", cases[0]![0], base));
}
