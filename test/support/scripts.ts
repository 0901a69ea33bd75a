import { Redis } from "@upstash/redis";
import { REDIS_SCRIPTS } from "@hitl/core";

/**
 * Loads the service's scripts into a Redis, as a running one has them (the service sends them by
 * hash). A fresh Redis costs one extra round trip per script, once: test/scripts.test.ts measures
 * that; the other tests count the steady state.
 */
export async function loadScripts(url: string, token: string): Promise<void> {
  const redis = new Redis({ url, token, enableTelemetry: false });
  for (const lua of REDIS_SCRIPTS) await redis.scriptLoad(lua);
}
