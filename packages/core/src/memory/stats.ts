import type { Db } from "../db/db.js";
import { HISTORY_WINDOW } from "./history.js";
import { MAX_CONTEXT_BYTES } from "./levels.js";

const kb = (bytes: number) => Math.round((bytes / 1024) * 100) / 100;

/** Per-user sizes and limits, from Postgres (authoritative; no Redis scan). */
export async function userMemoryStats(db: Db, userId: string) {
  const [r] = await db.query<{ context_bytes: number | null; level: number | null; total: number; history_bytes: number }>(
    `
    SELECT (SELECT context_bytes FROM user_memory WHERE user_id = $1) AS context_bytes,
      (SELECT compression_level FROM user_memory WHERE user_id = $1) AS level,
      (SELECT count(*)::int FROM memory_messages WHERE user_id = $1) AS total,
      (SELECT coalesce(octet_length(json_agg(w)::text), 0) FROM (SELECT role, content, bubbles, sent_at FROM memory_messages
         WHERE user_id = $1 ORDER BY id DESC LIMIT ${HISTORY_WINDOW}) w)::int AS history_bytes`,
    [userId],
  );
  const contextBytes = r?.context_bytes ?? 2;
  const historyBytes = r?.history_bytes ?? 0;
  return {
    user_id: userId,
    context_size_kb: kb(contextBytes),
    history_size_kb: kb(historyBytes),
    total_size_kb: kb(contextBytes + historyBytes),
    history_length: Math.min(HISTORY_WINDOW, r?.total ?? 0),
    max_history_length: HISTORY_WINDOW,
    max_context_size_kb: MAX_CONTEXT_BYTES / 1024,
    context_limit_exceeded: contextBytes > MAX_CONTEXT_BYTES,
    history_limit_exceeded: (r?.total ?? 0) > HISTORY_WINDOW,
    compression_applied: (r?.level ?? 0) > 0,
  };
}

/** Totals across users from Postgres aggregates: cost independent of the Redis keyspace. */
export async function globalMemoryStats(db: Db) {
  const [r] = await db.query(`
    SELECT (SELECT count(*)::int FROM user_memory) AS users_with_context,
      (SELECT coalesce(sum(context_bytes), 0)::bigint FROM user_memory) AS context_bytes,
      (SELECT count(DISTINCT user_id)::int FROM memory_messages) AS users_with_history,
      (SELECT count(*)::bigint FROM memory_messages) AS history_messages,
      (SELECT coalesce(json_agg(l ORDER BY l.context_bytes DESC), '[]') FROM (SELECT user_id, context_bytes, compression_level
         FROM user_memory ORDER BY context_bytes DESC LIMIT 10) l) AS largest,
      (SELECT json_build_object('0', count(*) FILTER (WHERE compression_level = 0), '1', count(*) FILTER (WHERE compression_level = 1),
         '2', count(*) FILTER (WHERE compression_level = 2), '3', count(*) FILTER (WHERE compression_level = 3)) FROM user_memory) AS levels,
      (SELECT count(*)::int FROM user_memory WHERE context_bytes > ${MAX_CONTEXT_BYTES}) AS over_limit`);
  return {
    users_with_context: Number(r!.users_with_context),
    users_with_history: Number(r!.users_with_history),
    total_context_size_kb: kb(Number(r!.context_bytes)),
    history_messages: Number(r!.history_messages),
    contexts_over_limit: Number(r!.over_limit),
    largest_contexts: (r!.largest as { user_id: string; context_bytes: number; compression_level: number }[]).map((l) => ({
      user_id: l.user_id,
      context_size_kb: kb(l.context_bytes),
      compression_level: l.compression_level,
    })),
    compression_levels: r!.levels as Record<"0" | "1" | "2" | "3", number>,
  };
}
