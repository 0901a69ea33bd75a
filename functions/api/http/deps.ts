import type { Logger, Services } from "@hitl/core/runtime";

/** The stores a core function needs, with the request's logger (request id attached). */
export const storeDeps = (c: { get(k: "services"): Services; get(k: "log"): Logger }) => {
  const s = c.get("services");
  return { db: s.db, redis: s.redis, wal: s.wal, log: c.get("log") };
};
