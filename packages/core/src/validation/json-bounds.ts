import { z } from "zod";

export interface JsonBounds {
  /** Nesting depth (objects and arrays). @default 32 */
  maxDepth?: number;
  /** Object keys and array items, counted over the whole value. @default 10000 */
  maxNodes?: number;
  /** UTF-8 bytes of the value's JSON text. */
  maxBytes: number;
}

/** Why a value breaks the bounds, or null. Iterative: a hostile depth cannot overflow the stack here. */
export function jsonBoundsProblem(value: unknown, b: JsonBounds): string | null {
  const maxDepth = b.maxDepth ?? 32;
  const maxNodes = b.maxNodes ?? 10_000;
  let nodes = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (depth >= maxDepth) return `nests deeper than ${maxDepth} levels`;
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    nodes += children.length;
    if (nodes > maxNodes) return `has more than ${maxNodes} keys and items`;
    for (const c of children) stack.push([c, depth + 1]);
  }
  if (Buffer.byteLength(JSON.stringify(value) ?? "") > b.maxBytes) return `is larger than ${b.maxBytes} bytes as JSON`;
  return null;
}

/**
 * A free-form JSON field with bounds, checked at the edge (a 400 naming the field): nothing stored
 * can later break a read (a deep value overflowed `JSON.stringify` on every list returning it).
 */
export const boundedJson = <T extends z.ZodType>(schema: T, bounds: JsonBounds) =>
  schema.superRefine((v, ctx) => {
    const problem = jsonBoundsProblem(v, bounds);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** The bounds of each free-form field (the body limit, 1 MiB, bounds them all anyway). */
export const JSON_LIMITS = {
  cta_data: { maxBytes: 16 * 1024 },
  metadata: { maxBytes: 64 * 1024 },
  error_details: { maxBytes: 64 * 1024 },
  context_updates: { maxBytes: 512 * 1024 },
} satisfies Record<string, JsonBounds>;
