/**
 * `npm run reset`: removes everything the local stack keeps (DATA_DIR, and the Postgres cluster
 * DATA_DIR records when it had to live elsewhere). Refuses while the stack runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { CLUSTER_LOCATION_FILE } from "@hitl/devstack";
import { DATA_DIR, runningStack } from "./local-env.js";

const USAGE = `usage: npm run reset [-- --yes]
  Removes ${DATA_DIR} (DATA_DIR): the local Postgres, Redis and S3 data, keys and stack.json.
  --yes   required: it cannot be undone`;

async function main() {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) return void console.log(USAGE);
  const unknown = args.filter((a) => a !== "--yes");
  if (unknown.length) {
    console.error(`unknown argument ${JSON.stringify(unknown[0])}\n${USAGE}`);
    process.exit(2);
  }
  const running = await runningStack();
  if (running) {
    console.error(`a local stack runs (pid ${running.pid}): stop it (Ctrl-C) before npm run reset`);
    process.exit(1);
  }
  if (!args.includes("--yes")) {
    console.error(`this removes ${DATA_DIR} and everything in it: run npm run reset -- --yes`);
    process.exit(2);
  }
  const record = path.join(DATA_DIR, "postgres", CLUSTER_LOCATION_FILE);
  const cluster = existsSync(record) ? readFileSync(record, "utf8").trim() : undefined;
  if (cluster) await rm(cluster, { recursive: true, force: true });
  await rm(DATA_DIR, { recursive: true, force: true });
  console.log(`removed ${DATA_DIR}${cluster ? ` and the cluster it recorded (${cluster})` : ""}; npm start begins afresh`);
}

await main();
