import { ValidationError } from "../errors.js";

/**
 * Request bodies, checked before any schema sees them: nothing is silently changed on the way in.
 *
 * - The bytes are decoded as strict UTF-8: an invalid sequence (ff, an overlong c0 80, an encoded
 *   surrogate ed a0 80, a truncated sequence) is a 400, never a U+FFFD stored in its place.
 * - Every string and key of the parsed JSON must be well-formed Unicode. The check runs on the
 *   decoded values, so a lone surrogate is refused however the text escaped it (`\ud800`, after an
 *   escaped backslash, or split across escapes); a proper pair is fine.
 * - Keys named `__proto__`, `constructor` or `prototype` are refused at any depth. Free-form JSON
 *   (cta_data, metadata, error_details, memory context) is stored as given or not at all: zod's
 *   records and JavaScript assignment drop or misread these names (a `__proto__` key set the
 *   object's prototype and vanished), and no field of the API is named so.
 */

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Keys no body may use (see above). */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** A lone surrogate: with the `u` flag a proper pair is one code point and does not match. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const isWellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

/** The text of a body, decoded as strict UTF-8 (a leading byte-order mark is dropped); a 400 otherwise. */
export function decodeUtf8Body(bytes: ArrayBuffer | Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new ValidationError("the body is not valid UTF-8", [
      { in: "json", path: "", message: "invalid UTF-8 byte sequence", code: "invalid_encoding" },
    ]);
  }
}

export interface BodyIssue {
  path: string;
  message: string;
  code: string;
}

/**
 * The first string or key of a parsed JSON value that is not well-formed Unicode, or the first
 * reserved key, with its path (dot-separated, as validation details give it); null when there is
 * none. Iterative: a deep value cannot overflow the stack here.
 */
export function jsonTextIssue(value: unknown): BodyIssue | null {
  const stack: [unknown, string][] = [[value, ""]];
  const at = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === "string") {
      if (!isWellFormed(v))
        return { path, message: "text must be well-formed Unicode (a lone surrogate cannot be stored)", code: "invalid_string" };
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i], at(path, i)]);
    } else if (v !== null && typeof v === "object") {
      for (const key of Object.keys(v)) {
        if (!isWellFormed(key))
          return {
            path: at(path, key.replace(LONE_SURROGATE, "\uFFFD")),
            message: "keys must be well-formed Unicode (a lone surrogate cannot be stored)",
            code: "invalid_key",
          };
        if (RESERVED_KEYS.has(key))
          return {
            path: at(path, key),
            message: `the key "${key}" is not accepted (reserved: __proto__, constructor, prototype)`,
            code: "invalid_key",
          };
        stack.push([(v as Record<string, unknown>)[key], at(path, key)]);
      }
    }
  }
  return null;
}

/**
 * A JSON body from its bytes: strict UTF-8, then JSON, then `jsonTextIssue` (a 400 naming the
 * path). `undefined` when the text is not JSON at all: the validator answers that.
 */
export function parseJsonBody(bytes: ArrayBuffer | Uint8Array): { text: string; json?: unknown } {
  const text = decodeUtf8Body(bytes);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { text };
  }
  const issue = jsonTextIssue(json);
  if (issue) throw new ValidationError(issue.message, [{ in: "json", ...issue }]);
  return { text, json };
}

/** Canonical, padded base64, as Lambda encodes a body. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Why a Lambda event's body cannot be read as the request's bytes, or null: a body marked
 * base64-encoded that is not base64, or a text body that is not well-formed Unicode (the adapter
 * would encode a lone surrogate as U+FFFD before any check could see it).
 */
export function lambdaBodyProblem(event: { body?: string | null; isBase64Encoded?: boolean }): string | null {
  if (typeof event.body !== "string" || event.body === "") return null;
  if (event.isBase64Encoded) return BASE64.test(event.body) ? null : "the body is marked base64-encoded but is not valid base64";
  return isWellFormed(event.body) ? null : "the body is not well-formed Unicode (a lone surrogate)";
}
