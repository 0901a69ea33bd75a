import { hasScope, type Principal, type Scope } from "@hitl/core/runtime";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.js";
import { ForbiddenError, UnauthorizedError } from "./errors.js";

/**
 * The port auth needs: bearer key -> principal, or nothing or a failure reason (core's key
 * directory: bootstrap keys and the keys stored in Postgres; it may answer asynchronously).
 */
export interface KeyLookup {
  authenticate(key: string | undefined): Principal | string | undefined | Promise<Principal | string | undefined>;
}
/** The port the per-key rate limit needs (core's RateLimiter; 429 by throwing): the key's own limit, else the deployment's. */
export interface RateCheck {
  check(keyId: string, own?: { requests: number; windowSeconds: number }): Promise<void>;
}

export interface AuthOptions {
  keys: (c: Context<AppEnv>) => KeyLookup;
  rateLimit?: (c: Context<AppEnv>) => RateCheck | undefined;
}

/** The instance's key ring and rate limiter (the services). */
const fromServices: AuthOptions = { keys: (c) => c.get("services").keys, rateLimit: (c) => c.get("services").rateLimit };
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** The request's principal from its bearer key; 401 when the key is missing or unknown. */
export async function authenticate(c: Context<AppEnv>, keys: KeyLookup): Promise<Principal> {
  const match = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  const principal = await keys.authenticate(match?.[1]);
  if (!principal || typeof principal === "string") throw new UnauthorizedError();
  return principal;
}

/**
 * A request that carries a body is authenticated before its body is read (bodyGuards): an
 * unauthenticated request gets 401, not 413 or 415, and its body is never parsed.
 */
export function authenticateBodies(options: Pick<AuthOptions, "keys"> = fromServices): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (BODY_METHODS.has(c.req.method)) c.set("principal", await authenticate(c, options.keys(c)));
    await next();
  };
}

/**
 * Bearer key -> principal (401 when missing/unknown), then the route's scopes (403, naming the
 * scopes that would do), then the per-key rate limit (429).
 */
export function requireScopes(scopes: readonly Scope[], options: AuthOptions = fromServices): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get("principal") ?? (await authenticate(c, options.keys(c)));
    c.set("principal", principal);
    if (!hasScope(principal, scopes)) throw new ForbiddenError(scopes);
    await options.rateLimit?.(c)?.check(principal.id, principal.rateLimit);
    await next();
  };
}
