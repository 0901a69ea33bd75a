import type { Services } from "@hitl/core/runtime";
import type { Context } from "hono";
import type { AppEnv } from "./env.js";

/**
 * A handler's first argument to core: the instance's services, typed by their ports, with the
 * request's logger (request id attached). A core function names in its own parameter type only
 * the ports it reads (`{ db: Db; redis: RedisStore }`); one that reads Postgres alone takes the
 * `Db` port itself: `listKeys(deps(c).db, query)`.
 */
export const deps = (c: Context<AppEnv>): Services => ({ ...c.get("services"), log: c.get("log") });
