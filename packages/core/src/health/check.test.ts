import { describe, expect, it } from "vitest";
import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import { checkHealth, checkLiveness, type StoreProbes } from "./check.js";

// The health report over fake ports: no store, no adapter; what a unit test of core looks like.
const db = (ok: boolean): Db => ({
  query: async () => {
    if (!ok) throw new Error("postgres down");
    return [];
  },
  transaction: async () => [],
});
const redis = (ok: boolean) =>
  ({
    run: async () => {
      if (!ok) throw new Error("redis down");
      return "PONG";
    },
  }) as unknown as RedisStore;
const probes = (bucket: boolean, redisBreaker: "closed" | "open" = "closed"): StoreProbes => ({
  postgresBreaker: () => "closed",
  redisBreaker: () => redisBreaker,
  bucket: async () => bucket,
});

describe("checkHealth over its ports", () => {
  it("ok when every store answers; the breakers as the probes say", async () => {
    const r = await checkHealth({ db: db(true), redis: redis(true), probes: probes(true) });
    expect(r).toMatchObject({ status: "ok", postgres: { ok: true, breaker: "closed" }, redis: { ok: true }, storage: { ok: true } });
  });

  it("degraded, naming the store, when one fails (a bucket that does not answer included)", async () => {
    const down = await checkHealth({ db: db(true), redis: redis(false), probes: probes(true, "open") });
    expect(down).toMatchObject({ status: "degraded", redis: { ok: false, breaker: "open" }, postgres: { ok: true } });
    expect((await checkHealth({ db: db(true), redis: redis(true), probes: probes(false) })).storage.ok).toBe(false);
    expect(await checkLiveness({ db: db(false), redis: redis(true) })).toBe(false);
    expect(await checkLiveness({ db: db(true), redis: redis(true) })).toBe(true);
  });
});
