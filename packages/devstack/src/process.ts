import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";

/** Stops a child process once (idempotent), resolving when it has exited. */
export function stopper(child: ChildProcess, signal: NodeJS.Signals): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill(signal);
    });
    return stopped;
  };
}

/** The child's exit: its code, or the signal that ended it. */
export function exitOf(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Direct children of a process (Linux /proc; elsewhere none are found). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces, so parse after its closing parenthesis.
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/**
 * Signals a server and every process it forked (Postgres's backends are the postmaster's
 * children): SIGSTOP freezes the whole server, as a stalled host would, SIGCONT resumes it.
 */
export function signalTree(pid: number, signal: NodeJS.Signals): void {
  const pids = [pid, ...childrenOf(pid)];
  for (const p of signal === "SIGCONT" ? pids.reverse() : pids) {
    try {
      process.kill(p, signal);
    } catch {
      /* already gone */
    }
  }
}
