import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createLogger, createServices, parseConfig, type ServiceAdapters } from "@hitl/core";
import { migrate, useLocalNeonProxy } from "@hitl/core/postgres";
import { signalTree, startPostgres, startRedisServer, startStack, type LocalStack } from "@hitl/devstack";
import { createApp } from "../../functions/api/app.js";
import { testEnv, testKeys } from "./stack.js";
import { loadScripts } from "./scripts.js";

/**
 * A stack of this test file's own (Postgres, Redis, the Upstash bridge and the Neon proxy with
 * their fault switches), so its servers can be frozen, killed and restarted without touching the
 * suite's shared stack. The Neon driver of this worker points at its proxy.
 */
export async function startPrivateStack() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-faults-"));
  const stack: LocalStack = await startStack({ dataDir: dir, persistent: false });
  useLocalNeonProxy(stack.neonProxyUrl);
  await migrate(stack.databaseUrl);
  await loadScripts(stack.upstashUrl, stack.upstashToken);
  let pgPid = stack.postgres.pid;
  let redisPid = stack.redis.pid;
  const restarted: { stop(): Promise<void> }[] = [];
  const { keys, entries } = testKeys();

  return {
    stack,
    keys,
    pids: () => ({ postgres: pgPid, redis: redisPid }),
    /** Fresh services (closed breakers) and app on this stack; `extra` are settings. */
    app(extra: Record<string, string> = {}, deadline?: () => number | undefined, logLines?: string[]) {
      const config = parseConfig(
        testEnv(stack.databaseUrl, JSON.stringify(entries), {
          LOCAL_NEON_PROXY_URL: stack.neonProxyUrl,
          UPSTASH_REDIS_REST_URL: stack.upstashUrl,
          UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
          REDIS_PREFIX: "pf:",
          ...extra,
        }),
      );
      // As in Lambda: store calls end by the request's deadline, which the app takes from the Lambda context.
      const log = logLines ? createLogger("debug", {}, (l) => logLines.push(l)) : undefined;
      const services: ServiceAdapters = createServices(config, { deadline: deadline ?? (() => app.currentDeadline()), log });
      const app = createApp(async () => services);
      const call = async (method: string, p: string, key?: string, body?: unknown, env?: unknown, extra: Record<string, string> = {}) => {
        const headers: Record<string, string> = { ...extra, ...(key ? { authorization: `Bearer ${key}` } : {}) };
        if (body !== undefined) headers["content-type"] = "application/json";
        const started = performance.now();
        const res = await app.request(p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, env as never);
        const text = await res.text();
        return { status: res.status, ms: performance.now() - started, text, json: () => JSON.parse(text), headers: res.headers };
      };
      return { services, app, call };
    },
    /** Freezes or resumes a server and its children (SIGSTOP / SIGCONT). */
    signal(store: "postgres" | "redis", sig: "SIGSTOP" | "SIGCONT" | "SIGKILL") {
      signalTree(store === "postgres" ? pgPid : redisPid, sig);
    },
    /** Starts a killed server again on its port (Postgres on its data dir: crash recovery). */
    async restart(store: "postgres" | "redis") {
      if (store === "redis") {
        const r = await startRedisServer({ port: stack.redis.port });
        redisPid = r.pid;
        restarted.push(r);
        // Best effort: a bridge fault switched on meanwhile would refuse it (then one EVAL, once).
        await loadScripts(stack.upstashUrl, stack.upstashToken).catch(() => {});
      } else {
        const p = await startPostgres({ dataDir: stack.postgres.dataDir, port: stack.postgres.port, fast: true });
        pgPid = p.pid;
        restarted.push(p);
      }
    },
    async stop() {
      stack.bridge.faults.clear();
      stack.proxy.faults.clear();
      for (const s of ["postgres", "redis"] as const) signalTree(s === "postgres" ? pgPid : redisPid, "SIGCONT");
      for (const r of restarted) await r.stop().catch(() => {});
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type PrivateStack = Awaited<ReturnType<typeof startPrivateStack>>;
