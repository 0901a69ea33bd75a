import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";
import { runningStack } from "./local-env.js";

const USAGE = `usage: npm run migrate
  Applies pending migrations to DATABASE_URL, or to the running \`npm start\` stack when
  DATABASE_URL is not set (found through DATA_DIR/stack.json). Each migration runs in its own
  transaction, serialized by an advisory lock; applied ones are checked against their checksums.`;

/** What an error says, whatever it is (the driver can reject with a non-Error event). */
function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  const m = (e as { message?: unknown })?.message;
  return typeof m === "string" ? m : "the database could not be reached";
}

async function main(argv: string[]) {
  if (argv.includes("--help") || argv.includes("-h")) return void console.log(USAGE);
  if (argv.length) throw new Error(`unexpected argument ${JSON.stringify(argv[0])} (see --help)`);
  let url = process.env.DATABASE_URL;
  if (!url) {
    // A stack.json left by a stopped `npm start` names ports nothing listens on any more.
    const s = await runningStack();
    if (!s) throw new Error("set DATABASE_URL, or start the local stack with `npm start` first (none is running)");
    url = s.databaseUrl;
    useLocalNeonProxy(s.neonProxyUrl);
  } else if (process.env.LOCAL_NEON_PROXY_URL) {
    useLocalNeonProxy(process.env.LOCAL_NEON_PROXY_URL);
  }
  const r = await migrate(url, { log: console.log });
  const target = new URL(url);
  console.log(
    `database ${target.pathname.slice(1)} on ${target.hostname}${target.port ? `:${target.port}` : ""}: ${r.applied.length} migration(s) applied, ${r.skipped.length} already there`,
  );
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`migrate failed: ${describe(e)}`);
  process.exit(1);
});
