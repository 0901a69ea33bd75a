import { z } from "zod";
import type { RedisStore } from "../cache/redis.js";
import { defineScript, runScript } from "../cache/scripts.js";
import type { Db } from "../db/db.js";
import { CursorPart, decodeCursor, encodeCursor } from "../db/keyset.js";
import type { Logger } from "../log.js";
import { applyContextLimits, logicalSize, MAX_CONTEXT_BYTES, type Context } from "./levels.js";
import type { MemoryManager } from "./manager.js";

/** How long a reset refuses cache writes for the user (a read that loaded the memory just before it). */
export const RESET_GUARD_SECONDS = 30;
/** Contexts the daily sweep handles per run, largest first (the rest wait for the next run). */
export const SWEEP_BATCH = 200;
const kb = (bytes: number) => Math.round((bytes / 1024) * 100) / 100;

/**
 * KEYS: the user's `:erasing` mark, then the caches a reset makes stale (context, history window,
 * status, protocol). The mark (kept if an erasure already set a longer one) makes every cache
 * write of the user a no-op for RESET_GUARD_SECONDS (ERASING_GUARD), so no read that loaded the
 * memory before the reset can put it back; the status and protocol caches, whose writes it would
 * also refuse, are dropped so none goes stale (they are read from Postgres meanwhile).
 */
const RESET_REDIS = defineScript(`
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX')
return redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
`);

export const MemoryReset = z
  .object({
    user_id: z.string(),
    performed_by: z.string(),
    reset_at: z.string(),
    context_bytes_removed: z.number(),
    history_messages_removed: z.number(),
    cache_keys_removed: z.number(),
    interactions_kept: z.number().describe("The user's interactions, untouched"),
  })
  .meta({ id: "MemoryReset", description: "What a memory reset removed (context, durable history and caches) and kept (interactions)" });

/**
 * DELETE /v1/users/{id}/memory: the context (emptied, its version moved on), the durable history
 * (and so the temporal summary made from it) and the caches go; the interactions stay. Redis first
 * (unavailable: 503, nothing changed), then one Postgres transaction with the audit row. A repeat
 * resets nothing more and is audited again.
 */
export async function resetMemory(
  deps: { db: Db; redis: RedisStore },
  userId: string,
  actor: string,
): Promise<z.infer<typeof MemoryReset>> {
  const { redis } = deps;
  const u = redis.keys.user(userId);
  const keys = [u.erasing, u.ctx, u.history, u.status, u.protocol];
  const removed = await redis.run("memory.reset", (r) => runScript<number>(r, RESET_REDIS, keys, [String(RESET_GUARD_SECONDS)]));
  const [audit, , , kept] = await deps.db.transaction([
    {
      text: `INSERT INTO memory_resets (user_id, performed_by, context_bytes, history_messages)
        SELECT $1, $2, coalesce((SELECT context_bytes FROM user_memory WHERE user_id = $1 AND context <> '{}'::jsonb), 0),
          (SELECT count(*)::int FROM memory_messages WHERE user_id = $1)
        RETURNING created_at, context_bytes, history_messages`,
      params: [userId, actor],
    },
    {
      text: `UPDATE user_memory SET context = '{}', context_bytes = 2, compression_level = 0, oversized_at = NULL, version = version + 1 WHERE user_id = $1`,
      params: [userId],
    },
    { text: "DELETE FROM memory_messages WHERE user_id = $1", params: [userId] },
    { text: "SELECT count(*)::int AS n FROM interactions WHERE user_id = $1", params: [userId] },
  ]);
  const a = audit![0]!;
  return {
    user_id: userId,
    performed_by: actor,
    reset_at: new Date(a.created_at as string).toISOString(),
    context_bytes_removed: Number(a.context_bytes),
    history_messages_removed: Number(a.history_messages),
    cache_keys_removed: removed,
    interactions_kept: Number(kept![0]!.n),
  };
}

export const MemoryUsersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export const MemoryUser = z
  .object({
    user_id: z.string(),
    context_size_kb: z.number(),
    compression_level: z.number(),
    history_messages: z.number(),
    context_limit_exceeded: z.boolean(),
    oversized_since: z.string().nullable(),
    updated_at: z.string(),
  })
  .meta({ id: "MemoryUser", description: "A user with a stored context, by size" });

/** GET /v1/memory/users: users with a non-empty context, largest first (keyset on size, user id). */
export async function listMemoryUsers(db: Db, q: z.infer<typeof MemoryUsersQuery>) {
  const after = decodeCursor(q.cursor, [CursorPart.integer, CursorPart.text]);
  const rows = await db.query(
    `
    SELECT m.user_id, m.context_bytes, m.compression_level, m.oversized_at, m.updated_at,
      (SELECT count(*)::int FROM memory_messages h WHERE h.user_id = m.user_id) AS history_messages
    FROM user_memory m WHERE m.context <> '{}'::jsonb
      AND ($1::int IS NULL OR (m.context_bytes, m.user_id) < ($1::int, $2::text))
    ORDER BY m.context_bytes DESC, m.user_id DESC LIMIT $3`,
    [after ? Number(after[0]) : null, after?.[1] ?? null, q.limit + 1],
  );
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      user_id: String(r.user_id),
      context_size_kb: kb(Number(r.context_bytes)),
      compression_level: Number(r.compression_level),
      history_messages: Number(r.history_messages),
      context_limit_exceeded: Number(r.context_bytes) > MAX_CONTEXT_BYTES,
      oversized_since: r.oversized_at ? new Date(r.oversized_at as string).toISOString() : null,
      updated_at: new Date(r.updated_at as string).toISOString(),
    })),
    next_cursor: rows.length > q.limit && last ? encodeCursor([String(last.context_bytes), String(last.user_id)]) : null,
  };
}

export interface SweepReport {
  checked: number;
  compacted: { user_id: string; bytes_before: number; bytes_after: number; level: number }[];
  flagged: { user_id: string; bytes: number }[];
}

/**
 * The daily job's sweep (reference: cleanup_oversized_contexts): each context over the limit gets
 * the compression levels; one brought under it is written back (only over the version it was read
 * at: a concurrent PATCH wins and limits itself) and re-cached; one still over is flagged
 * (oversized_at) for a person to look at. Returns what it did, per user.
 */
export async function sweepOversizedContexts(
  deps: { db: Db; memory: MemoryManager; log?: Logger },
  batch = SWEEP_BATCH,
): Promise<SweepReport> {
  const rows = await deps.db.query<{ user_id: string; context: Context; version: string; context_bytes: number }>(
    `
    SELECT user_id, context, version, context_bytes FROM user_memory WHERE context_bytes > $1 ORDER BY context_bytes DESC LIMIT $2`,
    [MAX_CONTEXT_BYTES, batch],
  );
  const report: SweepReport = { checked: rows.length, compacted: [], flagged: [] };
  for (const r of rows) {
    const limited = applyContextLimits(r.context);
    if (limited.bytesAfter <= MAX_CONTEXT_BYTES) {
      const [u] = await deps.db.query<{ version: string }>(
        `UPDATE user_memory SET context = $2::jsonb, context_bytes = $3, version = version + 1, oversized_at = NULL,
          compression_level = greatest(compression_level, $4) WHERE user_id = $1 AND version = $5 RETURNING version`,
        [r.user_id, JSON.stringify(limited.context), limited.bytesAfter, limited.level, r.version],
      );
      if (!u) continue; // changed meanwhile: the writer applied the limits itself
      await deps.memory.cacheContext(r.user_id, limited.context, Number(u.version));
      report.compacted.push({
        user_id: r.user_id,
        bytes_before: logicalSize(r.context),
        bytes_after: limited.bytesAfter,
        level: limited.level,
      });
    } else {
      await deps.db.query("UPDATE user_memory SET oversized_at = coalesce(oversized_at, now()) WHERE user_id = $1", [r.user_id]);
      report.flagged.push({ user_id: r.user_id, bytes: limited.bytesAfter });
    }
  }
  if (report.compacted.length || report.flagged.length)
    deps.log?.info("oversized contexts swept", { compacted: report.compacted.length, flagged: report.flagged.length });
  return report;
}
