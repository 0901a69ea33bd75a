import { neonConfig } from "@neondatabase/serverless";
import ws from "ws";

let applied: string | undefined;

/**
 * The driver's Pool needs a WebSocket constructor: Node 22 (Lambda) has a global one, Node 20 (say,
 * `sst dev` on a laptop) does not; there the `ws` package serves.
 */
export function ensureWebSocket(): void {
  if (!neonConfig.webSocketConstructor && typeof (globalThis as { WebSocket?: unknown }).WebSocket === "undefined") {
    neonConfig.webSocketConstructor = ws;
  }
}

/**
 * Points the Neon driver at the devstack's proxy (plain WebSocket to TCP, and /sql for HTTP
 * queries). Only ever called in local mode; production keeps the driver's defaults.
 */
export function useLocalNeonProxy(proxyUrl: string): void {
  if (applied === proxyUrl) return;
  const u = new URL(proxyUrl);
  neonConfig.webSocketConstructor = ws;
  neonConfig.wsProxy = (host, port) => `${u.host}/v1?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  // Coalescing writes costs ~5x latency on loopback and buys nothing there.
  neonConfig.coalesceWrites = false;
  neonConfig.fetchEndpoint = () => `${u.origin}/sql`;
  applied = proxyUrl;
}
