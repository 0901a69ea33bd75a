import type { Logger, Principal, Services } from "@hitl/core/runtime";

/** Per-request values set by the middleware chain. */
export interface AppEnv {
  Variables: {
    services: Services;
    requestId: string;
    log: Logger;
    principal?: Principal;
  };
  Bindings: {
    /** Present when running behind hono/aws-lambda. */
    lambdaContext?: { getRemainingTimeInMillis(): number; awsRequestId?: string };
  };
}
