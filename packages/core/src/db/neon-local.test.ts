import { neonConfig } from "@neondatabase/serverless";
import ws from "ws";
import { describe, expect, it } from "vitest";
import { ensureWebSocket } from "./neon-local.js";

describe("ensureWebSocket", () => {
  it("gives the driver the ws package only where no global WebSocket exists (Node 20), and keeps one already set", () => {
    const g = globalThis as { WebSocket?: unknown };
    const saved = { ctor: neonConfig.webSocketConstructor, global: g.WebSocket };
    try {
      neonConfig.webSocketConstructor = undefined;
      delete g.WebSocket;
      ensureWebSocket();
      expect(neonConfig.webSocketConstructor).toBe(ws);
      neonConfig.webSocketConstructor = undefined;
      g.WebSocket = class {};
      ensureWebSocket();
      expect(neonConfig.webSocketConstructor).toBeUndefined();
    } finally {
      neonConfig.webSocketConstructor = saved.ctor;
      if (saved.global === undefined) delete g.WebSocket;
      else g.WebSocket = saved.global;
    }
  });
});
