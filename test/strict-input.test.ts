import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { interactionBody } from "./support/fixtures.js";
import { lambdaApi, type LambdaResult } from "./support/lambda.js";

/**
 * Issue 24, findings 7 and 10 (first two points), through the real Lambda handler: bodies are
 * strict UTF-8, lone surrogates are refused however they are escaped, `__proto__` and friends are
 * refused with a 400 naming them (never dropped), and an event body that is not base64 gets a 400
 * in the API's error shape. Each refusal writes nothing.
 */

let api: Awaited<ReturnType<typeof lambdaApi>>;
beforeAll(async () => {
  api = await lambdaApi();
});

/** The Error schema of docs/openapi.json: `{ error: { code, message, details? } }`. */
function expectApiError(res: LambdaResult, status: number) {
  expect(res.statusCode, res.body.slice(0, 300)).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error: { code: string; message: string; details?: { path: string; code: string }[] } };
  expect(body.error).toMatchObject({ code: "invalid_request", message: expect.any(String) });
  return body.error;
}

const pending = async () =>
  (JSON.parse((await api.invoke("GET", "/v1/messages/stats", { key: "agent" })).body) as { pending: number }).pending;
/** A JSON body as raw bytes, as a Function URL passes a body it base64-encodes. */
const rawBytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p)))).toString("base64");

describe("strict UTF-8 bodies (finding 7)", () => {
  it.each([
    ["ff", [0xff]],
    ["c0 80 (an overlong NUL)", [0xc0, 0x80]],
    ["ed a0 80 (an encoded surrogate)", [0xed, 0xa0, 0x80]],
    ["e2 82 (a truncated sequence)", [0xe2, 0x82]],
  ])("refuses %s in the raw body with 400 and queues nothing", async (_name, bad) => {
    const before = await pending();
    const body = rawBytes('{"user_id":"utf8-user","text":"a', bad, 'b"}');
    const res = await api.invoke("POST", "/v1/messages", { key: "bot", body, isBase64Encoded: true });
    expect(expectApiError(res, 400).details?.[0]).toMatchObject({ code: "invalid_encoding" });
    expect(await pending()).toBe(before);
  });

  it("accepts the same body well-formed, non-BMP included (the control case)", async () => {
    const res = await api.invoke("POST", "/v1/messages", {
      key: "bot",
      body: rawBytes('{"user_id":"utf8-user","text":"a\u00e9\u{1F600}b"}'),
      isBase64Encoded: true,
    });
    expect(res.statusCode).toBe(202);
  });
});

describe("lone surrogates, however escaped (finding 7)", () => {
  // An escaped backslash, then "ud800", then a real lone \udc00: the decoded text is `\ud800` + U+DC00.
  const walkAround = String.raw`\\ud800\udc00`;
  const routes: [string, string, string, "bot" | "agent" | "reviewer", (s: string) => string, string][] = [
    ["a message", "POST", "/v1/messages", "bot", (s) => `{"user_id":"sur-1","text":"a${s}"}`, "text"],
    [
      "an interaction",
      "POST",
      "/v1/interactions",
      "agent",
      (s) => JSON.stringify(interactionBody({ user_id: "sur-2" })).replace('"user_message":"', `"user_message":"${s}`),
      "user_message",
    ],
    ["a memory context", "PATCH", "/v1/users/sur-3/memory/context", "agent", (s) => `{"updates":{"note":"${s}"}}`, "updates.note"],
    ["a history message", "POST", "/v1/users/sur-4/memory/history", "agent", (s) => `{"role":"user","content":"${s}"}`, "content"],
    [
      "a recovery operation's metadata",
      "POST",
      "/v1/recovery/operations",
      "bot",
      (s) => `{"operation_type":"manual","metadata":{"k${s}":1}}`,
      "metadata.k\\ud800\uFFFD",
    ],
    ["a protocol reason", "PUT", "/v1/users/sur-5/protocol", "reviewer", (s) => `{"status":"ACTIVE","reason":"${s}"}`, "reason"],
  ];

  it.each(routes)("refuses it in %s with 400 naming the field", async (_name, method, path, key, body, field) => {
    const res = await api.invoke(method, path, { key, body: body(walkAround), headers: { "idempotency-key": randomUUID() } });
    expect(expectApiError(res, 400).details?.[0]?.path).toBe(field);
  });

  it("writes none of them", async () => {
    expect(JSON.parse((await api.invoke("GET", "/v1/users/sur-3/memory", { key: "agent" })).body)).toMatchObject({
      context: {},
      total_messages: 0,
    });
    expect(JSON.parse((await api.invoke("GET", "/v1/users/sur-4/memory", { key: "agent" })).body)).toMatchObject({ total_messages: 0 });
    expect(JSON.parse((await api.invoke("GET", "/v1/users/sur-5/protocol", { key: "agent" })).body)).toMatchObject({ status: "INACTIVE" });
    expect(JSON.parse((await api.invoke("GET", "/v1/recovery/operations", { key: "bot" })).body).items).toEqual([]);
    expect(JSON.parse((await api.invoke("GET", "/v1/reviews", { key: "reviewer" })).body).items).toEqual([]);
  });

  it("still accepts a proper pair, and an escaped backslash before 'ud800' on its own (the control case)", async () => {
    const res = await api.invoke("PATCH", "/v1/users/sur-6/memory/context", {
      key: "agent",
      body: String.raw`{"updates":{"pair":"\ud83d\ude00","text":"\\ud800"}}`,
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.parse(res.body).context).toMatchObject({ pair: "\u{1F600}", text: "\\ud800" });
  });

  it("refuses a Lambda event whose text body carries a lone surrogate (the adapter would store U+FFFD)", async () => {
    const res = await api.invoke("POST", "/v1/messages", { key: "bot", body: '{"user_id":"sur-7","text":"a\ud800b"}' });
    expectApiError(res, 400);
  });
});

describe("__proto__, constructor and prototype keys are refused, never dropped (finding 10)", () => {
  const cases: [string, string, string, "bot" | "agent", (k: string) => string, (k: string) => string][] = [
    [
      "memory context",
      "PATCH",
      "/v1/users/proto-1/memory/context",
      "agent",
      (k) => `{"updates":{"kept":1,"${k}":{"polluted":true}}}`,
      (k) => `updates.${k}`,
    ],
    [
      "nested memory context",
      "PATCH",
      "/v1/users/proto-1/memory/context",
      "agent",
      (k) => `{"updates":{"profile":{"${k}":1}}}`,
      (k) => `updates.profile.${k}`,
    ],
    [
      "cta_data",
      "POST",
      "/v1/interactions",
      "agent",
      (k) => JSON.stringify(interactionBody({ user_id: "proto-2" })).replace(/}$/, `,"cta_data":{"offer":"x","${k}":{"a":1}}}`),
      (k) => `cta_data.${k}`,
    ],
    [
      "metadata",
      "POST",
      "/v1/recovery/operations",
      "bot",
      (k) => `{"operation_type":"manual","metadata":{"n":1,"${k}":{"a":1}}}`,
      (k) => `metadata.${k}`,
    ],
  ];
  for (const key of ["__proto__", "constructor", "prototype"]) {
    it.each(cases)(`refuses "${key}" in %s with 400 naming it`, async (_name, method, path, scope, body, field) => {
      const res = await api.invoke(method, path, { key: scope, body: body(key), headers: { "idempotency-key": randomUUID() } });
      const error = expectApiError(res, 400);
      expect(error.details?.[0]).toMatchObject({ path: field(key), code: "invalid_key" });
      expect(error.message).toContain(key);
    });
  }

  it("writes nothing for a refused body (no half-merged context, no interaction, no operation)", async () => {
    expect(JSON.parse((await api.invoke("GET", "/v1/users/proto-1/memory", { key: "agent" })).body).context).toEqual({});
    expect(JSON.parse((await api.invoke("GET", "/v1/reviews", { key: "reviewer" })).body).items).toEqual([]);
    expect(JSON.parse((await api.invoke("GET", "/v1/recovery/operations", { key: "bot" })).body).items).toEqual([]);
  });

  it("keeps keys that only resemble them", async () => {
    const res = await api.invoke("PATCH", "/v1/users/proto-3/memory/context", {
      key: "agent",
      body: '{"updates":{"__proto__x":1,"my_constructor":2}}',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.parse((await api.invoke("GET", "/v1/users/proto-3/memory", { key: "agent" })).body).context).toMatchObject({
      __proto__x: 1,
      my_constructor: 2,
    });
  });
});

describe("a Lambda body marked base64 that is not base64 (finding 10)", () => {
  it.each(["not base64 at all!", "eyJ1c2VyX2lkIjoiYSJ9=", "@@@@", "e30"])(
    "answers %j with 400 in the API's error shape, not a plain-text 500",
    async (body) => {
      expectApiError(await api.invoke("POST", "/v1/messages", { key: "bot", body, isBase64Encoded: true }), 400);
    },
  );

  it("still reads a valid base64 body (the control case)", async () => {
    const res = await api.invoke("POST", "/v1/messages", {
      key: "bot",
      body: Buffer.from('{"user_id":"b64","text":"hi"}').toString("base64"),
      isBase64Encoded: true,
    });
    expect(res.statusCode, res.body).toBe(202);
  });
});
