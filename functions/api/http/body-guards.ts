import { parseJsonBody } from "@hitl/core/runtime";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./env.js";
import { PayloadTooLargeError, UnsupportedMediaTypeError } from "./errors.js";

const JSON_TYPE = /^application\/(?:[a-z.+-]+\+)?json(?:\s*;|$)/i;
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

export interface BodyGuardOptions {
  /** The body size limit in bytes (a number, or read per request: the instance's setting). */
  maxBytes: number | ((c: Context<AppEnv>) => number);
}

/**
 * For requests with a body: 415 for a body that is not JSON, 413 over the size limit (streamed
 * bodies are counted too), an empty body (chunked included) as `{}`, and 400 for a body that is not
 * strict UTF-8 or whose JSON holds a lone surrogate or a reserved key (core's parseJsonBody). The body is read once and left
 * parsed for the validator. Authentication runs before it (auth.ts: 401 before 413 or 415).
 */
export function bodyGuards({ maxBytes }: BodyGuardOptions): MiddlewareHandler<AppEnv> {
  // One size-limit middleware per limit (the instance's setting), not one per request.
  let limit: { max: number; handler: MiddlewareHandler } | undefined;
  return async (c, next) => {
    const max = typeof maxBytes === "number" ? maxBytes : maxBytes(c);
    const carriesBody = BODY_METHODS.has(c.req.method);
    const length = c.req.header("content-length");
    const chunked = c.req.header("transfer-encoding") !== undefined;
    if (!carriesBody && !chunked) {
      // A body we never read (GET, DELETE): only its declared size matters (413 whatever the method).
      if (Number(length ?? 0) > max) throw new PayloadTooLargeError(max);
      return next();
    }
    if (carriesBody) {
      // The common case, a body of declared length: its size and type come from the headers, and
      // the body is read straight from the connection (the request is never rebuilt).
      if (length !== undefined && Number(length) > 0 && !chunked) {
        if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) throw new UnsupportedMediaTypeError();
        if (Number(length) > max) throw new PayloadTooLargeError(max);
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
    if (limit?.max !== max)
      limit = {
        max,
        handler: bodyLimit({
          maxSize: max,
          onError: () => {
            throw new PayloadTooLargeError(max);
          },
        }),
      };
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
