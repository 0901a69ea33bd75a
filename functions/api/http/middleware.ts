import { createLogger, hasScope, NotFoundError, parseJsonBody, PayloadTooLargeError, UnauthorizedError, ForbiddenError, UnsupportedMediaTypeError, type Scope, type Services } from "@hitl/core/runtime";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { routePath } from "hono/route";
import type { AppEnv } from "./env.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JSON_TYPE = /^application\/(?:[a-z.+-]+\+)?json(?:\s*;|$)/i;

/** The instance's services could not be built (already logged where it failed). */
export class SetupFailedError extends Error {
  override name = "SetupFailedError";
  constructor() { super("service set-up failed"); }
}

/** Provides the instance's services (created on the first request: a "pool miss"). */
export function withServices(provide: () => Promise<Services>, onDeadline?: (deadline: number | undefined) => void): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let services: Services;
    try {
      services = await provide();
    } catch (e) {
      // Configuration or store set-up failed (a cold start): logged, with its stack, before the
      // 500 goes out; the response says nothing more than "internal error".
      createLogger("error").error("service set-up failed", { err: e instanceof Error ? e : new Error(String(e)) });
      throw new SetupFailedError();
    }
    c.set("services", services);
    const remaining = c.env?.lambdaContext?.getRemainingTimeInMillis?.();
    // In Lambda no store call may run into the function's timeout (one request per instance, so
    // the instance-wide deadline is this request's).
    onDeadline?.(remaining !== undefined ? Date.now() + remaining - services.config.lambdaMarginMs : undefined);
    await next();
  };
}

/** Request id (echoed in X-Request-Id), one structured log line and metrics per request. */
export function requestContext(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    const { log: baseLog, metrics } = c.get("services");
    const log = baseLog.child({ request_id: requestId });
    c.set("requestId", requestId);
    c.set("log", log);
    const start = performance.now();
    // Set before the response exists, every response the context builds (errors too) carries it;
    // setting it afterwards would make Hono rebuild the finished response.
    c.header("X-Request-Id", requestId);
    try {
      await next();
    } finally {
      // A response a handler built itself has not got it yet.
      if (!c.res.headers.has("X-Request-Id")) c.header("X-Request-Id", requestId);
      const route = routePath(c) || "unmatched";
      const seconds = (performance.now() - start) / 1000;
      metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
      metrics.httpDuration.observe({ method: c.req.method, route }, seconds);
      // The status page's own requests (it refreshes itself) would skew the figures it shows.
      if (route !== "/status") metrics.timeline.record(seconds * 1000, c.res.status);
      log.info("request", { method: c.req.method, route, status: c.res.status, duration_ms: Math.round(seconds * 1e4) / 10, key_id: c.get("principal")?.id });
    }
  };
}

/**
 * For requests with a body: the key is checked first (an unauthenticated request gets 401, not
 * 413 or 415), then 415 for a body that is not JSON, 413 over the size limit (streamed bodies are
 * counted too), an empty body (chunked included) as `{}`, and 400 for a body that is not strict
 * UTF-8 or whose JSON holds a lone surrogate or a reserved key (core's parseJsonBody).
 */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

export function bodyGuards(): MiddlewareHandler<AppEnv> {
  // One size-limit middleware per limit (the instance's setting), not one per request.
  let limit: { max: number; handler: MiddlewareHandler } | undefined;
  return async (c, next) => {
    const { maxBodyBytes } = c.get("services").config;
    const carriesBody = BODY_METHODS.has(c.req.method);
    const length = c.req.header("content-length");
    const chunked = c.req.header("transfer-encoding") !== undefined;
    if (!carriesBody && !chunked) {
      // A body we never read (GET, DELETE): only its declared size matters (413 whatever the method).
      if (Number(length ?? 0) > maxBodyBytes) throw new PayloadTooLargeError(maxBodyBytes);
      return next();
    }
    if (carriesBody) {
      c.set("principal", await authenticate(c));
      // The common case, a body of declared length: its size and type come from the headers, and
      // the body is read straight from the connection (the request is never rebuilt).
      if (length !== undefined && Number(length) > 0 && !chunked) {
        if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) throw new UnsupportedMediaTypeError();
        if (Number(length) > maxBodyBytes) throw new PayloadTooLargeError(maxBodyBytes);
        await readJson(c);
        return next();
      }
      let hasBody = length !== undefined ? Number(length) > 0 : c.req.raw.body !== null;
      if (hasBody && length === undefined && !c.req.header("content-type")) {
        // A chunked body with no type: empty is `{}`, anything else must say it is JSON.
        const text = await c.req.raw.clone().text();
        hasBody = text.length > 0;
      }
      if (hasBody && !JSON_TYPE.test(c.req.header("content-type") ?? "")) throw new UnsupportedMediaTypeError();
      // An empty body is an empty object: optional bodies then get their schema's defaults.
      if (!hasBody) c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers: withJsonType(c.req.raw.headers), body: "{}" });
    }
    if (limit?.max !== maxBodyBytes) limit = { max: maxBodyBytes, handler: bodyLimit({ maxSize: maxBodyBytes, onError: () => { throw new PayloadTooLargeError(maxBodyBytes); } }) };
    return limit.handler(c, async () => {
      if (carriesBody) await readJson(c);
      await next();
    });
  };
}

/**
 * Reads the body once, checks it (parseJsonBody: strict UTF-8, well-formed strings, no reserved
 * keys) and leaves it parsed for the validator (rather than letting Hono rebuild a Response to read
 * it again). Invalid JSON is the validator's to answer.
 */
async function readJson(c: Context<AppEnv>) {
  const { json } = parseJsonBody(await c.req.arrayBuffer());
  if (json !== undefined) c.req.bodyCache.json = Promise.resolve(json);
}

function withJsonType(headers: Headers): Headers {
  const h = new Headers(headers);
  h.set("content-type", "application/json");
  h.delete("content-length");
  return h;
}

/** The request's principal from its bearer key; 401 when the key is missing, unknown or expired. */
async function authenticate(c: Context<AppEnv>) {
  const match = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  const principal = await c.get("services").keys.authenticate(match?.[1]);
  if (typeof principal === "string") throw new UnauthorizedError();
  return principal;
}

/** Bearer key -> principal (401 when missing/unknown), then the route's scopes (403). */
export function requireScopes(scopes: readonly Scope[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // Requests with a body were authenticated before their body was read (bodyGuards).
    const principal = c.get("principal") ?? await authenticate(c);
    c.set("principal", principal);
    if (!hasScope(principal, scopes)) throw new ForbiddenError();
    await c.get("services").rateLimit?.check(principal.id, principal.rateLimit);
    await next();
  };
}

export const notFound = (): never => { throw new NotFoundError("no such route"); };
