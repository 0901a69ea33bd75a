import type { Hono } from "hono";
import { MethodNotAllowedError } from "./errors.js";
import { NotFoundError } from "@hitl/core/runtime";

/**
 * The app's not-found handler: 405 with `Allow` when the path exists under other methods (HEAD
 * with GET), otherwise 404. The routes' path patterns are read from the app on first use.
 */
export function notFound(app: Hono<any>) {
  let patterns: { method: string; path: RegExp }[] | undefined;
  return (c: { req: { method: string; path: string } }): never => {
    patterns ??= app.routes.filter((r) => r.method !== "ALL").map((r) => ({ method: r.method.toUpperCase(), path: pattern(r.path) }));
    const allowed = new Set(patterns.filter((p) => p.path.test(c.req.path)).map((p) => p.method));
    if (allowed.has("GET")) allowed.add("HEAD");
    if (allowed.size && !allowed.has(c.req.method)) throw new MethodNotAllowedError([...allowed].sort());
    throw new NotFoundError("no such route");
  };
}

/** A Hono route path (`/v1/users/:id`) as a regular expression over request paths. */
function pattern(path: string): RegExp {
  const source = path
    .split("/")
    .map((s) => (s.startsWith(":") ? "[^/]+" : s === "*" ? ".*" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}/?$`);
}
