import { createHash } from "node:crypto";
import type { Redis } from "@upstash/redis";

type Script = ReturnType<Redis["createScript"]>;

const registered = new Set<string>();
/** Every Lua script the service runs (tests load them into a fresh Redis as a running one has them). */
export const REDIS_SCRIPTS: ReadonlySet<string> = registered;

/**
 * Declares a Lua script the service runs with runScript. Every script carries Upstash's
 * `allow-key-locking` flag (it locks only the keys in KEYS, not the whole database) and so must
 * touch no key it was not passed in KEYS (Upstash refuses it; so does the local bridge);
 * `readOnly` adds `no-writes`.
 */
export function defineScript(body: string, opts: { readOnly?: boolean } = {}): string {
  const lua = `#!lua flags=${opts.readOnly ? "no-writes," : ""}allow-key-locking\n${body.replace(/^\n/, "")}`;
  registered.add(lua);
  return lua;
}

const byClient = new WeakMap<Redis, Map<string, Script>>();

/**
 * Runs a script through the Upstash client's script helper: `EVALSHA` (the script's hash, not its
 * text), falling back to `EVAL` when Redis answers NOSCRIPT (a new or flushed Redis: one extra
 * round trip, once). A warm instance never resends script text. NOSCRIPT means nothing ran, so the
 * fallback is safe to retry.
 */
export function runScript<T>(r: Redis, lua: string, keys: string[], args: string[]): Promise<T> {
  let scripts = byClient.get(r);
  if (!scripts) byClient.set(r, (scripts = new Map()));
  let script = scripts.get(lua);
  if (!script) scripts.set(lua, (script = r.createScript(lua)));
  return script.exec(keys, args) as Promise<T>;
}

/** A script's sha, for EVALSHA inside a pipeline (where runScript's NOSCRIPT fallback does not apply). */
export const scriptSha = (lua: string): string => createHash("sha1").update(lua).digest("hex");
