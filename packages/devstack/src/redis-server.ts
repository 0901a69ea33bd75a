import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { waitForPort } from "./ports.js";
import { exitOf, stopper } from "./process.js";

export interface RunningRedis {
  port: number;
  url: string;
  pid: number;
  /** Resolves with the exit code (or signal) when redis-server exits, stopped or not. */
  exited: Promise<number | string | null>;
  stop(): Promise<void>;
}

/** The redis-server binary: REDIS_SERVER_BIN, then PATH. */
export function redisServerBin(): string {
  const fromEnv = process.env.REDIS_SERVER_BIN ?? process.env.REDISMS_SYSTEM_BINARY;
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(
        `REDIS_SERVER_BIN=${fromEnv} does not exist: point it at a redis-server binary, or unset it to use the one on PATH (Debian: apt-get install redis-server)`,
      );
    return fromEnv;
  }
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"]).toString().trim();
  } catch {
    throw new Error("redis-server not found: install it (Debian: apt-get install redis-server) or set REDIS_SERVER_BIN");
  }
}

/**
 * Starts a private redis-server on 127.0.0.1. With `dir` it persists (append-only file) so a
 * restart keeps queued messages; without, it keeps nothing on disk (tests).
 * No eviction: WAL keys must never be evicted (see README, "Redis eviction policy").
 */
export async function startRedisServer(opts: { port: number; dir?: string }): Promise<RunningRedis> {
  const args = [
    "--port",
    String(opts.port),
    "--bind",
    "127.0.0.1",
    "--protected-mode",
    "yes",
    "--maxmemory-policy",
    "noeviction",
    "--save",
    "",
  ];
  if (opts.dir) {
    mkdirSync(opts.dir, { recursive: true });
    args.push("--dir", opts.dir, "--appendonly", "yes", "--appendfsync", "everysec");
  } else {
    args.push("--appendonly", "no");
  }
  const child = spawn(redisServerBin(), args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c) => (out = (out + c).slice(-2000)));
  child.stderr.on("data", (c) => (out = (out + c).slice(-2000)));
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out.trim()}`))),
  );
  await Promise.race([waitForPort(opts.port), exited]);
  exited.catch(() => {});
  return {
    port: opts.port,
    url: `redis://127.0.0.1:${opts.port}`,
    pid: child.pid!,
    exited: exitOf(child),
    stop: stopper(child, "SIGTERM"),
  };
}
