import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger, reportableError } from "@hitl/core";
import { createApp } from "../functions/api/app.js";
import { createTestContext } from "./support/stack.js";

// SST Console's Issues (and CloudWatch error filters) find errors that Lambda's runtime marks:
// `console.error(error)` with an Error object. Outside Lambda the logger prints JSON only.
afterEach(() => {
  delete process.env.AWS_LAMBDA_FUNCTION_NAME;
  vi.restoreAllMocks();
});
const inLambda = () => {
  process.env.AWS_LAMBDA_FUNCTION_NAME = "hitl-test-Api";
  const reported: unknown[] = [];
  vi.spyOn(console, "error").mockImplementation((e: unknown) => {
    reported.push(e);
  });
  return reported;
};

describe("errors reach SST Console's Issues, stacks stay in the logs", () => {
  it("an error-level log with an Error hands Lambda's console.error a copy: safe message, stack frames, no quoted input", () => {
    const reported = inLambda();
    const lines: string[] = [];
    const log = createLogger("info", {}, (l) => lines.push(l));
    const err = new Error(`duplicate key (user_id)=(ana) violates "users_pkey" near 'Hello, private text'`);
    log.error("unhandled error", { err });
    log.warn("not an error level", { err });
    expect(reported).toHaveLength(1);
    const copy = reported[0] as Error;
    expect(copy).toBeInstanceOf(Error);
    expect(copy.stack).toMatch(/\n\s+at /);
    for (const secret of ["ana", "private text", "users_pkey"]) {
      expect(copy.message).not.toContain(secret);
      expect(copy.stack).not.toContain(secret);
      expect(lines.join("\n")).not.toContain(secret);
    }
    // Outside Lambda nothing goes to console.error.
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    createLogger("info", {}, () => {}).error("x", { err });
    expect(reported).toHaveLength(1);
    expect(reportableError(new TypeError("t")).name).toBe("TypeError");
  });

  it("a configuration failure at cold start is logged before the 500, which carries no detail", async () => {
    const reported = inLambda();
    const order: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      order.push(`log:${String(chunk)}`);
      return true;
    });
    reported.length = 0;
    vi.mocked(console.error).mockImplementation((e: unknown) => {
      reported.push(e);
      order.push("console.error");
    });
    const app = createApp(async () => {
      throw new Error("invalid configuration: DATABASE_URL is not a postgres URL");
    });
    const res = await app.request("/v1/health", { headers: { authorization: "Bearer x" } });
    order.push("response");
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: "internal", message: "internal error" } });
    expect(text).not.toMatch(/DATABASE_URL|at /);
    expect(order.findIndex((o) => o.includes("service set-up failed"))).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("console.error")).toBeLessThan(order.indexOf("response"));
    expect((reported[0] as Error).message).toContain("invalid configuration");
  });

  it("an unexpected error in a route answers 500 without its stack and reports the Error with it", async () => {
    const reported = inLambda();
    const lines: string[] = [];
    const t = await createTestContext({}, lines);
    vi.spyOn(t.services.db, "query").mockImplementation(() => {
      throw new TypeError("cannot read 'secret' of undefined");
    });
    const res = await t.call("GET", "/v1/backups", { key: t.keys.admin });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toMatch(/TypeError|at |secret/);
    const copy = reported.find((e) => e instanceof Error && e.name === "TypeError") as Error;
    expect(copy.stack).toMatch(/\n\s+at /);
    expect(copy.message).not.toContain("secret");
    expect(lines.find((l) => l.includes("unhandled error"))).toBeDefined();
  });
});
