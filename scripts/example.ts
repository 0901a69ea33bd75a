/**
 * `npm run example -- turn`: runs an example of the typed client (packages/client/examples)
 * against the API: API_URL, else the running `npm start`; keys from HITL_BOT_KEY, HITL_AGENT_KEY
 * and HITL_REVIEWER_KEY, else HITL_API_KEY, else the local admin key (which passes every scope).
 */
import { readFile } from "node:fs/promises";
import { DATA_DIR, runningStack } from "./local-env.js";

const EXAMPLES = { turn: () => import("../packages/client/examples/turn.js").then((m) => m.turn) } as const;
const USAGE = `usage: npm run example -- ${Object.keys(EXAMPLES).join("|")}
  turn   one conversation turn: ingest, claim, interaction, review, outbox, sent (a new user each run)
  Runs against API_URL, else the running npm start. Keys: HITL_BOT_KEY, HITL_AGENT_KEY, HITL_REVIEWER_KEY,
  else HITL_API_KEY, else the local admin key (${DATA_DIR}/local-admin-key.json).`;

async function main() {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) return void console.log(USAGE);
  const name = args[0] as keyof typeof EXAMPLES | undefined;
  if (!name || !(name in EXAMPLES) || args.length > 1) {
    console.error(`${name ? `unknown example ${JSON.stringify(args.join(" "))}` : "which example?"}\n\n${USAGE}`);
    process.exit(2);
  }
  const baseUrl = process.env.API_URL ?? (await runningStack())?.apiUrl;
  if (!baseUrl) {
    console.error(`no API: start it with npm start (or set API_URL)\n\n${USAGE}`);
    process.exit(1);
  }
  const fallback = process.env.HITL_API_KEY ?? (await localKey());
  const key = (name: string) => process.env[name] ?? fallback;
  const [botKey, agentKey, reviewerKey] = [key("HITL_BOT_KEY"), key("HITL_AGENT_KEY"), key("HITL_REVIEWER_KEY")];
  if (!botKey || !agentKey || !reviewerKey) {
    console.error(`no API key: set HITL_API_KEY (or the per-role keys)\n\n${USAGE}`);
    process.exit(1);
  }
  const result = await (await EXAMPLES[name]())({ baseUrl, botKey, agentKey, reviewerKey });
  console.log(`${name}: ${JSON.stringify(result)}`);
}

async function localKey(): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(`${DATA_DIR}/local-admin-key.json`, "utf8")) as { key?: string }).key;
  } catch {
    return undefined;
  }
}

main().catch((e) => {
  console.error(`example failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
