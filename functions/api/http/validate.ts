import { ValidationError } from "@hitl/core/runtime";
import type { Hook } from "@hono/zod-openapi";

/** What each validation target is called in an error message. */
const PART = {
  json: "request body",
  param: "path parameters",
  query: "query",
  header: "headers",
  cookie: "cookies",
  form: "form",
} as const;

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  errors?: Issue[][];
}

/**
 * The app's validation hook (@hono/zod-openapi's `defaultHook`): input that fails a route's schema
 * is a 400 `ValidationError` naming the part ("invalid request body", "invalid path parameters"),
 * each issue in `details` with where it is (`in`: json, param, query, header), its path, message and
 * zod code. JSON that does not parse never gets here: Hono's validator answers it (400, "Malformed JSON").
 */
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (result.success) return;
  const target = result.target as keyof typeof PART;
  throw new ValidationError(`invalid ${PART[target] ?? target}`, validationDetails(target, result.error.issues as Issue[]));
};

/** zod's issues as the error's details. */
export function validationDetails(target: string, issues: Issue[]) {
  return flatten(issues).map((i) => ({ in: target, path: i.path.join("."), message: i.message, code: i.code }));
}

/** For a union (one message or a batch), report the branch that came closest instead of "invalid input". */
function flatten(issues: Issue[], prefix: PropertyKey[] = []): Issue[] {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    if (i.code !== "invalid_union" || !i.errors?.length) return [{ ...i, path }];
    const closest = [...i.errors].sort((a, b) => a.length - b.length)[0]!;
    return flatten(closest, path);
  });
}
