import { migrate, useLocalNeonProxy } from "@hitl/core";
import { readStackFile } from "./local-env.js";

/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL, or to the running `npm start`
 * stack (found through DATA_DIR/stack.json) when DATABASE_URL is not set.
 */
async function main() {
  let url = process.env.DATABASE_URL;
  if (!url) {
    const s = await readStackFile();
    if (!s) throw new Error("set DATABASE_URL, or run `npm start` first (no DATA_DIR/stack.json found)");
    url = s.databaseUrl;
    useLocalNeonProxy(s.neonProxyUrl);
  } else if (process.env.LOCAL_NEON_PROXY_URL) {
    useLocalNeonProxy(process.env.LOCAL_NEON_PROXY_URL);
  }
  const r = await migrate(url, { log: console.log });
  console.log(`migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`);
}

main().catch((e) => { console.error(`migrate failed: ${e instanceof Error ? e.message : e}`); process.exit(1); });
