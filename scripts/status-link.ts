/**
 * `npm run status-link -- --url https://…`: a link that opens the status page for 15 minutes in a
 * browser (which cannot send the admin key). Signed with a key derived from ERASURE_HASH_KEY, the
 * deployment's secret (`npx sst secret list --stage production` shows it to those allowed to see it).
 */
import { parseArgs } from "node:util";
import { LOCAL_ERASURE_KEY, signStatusLink, STATUS_LINK_TTL_SECONDS } from "@hitl/core";
import { runningStack } from "./local-env.js";

const USAGE = `usage: npm run status-link -- [--url API_URL]
  Prints a link that opens /status for ${STATUS_LINK_TTL_SECONDS / 60} minutes without an API key.
  --url   the API's base URL (default: API_URL, else the running npm start)
  For a deployment, needs its ERASURE_HASH_KEY in the environment (the link is signed with a key derived
  from it). For the local stack (npm start, or a loopback --url) the local fixed key is used.`;

async function main() {
  let values: { url?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { url: { type: "string" }, help: { type: "boolean", short: "h" } } }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) return void console.log(USAGE);
  const base = values.url ?? process.env.API_URL ?? (await runningStack())?.apiUrl;
  if (!base) {
    console.error(`no API URL: pass --url (sst deploy prints it as "api")\n${USAGE}`);
    process.exit(2);
  }
  let local = false;
  try {
    local = ["127.0.0.1", "localhost", "[::1]"].includes(new URL(base).hostname);
  } catch {
    console.error(`--url ${JSON.stringify(base)} is not a URL\n${USAGE}`);
    process.exit(2);
  }
  // The local stack's erasure key is fixed (HITL_MODE=local): a link for it needs no secret.
  const secret = process.env.ERASURE_HASH_KEY ?? (local ? LOCAL_ERASURE_KEY : undefined);
  if (!secret || secret.length < 32) {
    console.error(`ERASURE_HASH_KEY is not set (at least 32 characters): the deployment's key signs the link\n${USAGE}`);
    process.exit(2);
  }
  const { expires, sig } = signStatusLink(secret);
  const url = new URL("/status", base);
  url.search = new URLSearchParams({ expires: String(expires), sig }).toString();
  console.log(`${url.toString()}\n(valid until ${new Date(expires * 1000).toISOString()}; it opens the page only, no API)`);
}

await main();
