import { expect } from "vitest";
import type { PrivateStack } from "./private-stack.js";

export type App = ReturnType<PrivateStack["app"]>;

/**
 * A write whose response is lost (the Neon proxy's reset fault: the statement commits, the answer
 * is cut, the instance answers 503), then the client's retry of the same request (the same
 * Idempotency-Key when `idem` is given) through another instance. Answers the retry's response.
 */
export async function lostThenRetried(
  s: PrivateStack,
  one: App,
  two: App,
  method: string,
  path: string,
  key: string,
  body: unknown,
  idem?: string,
) {
  const headers = idem ? { "idempotency-key": idem } : undefined;
  const first = await s.stack.proxy.faults.during({ reset: true }, () => one.call(method, path, key, body, undefined, headers));
  expect(first.status, `${path} under a lost response: ${first.text}`).toBe(503);
  return two.call(method, path, key, body, undefined, headers);
}
