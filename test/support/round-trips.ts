import type { ServiceAdapters } from "@hitl/core";

export interface RoundTrips {
  readonly redis: number;
  readonly postgres: number;
  reset(): void;
  restore(): void;
}

/**
 * Counts network round trips by wrapping the real clients in Proxies: every `request` of the
 * Upstash HTTP requester (one REST call: a command, a pipeline or a transaction) and every
 * `query`/`transaction` executed by the Neon HTTP function.
 */
export function countRoundTrips(services: ServiceAdapters): RoundTrips {
  let redis = 0;
  let postgres = 0;
  const upstash = services.redis.client as unknown as { client: object };
  const requester = upstash.client;
  upstash.client = new Proxy(requester, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== "request" || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        redis += 1;
        return value.apply(target, args);
      };
    },
  });
  const sql = services.db.sql;
  services.db.sql = new Proxy(sql, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if ((prop !== "query" && prop !== "transaction") || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        postgres += 1;
        return value.apply(target, args);
      };
    },
  });
  return {
    get redis() {
      return redis;
    },
    get postgres() {
      return postgres;
    },
    reset() {
      redis = 0;
      postgres = 0;
    },
    restore() {
      upstash.client = requester;
      services.db.sql = sql;
    },
  };
}
