import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import { UnavailableError } from "../errors.js";
import { SET_IF_NEWER, setIfNewer, versionedPayload } from "../cache/versioned.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { decodeEnvelope, encodeEnvelope, EnvelopeError } from "./envelope.js";
import {
  APPEND_SCRIPT,
  HISTORY_SQL,
  HISTORY_WINDOW,
  appendArgs,
  appendKeys,
  appendToHistoryCacheSafely,
  entryFromRow,
  historyKey,
  parseWindow,
  type HistoryEntry,
} from "./history.js";
import { applyContextLimits, type Context } from "./levels.js";
import type { AppendHistoryBody } from "./schemas.js";
import { lastAssistantAskedQuestion, temporalSummary } from "./summary.js";
import { runScript } from "../cache/scripts.js";

/** Context cache TTL (reference: 30 days). */
export const CONTEXT_TTL_SECONDS = 30 * 24 * 3600;

/**
 * The context cache holds `<version>#<envelope>`, written by the shared SET_IF_NEWER: concurrent
 * writers finish in any order and the cache never goes back to an older merge. Nothing is cached
 * for a user being erased.
 */

export interface MemoryDeps {
  db: Db;
  redis: RedisStore;
  metrics?: Metrics;
  log?: Logger;
  now?: () => Date;
}

export interface MemoryView {
  user_id: string;
  context: Context;
  recent_messages: HistoryEntry[];
  temporal_summary: string;
  total_messages: number;
  last_assistant_asked_question: boolean;
}

/**
 * The memory manager: Postgres holds the context and the history; Redis caches the context
 * (30 days) and the last 50 messages (7 days), every value in a checksummed envelope. A value that
 * fails its checksum is counted, dropped and rebuilt from Postgres within the same request.
 */
export class MemoryManager {
  private readonly now: () => Date;

  constructor(private readonly deps: MemoryDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  private ctxKey = (userId: string) => this.deps.redis.keys.user(userId).ctx;
  private ctxCache = (userId: string, version: number, context: Context) =>
    setIfNewer(this.deps.redis.keys.userCache(userId, "ctx"), version, this.envelope(context), CONTEXT_TTL_SECONDS);

  /** Warm: one pipelined Redis round trip. Cold: one Postgres query and one Redis write-back. */
  async get(userId: string, recent: number): Promise<MemoryView> {
    const { redis } = this.deps;
    let context: Context | null = null;
    let window: HistoryEntry[] | null = null;
    let corrupt = { ctx: false, history: false };
    let redisUp = true;
    try {
      const [ctxEnv, members] = await redis.run("memory.read", (r) => {
        const p = r.pipeline();
        p.get<string>(this.ctxKey(userId));
        p.zrange<string[]>(historyKey(redis, userId), 0, -1);
        return p.exec<[string | null, string[]]>();
      });
      ({ value: context, corrupt: corrupt.ctx } = this.decodeContext(ctxEnv));
      ({ value: window, corrupt: corrupt.history } = this.decodeWindow(members));
    } catch (e) {
      if (!(e instanceof UnavailableError)) throw e;
      redisUp = false;
    }
    if (context === null || window === null) {
      const [row] = await this.deps.db.query<{ context: Context | null; version: string | null; history: Record<string, unknown>[] }>(
        `SELECT (SELECT context FROM user_memory WHERE user_id = $1) AS context, (SELECT version FROM user_memory WHERE user_id = $1) AS version,
          (${HISTORY_SQL}) AS history`,
        [userId],
      );
      const needCtx = context === null;
      const needHistory = window === null;
      context ??= row?.context ?? {};
      window ??= (row?.history ?? []).map(entryFromRow);
      const version = Number(row?.version ?? 0);
      if (redisUp)
        await this.writeBack(
          userId,
          needCtx ? { context, version, replace: corrupt.ctx } : null,
          needHistory ? window : null,
          corrupt.history,
        );
    }
    return this.view(userId, context, window, recent);
  }

  private view(userId: string, context: Context, window: HistoryEntry[], recent: number): MemoryView {
    const recentMessages = window.slice(-recent);
    const older = window.slice(0, Math.max(0, window.length - recent));
    return {
      user_id: userId,
      context,
      recent_messages: recentMessages,
      temporal_summary: window.length ? temporalSummary(older, this.now()) : "",
      total_messages: window.length,
      last_assistant_asked_question: lastAssistantAskedQuestion(recentMessages),
    };
  }

  private decodeContext(cached: string | null): { value: Context | null; corrupt: boolean } {
    if (cached === null) return { value: null, corrupt: false };
    try {
      return { value: JSON.parse(decodeEnvelope(versionedPayload(cached))) as Context, corrupt: false };
    } catch (e) {
      this.corrupted("context", e);
      return { value: null, corrupt: true };
    }
  }

  private decodeWindow(members: string[]): { value: HistoryEntry[] | null; corrupt: boolean } {
    try {
      return { value: parseWindow(members), corrupt: false };
    } catch (e) {
      this.corrupted("history", e);
      return { value: null, corrupt: true };
    }
  }

  private corrupted(kind: string, e: unknown): void {
    this.deps.metrics?.memoryCorruption.inc({ kind });
    this.deps.log?.warn("corrupt cached memory value; rebuilding from Postgres", {
      kind,
      reason: e instanceof EnvelopeError ? e.message : "unparseable JSON",
    });
  }

  /** One pipeline: the context envelope and/or the rebuilt window (a corrupt window is deleted first). */
  private async writeBack(
    userId: string,
    ctx: { context: Context; version: number; replace: boolean } | null,
    window: HistoryEntry[] | null,
    dropWindow: boolean,
  ): Promise<void> {
    const { redis } = this.deps;
    try {
      await redis.run("memory.writeback", (r) => {
        const p = r.pipeline();
        if (ctx) {
          if (ctx.replace) p.del(this.ctxKey(userId));
          p.eval(SET_IF_NEWER, ...this.ctxCache(userId, ctx.version, ctx.context));
        }
        if (window) {
          if (dropWindow) p.del(historyKey(redis, userId));
          p.eval(APPEND_SCRIPT, appendKeys(redis, userId), appendArgs(window, true));
        }
        return p.exec();
      });
    } catch (e) {
      this.deps.log?.warn("memory cache write-back failed", { user_id: userId, err: e as Error });
    }
  }

  private envelope(context: Context): string {
    const start = performance.now();
    const enc = encodeEnvelope(JSON.stringify(context));
    if (enc.codec !== "none") {
      this.deps.metrics?.compressionEvents.inc({ level: "lossless" });
      this.deps.metrics?.compressionDuration.observe({ level: "lossless" }, (performance.now() - start) / 1000);
    }
    return enc.envelope;
  }

  /**
   * Shallow-merges `updates` into the context in Postgres (one atomic upsert: concurrent patches
   * never lose each other), applies the lossy levels when over 100 KB (a second, version-checked
   * write), then refreshes the cache.
   */
  async patchContext(userId: string, updates: Context): Promise<{ context: Context; compression_level: 0 | 1 | 2 | 3 }> {
    const { db, metrics } = this.deps;
    {
      const [row] = await db.query<{ context: Context; version: string }>(
        `
        INSERT INTO user_memory (user_id, context, context_bytes, version) VALUES ($1, $2::jsonb, octet_length($2::text), 1)
        ON CONFLICT (user_id) DO UPDATE SET context = user_memory.context || EXCLUDED.context, version = user_memory.version + 1,
          context_bytes = octet_length((user_memory.context || EXCLUDED.context)::text), compression_level = 0
        RETURNING context, version`,
        [userId, JSON.stringify(updates)],
      );
      let limited;
      try {
        limited = applyContextLimits(row!.context, this.now(), undefined, (level, ms) => {
          metrics?.compressionEvents.inc({ level: String(level) });
          metrics?.compressionDuration.observe({ level: String(level) }, ms / 1000);
        });
      } catch (e) {
        metrics?.compressionFailures.inc();
        throw e;
      }
      metrics?.contextSize.observe(limited.bytesAfter);
      let version = Number(row!.version);
      if (limited.level > 0) {
        const updated = await db.query<{ version: string }>(
          `UPDATE user_memory SET context = $2::jsonb, compression_level = $3, context_bytes = $4, version = version + 1
          WHERE user_id = $1 AND version = $5 RETURNING version`,
          [userId, JSON.stringify(limited.context), limited.level, limited.bytesAfter, row!.version],
        );
        if (updated.length === 0) {
          // A concurrent PATCH merged after ours (so its result holds our updates) and limits it
          // itself: answer the context as it now is. Never a 409 after the merge went in.
          const [now] = await db.query<{ context: Context; version: string; compression_level: number }>(
            "SELECT context, version, compression_level FROM user_memory WHERE user_id = $1",
            [userId],
          );
          await this.cacheContext(userId, now!.context, Number(now!.version));
          return { context: now!.context, compression_level: now!.compression_level as 0 | 1 | 2 | 3 };
        }
        version = Number(updated[0]!.version);
      }
      await this.cacheContext(userId, limited.context, version);
      return { context: limited.context, compression_level: limited.level };
    }
  }

  /** Refreshes the cached context to `version` (never replacing a newer one); a Redis failure is logged. */
  async cacheContext(userId: string, context: Context, version: number): Promise<void> {
    try {
      await this.deps.redis.run("memory.ctx.set", (r) => runScript(r, SET_IF_NEWER, ...this.ctxCache(userId, version, context)));
    } catch (e) {
      this.deps.redis.markStale(this.ctxKey(userId));
      this.deps.log?.warn("context cache refresh failed; Postgres has the context", { user_id: userId, err: e as Error });
    }
  }

  /** Appends one message: Postgres first (one statement), then the cached window (one EVAL). */
  async appendHistory(userId: string, b: AppendHistoryBody, requestKey?: string): Promise<{ total_messages: number; id: number }> {
    // A repeat with the same Idempotency-Key answers the row the first one stored.
    const [row] = await this.deps.db.query<{ id: string; sent_at: Date; total: number }>(
      `
      WITH ins AS (INSERT INTO memory_messages (user_id, role, content, bubbles, sent_at, request_key)
        VALUES ($1, $2, $3, $4, coalesce($5::timestamptz, now()), $6)
        ON CONFLICT (user_id, request_key) WHERE request_key IS NOT NULL DO NOTHING RETURNING id, sent_at),
      hit AS (SELECT id, sent_at FROM ins UNION ALL SELECT id, sent_at FROM memory_messages WHERE user_id = $1 AND request_key = $6 AND NOT EXISTS (SELECT 1 FROM ins))
      SELECT hit.id, hit.sent_at, (SELECT count(*) FROM memory_messages WHERE user_id = $1)::int + (SELECT count(*) FROM ins)::int AS total FROM hit`,
      [userId, b.role, b.content, b.bubbles ?? null, b.timestamp ?? null, requestKey ?? null],
    );
    if (!row) return this.appendHistory(userId, b, requestKey); // a concurrent twin committed after our snapshot
    const entry: HistoryEntry = { id: Number(row!.id), role: b.role, content: b.content, timestamp: new Date(row!.sent_at).toISOString() };
    if (b.bubbles) entry.bubbles = b.bubbles;
    // A new user's first message is the whole history (the count saw no other committed row): the
    // window is complete. A concurrent first message adds itself by its own append, as always.
    await appendToHistoryCacheSafely(this.deps.redis, this.deps.log, userId, [entry], row!.total === 1);
    return { id: entry.id, total_messages: Math.min(HISTORY_WINDOW, row!.total) };
  }
}

/** The memory routes' calls (a handler calls core as a free function over its deps). */
type MemoryRouteDeps = { memory: MemoryManager };
export const getMemory = (d: MemoryRouteDeps, userId: string, recent: number) => d.memory.get(userId, recent);
export const patchMemoryContext = (d: MemoryRouteDeps, userId: string, updates: Context) => d.memory.patchContext(userId, updates);
export const appendMemoryHistory = (d: MemoryRouteDeps, userId: string, b: AppendHistoryBody, requestKey?: string) =>
  d.memory.appendHistory(userId, b, requestKey);
