import { createLogger, type Services } from "@hitl/core/runtime";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.js";

/** The instance's services could not be built (already logged where it failed). */
export class SetupFailedError extends Error {
  override name = "SetupFailedError";
  constructor() {
    super("service set-up failed");
  }
}

export interface WithServicesOptions {
  /** The instance's services (built by the first call: a cold start). */
  provide: () => Promise<Services>;
  /** Lambda: the request's absolute deadline, `margin` ms before the function's own timeout. */
  onDeadline?: (deadline: number | undefined) => void;
  margin?: (services: Services) => number;
}

/** Puts the instance's services on the context (`c.get("services")`); a set-up failure is logged and becomes a bare 500. */
export function withServices({
  provide,
  onDeadline,
  margin = (s) => s.config.lambdaMarginMs,
}: WithServicesOptions): MiddlewareHandler<AppEnv> {
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
    onDeadline?.(remaining !== undefined ? Date.now() + remaining - margin(services) : undefined);
    await next();
  };
}
