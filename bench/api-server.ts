import { readFileSync } from "node:fs";
import { serve } from "@hono/node-server";
import { createServices, parseConfig } from "@hitl/core";
import { useLocalNeonProxy } from "@hitl/core/postgres";
import { createApp } from "../functions/api/app.js";
import { localSettings, type StackFile } from "../scripts/local-env.js";

/**
 * The API on a running stack, in a process of its own (as the minimal app runs in its own), so that
 * neither shares its event loop with the stack's bridge and proxy: `npm run bench -- hotpath`.
 */
const stack = JSON.parse(readFileSync(process.env.STACK_FILE!, "utf8")) as StackFile;
const config = parseConfig(localSettings(stack, process.env.API_KEYS!));
useLocalNeonProxy(config.localNeonProxyUrl!);
const services = createServices(config);
const app = createApp(async () => services);
const port = Number(process.env.PORT);
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => console.log(`api on ${port}`));
// A clean exit on SIGTERM (a CPU profile, when asked for, is written on exit).
process.on("SIGTERM", () => process.exit(0));
