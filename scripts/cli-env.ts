import { parseConfig, type Config } from "@hitl/core";
import { useLocalNeonProxy } from "@hitl/core/postgres";

// The AWS SDK's own switch for its 8-line "Node 20 support ends" notice on every command: the
// deployed functions run Node 22; locally Node 20.19+ is supported (README, "Requirements").
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
import { startStack, type LocalStack } from "@hitl/devstack";
import { cleanupOnInterrupt } from "./interrupt.js";
import { DATA_DIR, isAlive, localAdminKey, localSettings, readStackFile } from "./local-env.js";

/**
 * The configuration a CLI command runs against: the cloud settings in the environment when given
 * (HITL_MODE unset or cloud, DATABASE_URL set), else the running `npm start` stack found through
 * DATA_DIR/stack.json, else a local stack started for the command and stopped after it.
 */
export async function cliConfig(
  log: (l: string) => void = console.error,
): Promise<{ config: Config; settings: Record<string, string | undefined>; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL && process.env.HITL_MODE !== "local") {
    const settings = { API_KEYS: JSON.stringify([{ id: "cli", scopes: ["admin"], sha256: "0".repeat(64) }]), ...process.env };
    return { config: parseConfig(settings), settings, stop: async () => {} };
  }
  const running = await readStackFile();
  let stack: LocalStack | undefined;
  let endpoints = running && isAlive(running.pid) ? running : undefined;
  if (endpoints) log(`using the running local stack (pid ${endpoints.pid})`);
  else {
    log(`starting the local stack in ${DATA_DIR} for this command ...`);
    stack = await startStack({ dataDir: DATA_DIR, ports: running?.ports, upstashToken: running?.upstashToken });
    // Ctrl-C stops the stack this command started (its servers would outlive the command otherwise).
    const started = stack;
    cleanupOnInterrupt(() => started.stop());
    endpoints = { ...stack.endpoints(), apiUrl: "", pid: process.pid, startedAt: new Date().toISOString() };
  }
  const admin = await localAdminKey();
  const settings = localSettings(endpoints, JSON.stringify([admin.entry]));
  const config = parseConfig(settings);
  useLocalNeonProxy(config.localNeonProxyUrl!);
  if (stack) {
    const { migrate } = await import("@hitl/core/postgres");
    await migrate(config.databaseUrl);
  }
  return {
    config,
    settings,
    stop: async () => {
      await stack?.stop();
    },
  };
}
