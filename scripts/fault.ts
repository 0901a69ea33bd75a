/**
 * `npm run fault -- ...`: switches a fault on the running `npm start` stack's Upstash bridge or
 * Neon proxy (through their /__faults switches), or freezes a server process, so an operator can
 * watch /status and /v1/health react.
 */
import { signalTree, type FaultSpec } from "@hitl/devstack";
import { runningStack, type StackFile } from "./local-env.js";

const USAGE = `usage: npm run fault -- <store> <fault> [args]      store: redis | postgres

  <store> hang [DURATION]                 accept requests, never answer (default: until cleared)
  <store> latency MS [JITTER] [DURATION]  add MS (+ random 0..JITTER) to every request
  <store> status CODE [DURATION]          answer HTTP CODE with the real service's body
                                          (Upstash: 429 500 502 503; Neon: 500 502 503 507)
  <store> reset [DURATION]                apply each request, then cut the response halfway
  <store> stall [DURATION]                apply each request, send half the response, then nothing
  <store> coldstart IDLE DELAY            first request after IDLE without traffic waits DELAY
  <store> stop | cont                     SIGSTOP / SIGCONT the server and its children
  clear [store]                           clear faults (both stores when none is named)
  show                                    the faults in force

  DURATION, IDLE, DELAY, MS: 250ms, 30s, 2m (a bare number is milliseconds)
examples: npm run fault -- redis hang 30s
          npm run fault -- postgres latency 200ms 50ms
          npm run fault -- redis status 429 1m
          npm run fault -- clear`;

class UsageError extends Error {}

function ms(v: string | undefined, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v ?? "");
  if (!m) throw new UsageError(`${what} must look like 250ms, 30s or 2m (got ${v === undefined ? "nothing" : JSON.stringify(v)})`);
  return Math.round(Number(m[1]) * (m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 1));
}

const optionalFor = (v: string | undefined) => (v === undefined ? {} : { forMs: ms(v, "DURATION") });

/** The fault spec an argument list asks for. */
export function parseFault(kind: string | undefined, args: string[]): FaultSpec {
  switch (kind) {
    case "hang":
      return { hang: true, ...optionalFor(args[0]) };
    case "latency": {
      const jitter = args.length >= 2 ? ms(args[1], "JITTER") : 0;
      return { latency: { ms: ms(args[0], "MS"), jitterMs: jitter }, ...optionalFor(args[2]) };
    }
    case "status": {
      const code = Number(args[0]);
      if (!Number.isInteger(code) || code < 400 || code > 599)
        throw new UsageError(`CODE must be an HTTP error status 400-599 (got ${args[0] ?? "nothing"})`);
      return { status: code, ...optionalFor(args[1]) };
    }
    case "reset":
      return { reset: true, ...optionalFor(args[0]) };
    case "stall":
      return { stall: true, ...optionalFor(args[0]) };
    case "coldstart":
      return { coldStart: { idleMs: ms(args[0], "IDLE"), delayMs: ms(args[1], "DELAY") } };
    default:
      throw new UsageError(`unknown fault ${JSON.stringify(kind ?? "")}: hang, latency, status, reset, stall, coldstart, stop or cont`);
  }
}

const STORES = { redis: "upstashUrl", postgres: "neonProxyUrl" } as const;
type Store = keyof typeof STORES;

async function call(stack: StackFile, store: Store, method: "GET" | "POST" | "DELETE", body?: FaultSpec) {
  const res = await fetch(`${stack[STORES[store]]}/__faults`, {
    method,
    headers: { "x-fault-token": stack.faultToken, "content-type": "application/json" },
    body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const out = (await res.json()) as { fault?: unknown; error?: string };
  if (!res.ok) throw new Error(`${store}: ${out.error ?? res.status}`);
  return out.fault;
}

const describe = (f: unknown) => (f && Object.keys(f).length ? JSON.stringify(f) : "none");

async function main(argv: string[]): Promise<void> {
  if (!argv.length || argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return;
  }
  const [first, second, ...rest] = argv;
  const store = first === "redis" || first === "postgres" ? first : undefined;
  if (!store && first !== "clear" && first !== "show")
    throw new UsageError(`unknown store or command ${JSON.stringify(first)}: redis, postgres, clear or show`);
  if (first === "clear" && second !== undefined && second !== "redis" && second !== "postgres")
    throw new UsageError(`clear takes redis or postgres (got ${JSON.stringify(second)})`);
  // Parse everything before touching the stack: a typo never reaches a server.
  const spec = store && second !== "stop" && second !== "cont" ? parseFault(second, rest) : undefined;

  const stack = await runningStack();
  if (!stack || !stack.faultToken)
    throw new Error("no running local stack: start it with `npm start` (faults apply to the running stack only)");

  if (first === "show" || first === "clear") {
    const stores: Store[] = second ? [second as Store] : ["redis", "postgres"];
    for (const s of stores) console.log(`${s}: ${describe(await call(stack, s, first === "show" ? "GET" : "DELETE"))}`);
    return;
  }
  if (second === "stop" || second === "cont") {
    signalTree(stack.pids[store!], second === "stop" ? "SIGSTOP" : "SIGCONT");
    console.log(
      `${store}: ${second === "stop" ? "stopped (SIGSTOP): requests hang until `npm run fault -- " + store + " cont`" : "resumed (SIGCONT)"}`,
    );
    return;
  }
  console.log(`${store}: ${describe(await call(stack, store!, "POST", spec))}`);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e instanceof UsageError ? `fault: ${e.message}\n\n${USAGE}` : `fault: ${(e as Error).message}`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
