import { UnsupportedMediaTypeError, ValidationError } from "@hitl/core/runtime";
import type { RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { z } from "zod";
import type { AppEnv } from "./env.js";

type Target = "query" | "param" | "header" | "json";
type Schema = z.ZodType;

/** A JSON media type with parameters, as a route declaring `application/json` accepts it. */
const JSON_REQUEST = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i;

/**
 * One middleware validating everything a route declares, in order: query, path parameters,
 * headers, then the JSON body; the first invalid part is a 400 (`ValidationError`, its issues as
 * details). Each part's data is left for `c.req.valid(part)`. Headers are read by name, only
 * those the route declares.
 */
export function validateRequest(route: RouteConfig): MiddlewareHandler<AppEnv> | undefined {
  const req = route.request;
  const parts: [Target, Schema, (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => unknown][] = [];
  if (req?.query) parts.push(["query", req.query as Schema, (c) => single(c.req.queries())]);
  if (req?.params) parts.push(["param", req.params as Schema, (c) => c.req.param()]);
  if (req?.headers) {
    const names = Object.keys((req.headers as z.ZodObject).shape);
    parts.push(["header", req.headers as Schema, (c) => {
      const value: Record<string, string> = {};
      for (const name of names) {
        const v = c.req.header(name);
        if (v !== undefined) value[name] = v;
      }
      return value;
    }]);
  }
  const json = (req?.body?.content?.["application/json"] as { schema?: Schema } | undefined)?.schema;
  const optionalBody = req?.body?.required !== true;
  if (!parts.length && !json) return undefined;
  return async (c, next) => {
    for (const [target, schema, read] of parts) c.req.addValidatedData(target, parse(target, schema, read(c)) as object);
    if (json) {
      const type = c.req.header("content-type");
      if (type && !JSON_REQUEST.test(type)) throw new UnsupportedMediaTypeError();
      // No JSON type: an optional body is `{}` as it stands, a required one is validated as `{}`.
      if (!type || !JSON_MEDIA.test(type.split(";")[0]!.trim())) {
        c.req.addValidatedData("json", optionalBody ? {} : (parse("json", json, {}) as object));
      } else {
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          throw new HTTPException(400, { message: "Malformed JSON in request body" });
        }
        c.req.addValidatedData("json", parse("json", json, body) as object);
      }
    }
    await next();
  };
}

function parse(target: Target, schema: Schema, value: unknown): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = flatten(result.error.issues as Issue[]).map((i) => ({ in: target, path: i.path.join("."), message: i.message, code: i.code }));
  throw new ValidationError(`invalid ${target}`, details);
}

/** Query parameters as strings, arrays only where a name repeats. */
function single(queries: Record<string, string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(queries)) out[k] = v.length === 1 ? v[0]! : v;
  return out;
}

interface Issue { code: string; path: PropertyKey[]; message: string; errors?: Issue[][] }

/** For a union (one message or a batch), report the branch that came closest instead of "invalid input". */
function flatten(issues: Issue[], prefix: PropertyKey[] = []): Issue[] {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    if (i.code !== "invalid_union" || !i.errors?.length) return [{ ...i, path }];
    const closest = [...i.errors].sort((a, b) => a.length - b.length)[0]!;
    return flatten(closest, path);
  });
}
