import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { decodeUtf8Body, jsonTextIssue, lambdaBodyProblem, parseJsonBody } from "./body.js";

const bytes = (...b: number[]) => new Uint8Array(b);
const utf8 = (s: string) => new TextEncoder().encode(s);
const refused = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).details as { path: string; code: string }[];
  }
  throw new Error("not refused");
};

describe("decodeUtf8Body", () => {
  it("decodes well-formed UTF-8, non-BMP included, and drops a leading byte-order mark", () => {
    expect(decodeUtf8Body(utf8("héllo \u{1F600}"))).toBe("héllo \u{1F600}");
    expect(decodeUtf8Body(bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d))).toBe("{}");
  });

  it.each([
    ["a lone ff", [0x22, 0xff, 0x22]],
    ["an overlong NUL (c0 80)", [0x22, 0xc0, 0x80, 0x22]],
    ["an encoded surrogate (ed a0 80)", [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ["a truncated sequence (e2 82)", [0x22, 0xe2, 0x82]],
    ["a truncated four-byte sequence at the end", [0x22, 0xf0, 0x9f, 0x98]],
  ])("refuses %s with a 400, never a U+FFFD", (_name, b) => {
    expect(refused(() => decodeUtf8Body(bytes(...b)))[0]!.code).toBe("invalid_encoding");
  });
});

describe("jsonTextIssue (on decoded values)", () => {
  it("accepts well-formed strings, pairs written as escapes, and escaped backslashes", () => {
    expect(jsonTextIssue(JSON.parse('{"a":"x\\ud83d\\ude00y","b":["\\\\ud800"],"c":{"\\u00e9":1}}'))).toBeNull();
  });

  it.each([
    ["an escaped lone high surrogate", '{"text":"a\\ud800b"}', "text"],
    ["an escaped lone low surrogate", '{"text":"\\udc00"}', "text"],
    // The case a lookbehind over the source let through: an escaped backslash, then "ud800", then a real lone \udc00.
    ["a lone low surrogate after an escaped backslash and 'ud800'", '{"text":"\\\\ud800\\udc00"}', "text"],
    ["a reversed pair", '{"a":[1,"\\udc00\\ud800"]}', "a.1"],
    ["a lone surrogate in a key", '{"ctx":{"k\\ud800":1}}', "ctx.k\uFFFD"],
    ["a lone surrogate written raw in the text", '{"t":"\ud800"}', "t"],
  ])("finds %s", (_name, text, path) => {
    expect(jsonTextIssue(JSON.parse(text))).toMatchObject({ path });
  });

  it.each(["__proto__", "constructor", "prototype"])("refuses the key %s at any depth", (key) => {
    const value = JSON.parse(`{"updates":{"a":[{"${key}":{"x":1}}]}}`);
    expect(jsonTextIssue(value)).toMatchObject({ path: `updates.a.0.${key}`, code: "invalid_key" });
    expect(jsonTextIssue(JSON.parse(`{"${key}x":1,"x${key}":2}`))).toBeNull();
  });

  it("walks a deep value without overflowing the stack", () => {
    const deep = JSON.parse(`${"[".repeat(100_000)}"\\ud800"${"]".repeat(100_000)}`);
    expect(jsonTextIssue(deep)?.path.split(".").length).toBe(100_000);
  });
});

describe("parseJsonBody", () => {
  it("answers the parsed value, leaves text that is not JSON to the validator, and refuses bad text with its path", () => {
    expect(parseJsonBody(utf8('{"a":"\u{1F600}"}')).json).toEqual({ a: "\u{1F600}" });
    expect(parseJsonBody(utf8("{not json")).json).toBeUndefined();
    expect(refused(() => parseJsonBody(utf8('{"m":{"__proto__":{"admin":true}}}')))[0]).toMatchObject({ path: "m.__proto__" });
    expect(refused(() => parseJsonBody(bytes(0x7b, 0xff, 0x7d)))[0]).toMatchObject({ code: "invalid_encoding" });
  });
});

describe("lambdaBodyProblem", () => {
  it("accepts canonical base64 and well-formed text, and no body", () => {
    expect(lambdaBodyProblem({ body: Buffer.from('{"a":1}').toString("base64"), isBase64Encoded: true })).toBeNull();
    expect(lambdaBodyProblem({ body: "{}", isBase64Encoded: false })).toBeNull();
    expect(lambdaBodyProblem({ body: null, isBase64Encoded: true })).toBeNull();
    expect(lambdaBodyProblem({})).toBeNull();
  });

  it.each(["not base64!", "abc", "ab=c", "YWJj\n", "YQ===", "Y"])("refuses %j marked base64", (body) => {
    expect(lambdaBodyProblem({ body, isBase64Encoded: true })).toMatch(/not valid base64/);
  });

  it("refuses a text body with a lone surrogate", () => {
    expect(lambdaBodyProblem({ body: '{"t":"\ud800"}', isBase64Encoded: false })).toMatch(/lone surrogate/);
  });
});
