import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";

/**
 * Faults the local Upstash bridge and Neon proxy can inject, so tests and operators see what
 * production does: a slow store, a hung one, an error status with the real service's body, a
 * connection reset mid-response, a Neon compute waking from scale-to-zero.
 */
export const FaultSpec = z
  .object({
    /** Added to every request: `ms` plus a uniform random 0..`jitterMs`. */
    latency: z.object({ ms: z.number().int().min(0), jitterMs: z.number().int().min(0).default(0) }).optional(),
    /** Accept the request and never answer. */
    hang: z.boolean().optional(),
    /** Answer this HTTP status with the body the real service sends for it. */
    status: z.number().int().min(400).max(599).optional(),
    /** Do the work, then reset the connection halfway through the response (the write was applied). */
    reset: z.boolean().optional(),
    /** Do the work, send the headers and half the body, then nothing more until the fault clears (a response stalled mid-body). */
    stall: z.boolean().optional(),
    /** The first request after `idleMs` without traffic waits `delayMs` (a Neon compute waking up). */
    coldStart: z.object({ idleMs: z.number().int().min(0), delayMs: z.number().int().min(0) }).optional(),
    /** The next `skip` requests pass untouched, then the fault applies (a failure mid-sequence). */
    skip: z.number().int().min(0).optional(),
    /** The fault clears itself after this long. */
    forMs: z.number().int().min(1).optional(),
  })
  .strict();
export type FaultSpec = z.input<typeof FaultSpec>;

/**
 * How long the bridge and the Neon proxy keep an idle client connection: longer than the clients'
 * own idle timeout (60 s, core's resilience/keep-alive.ts), as the services do (Neon's proxy sets
 * no idle timeout on its HTTP connections), so the client is the one that closes; Node's default
 * (5 s) closed them first, which production does not.
 */
export const SERVER_KEEP_ALIVE_MS = 120_000;

/** What a fault does to one request before the server handles it. */
export type Verdict = { kind: "pass" } | { kind: "hang" } | { kind: "status"; status: number } | { kind: "reset" } | { kind: "stall" };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What crossed a store's front door since it started: requests, commands (a pipeline's count each) and bytes answered. */
export interface Traffic {
  requests: number;
  commands: number;
  bytesOut: number;
  /** Client connections accepted (a new one is a TCP, in production also a TLS, handshake). */
  connections: number;
}

export class FaultSwitch {
  /** Counted for the latency and cost benches (`GET /__faults`), faults or not. */
  readonly traffic: Traffic = { requests: 0, commands: 0, bytesOut: 0, connections: 0 };
  private spec: z.output<typeof FaultSpec> = {};
  private until = 0;
  private lastActivity = Date.now();
  private waking: Promise<void> | undefined;
  /** Requests held open by a hang: released (destroyed) on clear or stop. */
  private readonly held = new Set<{ destroy(): void }>();

  set(spec: FaultSpec): void {
    this.spec = FaultSpec.parse(spec);
    this.until = this.spec.forMs ? Date.now() + this.spec.forMs : 0;
    if (!this.spec.hang && !this.spec.stall) this.releaseHeld();
  }

  /** Runs `fn` with the fault in force, and clears it however `fn` ends. */
  async during<T>(spec: FaultSpec, fn: () => Promise<T>): Promise<T> {
    this.set(spec);
    try {
      return await fn();
    } finally {
      this.clear();
    }
  }

  clear(): void {
    this.spec = {};
    this.until = 0;
    this.releaseHeld();
  }

  /** The fault in force now (a timed one clears itself). */
  current(): z.output<typeof FaultSpec> {
    if (this.until && Date.now() >= this.until) this.clear();
    return this.spec;
  }

  /** Applies latency and cold start, then says what to do with the request. */
  async before(): Promise<Verdict> {
    this.traffic.requests += 1;
    const spec = this.current();
    if (spec.skip) {
      spec.skip -= 1;
      return { kind: "pass" };
    }
    const now = Date.now();
    const idle = now - this.lastActivity;
    this.lastActivity = now;
    if (spec.coldStart && (this.waking || idle >= spec.coldStart.idleMs)) {
      this.waking ??= sleep(spec.coldStart.delayMs).finally(() => {
        this.waking = undefined;
        this.lastActivity = Date.now();
      });
      await this.waking;
    }
    if (spec.latency) await sleep(spec.latency.ms + Math.random() * spec.latency.jitterMs);
    if (spec.hang) return { kind: "hang" };
    if (spec.status) return { kind: "status", status: spec.status };
    if (spec.reset) return { kind: "reset" };
    if (spec.stall) return { kind: "stall" };
    return { kind: "pass" };
  }

  /** Keeps a hung (or stalled) request's connection until the fault clears. */
  hold(conn: { destroy(): void }): void {
    this.held.add(conn);
  }

  releaseHeld(): void {
    for (const c of this.held) c.destroy();
    this.held.clear();
  }
}

/** Sends the headers (the whole body's length) and half of `body`, then runs `then` once it is written. */
function halfResponse(res: ServerResponse, status: number, body: string, then: () => void): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
  res.write(body.slice(0, Math.max(1, Math.floor(body.length / 2))), then);
}

/** Sends part of `body` and resets the connection: the client sees the response cut short. */
export function resetMidResponse(res: ServerResponse, status: number, body: string): void {
  halfResponse(res, status, body, () => res.socket?.resetAndDestroy?.() ?? res.socket?.destroy());
}

/** Sends the headers and half of `body`, then holds the connection: the client waits mid-body. */
export function stallMidResponse(res: ServerResponse, status: number, body: string, faults: FaultSwitch): void {
  halfResponse(res, status, body, () => {
    if (res.socket) faults.hold(res.socket);
  });
}

/**
 * `POST /__faults` (set, body a FaultSpec), `DELETE /__faults` (clear), `GET /__faults` (show):
 * the operator's switch under `npm start`, behind the stack's fault token. Returns false when the
 * request is not for it.
 */
export async function handleFaultAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  faults: FaultSwitch,
  token: string,
  readBody: (r: IncomingMessage) => Promise<string>,
): Promise<boolean> {
  if ((req.url ?? "").split("?")[0] !== "/__faults") return false;
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.headers["x-fault-token"] !== token) {
    send(401, { error: "fault token required" });
    return true;
  }
  if (req.method === "DELETE") faults.clear();
  else if (req.method === "POST") {
    let raw: unknown;
    try {
      raw = JSON.parse((await readBody(req)) || "{}");
    } catch {
      send(400, { error: "body must be JSON" });
      return true;
    }
    const parsed = FaultSpec.safeParse(raw);
    if (!parsed.success) {
      send(400, { error: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") });
      return true;
    }
    faults.set(parsed.data);
  }
  send(200, { fault: faults.current(), traffic: faults.traffic });
  return true;
}
