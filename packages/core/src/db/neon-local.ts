import { neonConfig } from "@neondatabase/serverless";
import { createRequire } from "node:module";

let applied: string | undefined;

/**
 * The `ws` package, loaded only where there is no global WebSocket (Node 20) or locally: the
 * Lambda bundle leaves it out (Node 22 has one), so requiring it there would never happen.
 */
const wsConstructor = () => createRequire(import.meta.url)("ws") as typeof WebSocket;

/**
 * The driver's Pool needs a WebSocket constructor: Node 22 (Lambda) has a global one, Node 20 (say,
 * `sst dev` on a laptop) does not; there the `ws` package serves.
 */
export function ensureWebSocket(): void {
  if (!neonConfig.webSocketConstructor && typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined") {
    neonConfig.webSocketConstructor = wsConstructor();
  }
}

/**
 * Points the Neon driver at the devstack's proxy (WebSocket to TCP at /v1, HTTP queries at /sql).
 * Only the endpoints differ from production, and TLS: loopback runs without it (the driver's
 * pipelined connect and write coalescing keep their production defaults, as the proxy asks for a
 * cleartext password just as Neon's does).
 */
export function useLocalNeonProxy(proxyUrl: string): void {
  if (applied === proxyUrl) return;
  const u = new URL(proxyUrl);
  // The runtime's own WebSocket where it has one (a Lambda bundle run locally carries no `ws`).
  neonConfig.webSocketConstructor = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket ?? wsConstructor();
  neonConfig.wsProxy = (host, port) => `${u.host}/v1?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.fetchEndpoint = () => `${u.origin}/sql`;
  applied = proxyUrl;
}
