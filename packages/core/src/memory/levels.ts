/**
 * Lossy context compression (REFERENCE.md section 4, made real): three levels, each a pure
 * function, applied in turn only while the logical JSON exceeds the limit. The earlier system
 * discarded its level-2 result and so had two outcomes; here every level is reachable and the
 * caller learns which one applied.
 */
export type Context = Record<string, unknown>;

export const MAX_CONTEXT_BYTES = 100 * 1024;
export const PROFILE_KEYS = ["name", "age", "location", "occupation", "preferences"] as const;
export const METADATA_KEYS = ["last_interaction", "first_interaction", "total_messages"] as const;
export const SUMMARY_KEY = "conversation_summary";
export const KEPT_SUMMARIES = 3;

export const logicalSize = (ctx: Context): number => Buffer.byteLength(JSON.stringify(ctx), "utf8");

const pick = (ctx: Context, keys: readonly string[]) =>
  Object.fromEntries(keys.filter((k) => ctx[k] !== undefined).map((k) => [k, ctx[k]]));

/** L1, selective retention: profile keys, metadata and the conversation summaries. */
export function level1(ctx: Context, now: Date): Context {
  return {
    ...pick(ctx, PROFILE_KEYS),
    ...pick(ctx, METADATA_KEYS),
    ...pick(ctx, [SUMMARY_KEY]),
    compression_applied: true,
    compression_level: 1,
    compression_timestamp: now.toISOString(),
  };
}

/** L2: L1, keeping only the last 3 conversation summaries. */
export function level2(ctx: Context, now: Date): Context {
  const out: Context = { ...level1(ctx, now), compression_level: 2 };
  const summaries = ctx[SUMMARY_KEY];
  if (Array.isArray(summaries)) out[SUMMARY_KEY] = summaries.slice(-KEPT_SUMMARIES);
  else if (typeof summaries === "string") out[SUMMARY_KEY] = summaries.slice(-2000);
  return out;
}

/** L3, aggressive: the name and the last interaction only. */
export function level3(ctx: Context, now: Date): Context {
  return {
    name: typeof ctx.name === "string" ? ctx.name.slice(0, 200) : "Unknown",
    last_interaction: ctx.last_interaction ?? null,
    aggressive_compression_applied: true,
    compression_level: 3,
    compression_timestamp: now.toISOString(),
  };
}

export interface LimitResult {
  context: Context;
  /** 0 when the context was within the limit. */
  level: 0 | 1 | 2 | 3;
  bytesBefore: number;
  bytesAfter: number;
}

const LEVELS = [level1, level2, level3] as const;

/** Applies L1, then L2, then L3, each only if the previous result is still over the limit. */
export function applyContextLimits(
  ctx: Context,
  now = new Date(),
  limit = MAX_CONTEXT_BYTES,
  onLevel?: (level: 1 | 2 | 3, ms: number) => void,
): LimitResult {
  const bytesBefore = logicalSize(ctx);
  if (bytesBefore <= limit) return { context: ctx, level: 0, bytesBefore, bytesAfter: bytesBefore };
  let current = ctx;
  let size = bytesBefore;
  for (let i = 0; i < LEVELS.length; i++) {
    const start = performance.now();
    current = LEVELS[i]!(ctx, now);
    size = logicalSize(current);
    onLevel?.((i + 1) as 1 | 2 | 3, performance.now() - start);
    if (size <= limit || i === LEVELS.length - 1) return { context: current, level: (i + 1) as 1 | 2 | 3, bytesBefore, bytesAfter: size };
  }
  return { context: current, level: 3, bytesBefore, bytesAfter: size };
}
