import { chatIdFromStore } from "./schemas.js";
import { randomUUID } from "node:crypto";
import type { RedisStore } from "../cache/redis.js";
import type { DedupeId } from "../cache/keys.js";
import type { Metrics } from "../metrics/registry.js";
import { ACK, CLAIM, INGEST, MIGRATE_LEGACY, REQUEUE_ORPHANS, STATS } from "./scripts.js";
import { ACKED_MARKER_TTL_SECONDS, DEDUPE_TTL_SECONDS, MAX_DELIVERIES } from "./keys.js";
import type { ClaimBody, ClaimedMessage, IncomingMessage, IngestResult, WalStats } from "./schemas.js";
import { runScript } from "../cache/scripts.js";

/** "check": left out; `cached` is what the protocol cache says of the user. */
export type EnqueueResult = IngestResult | { message_id: string; status: "check"; cached: "active" | "inactive" | "unknown" };

export interface QueuedMessage extends IncomingMessage {
  message_id: string;
  received_at: string;
  /** For a message without a Telegram id: the request's Idempotency-Key and its position in the batch. */
  request_key?: { key: string; index: number };
}

/** A queued message as its body hash (`wal:messages:<digit>`) holds it (JSON; `owner` is its `wal:owners` member). */
interface StoredMessage {
  user_id: string;
  text: string;
  chat_id: string | null;
  telegram_message_id: number | null;
  telegram_date: string | null;
  received_at: string;
  enqueued_at: number;
  owner: string;
}

/** The message WAL in Redis: ingest, claim with a lease, ack. Each call is one atomic EVAL. */
export class WalQueue {
  constructor(
    private readonly redis: RedisStore,
    private readonly metrics?: Metrics,
  ) {}

  /**
   * Enqueues in order; a (user_id, telegram_message_id) seen within 7 days answers duplicate.
   * With `checkProtocol`, messages whose user's protocol is not cached as INACTIVE are left out and
   * answered "check".
   */
  async enqueue(messages: QueuedMessage[], opts: { checkProtocol: boolean; now?: number }): Promise<EnqueueResult[]> {
    if (messages.length === 0) return [];
    const { keys, args } = this.ingestCall(messages, opts);
    return this.ingestResults(await this.redis.run("wal.ingest", (r) => runScript<string[]>(r, INGEST, keys, args)), messages);
  }

  /** INGEST's KEYS and ARGV (enqueue, or a caller that pipelines it with other commands). */
  ingestCall(messages: QueuedMessage[], opts: { checkProtocol: boolean; now?: number }): { keys: string[]; args: string[] } {
    const k = this.redis.keys;
    const now = opts.now ?? Date.now();
    const keys = [k.wal.pending, k.wal.owners];
    const args: string[] = [String(now), String(DEDUPE_TTL_SECONDS), opts.checkProtocol ? "1" : "0"];
    for (const m of messages) {
      const dedupe = dedupeId(m);
      const body = k.wal.messagesOf(m.message_id);
      keys.push(
        dedupe ? k.wal.dedupe(m.user_id, dedupe) : body,
        dedupe ? k.user(m.user_id).dedupe : body,
        k.user(m.user_id).protocol,
        body,
      );
      const owner = k.wal.ownerMember(m.user_id, m.message_id);
      const stored: StoredMessage = {
        user_id: m.user_id,
        text: m.text,
        chat_id: m.chat_id?.toString() ?? null,
        telegram_message_id: m.telegram_message_id ?? null,
        telegram_date: m.telegram_date ?? null,
        received_at: m.received_at,
        enqueued_at: now,
        owner,
      };
      args.push(m.message_id, owner, JSON.stringify(stored), dedupe ? "1" : "0");
    }
    return { keys, args };
  }

  /** INGEST's answer, per message. */
  ingestResults(out: string[], messages: QueuedMessage[]): EnqueueResult[] {
    return out.map((s, i): EnqueueResult => {
      if (s.startsWith("duplicate:")) return { message_id: s.slice("duplicate:".length), status: "duplicate" };
      if (s.startsWith("check:"))
        return {
          message_id: messages[i]!.message_id,
          status: "check",
          cached: s.slice("check:".length) as "active" | "inactive" | "unknown",
        };
      return { message_id: messages[i]!.message_id, status: "queued" };
    });
  }

  /**
   * Hands out up to `max` messages under a lease: expired leases first, then FIFO. `retry` (the
   * caller's principal and Idempotency-Key) makes a retried claim answer the same items. `ids`:
   * only those messages (queued, or under a lapsed lease); no other is touched.
   */
  async claim(
    max: number,
    leaseSeconds: number,
    now = Date.now(),
    retry?: { principal: string; key: string },
    ids: readonly string[] = [],
  ): Promise<ClaimedMessage[]> {
    const w = this.redis.keys.wal;
    const args = [String(now), String(leaseSeconds * 1000), String(max), String(MAX_DELIVERIES), randomUUID(), ...ids];
    const keys = [
      w.pending,
      w.inflight,
      w.dead,
      w.attempts,
      w.tokens,
      w.orphans,
      ...w.messageBuckets,
      ...(retry ? [w.claim(retry.principal, retry.key)] : []),
    ];
    const [dead, orphans, flat] = await this.redis.run("wal.claim", (r) =>
      runScript<[number, number, (string | number)[]]>(r, CLAIM, keys, args),
    );
    const items: ClaimedMessage[] = [];
    for (let i = 0; i < flat.length; i += 4) {
      const m = JSON.parse(String(flat[i + 3])) as StoredMessage;
      items.push({
        message_id: String(flat[i]),
        lease_token: String(flat[i + 1]),
        attempts: Number(flat[i + 2]),
        user_id: m.user_id,
        text: m.text,
        chat_id: chatIdFromStore(m.chat_id),
        telegram_message_id: m.telegram_message_id,
        telegram_date: m.telegram_date,
        received_at: m.received_at,
      });
    }
    this.metrics?.walClaims.inc(items.length);
    if (dead) this.metrics?.walDeadLetters.inc(dead);
    // Ids without a body: erased, or queued by the layout before this one; move those (idempotent).
    if (orphans)
      void migrateLegacyWal(this.redis).catch(() => {
        /* the next claim that meets one tries again */
      });
    return items;
  }

  /** Acks messages whose lease token still matches; the others are reported stale. */
  async ack(items: { message_id: string; lease_token: string }[]): Promise<{ acked: number; stale: string[] }> {
    const w = this.redis.keys.wal;
    const args = [String(ACKED_MARKER_TTL_SECONDS), ...items.flatMap((i) => [i.message_id, i.lease_token])];
    const keys = [w.inflight, w.attempts, w.tokens, w.owners, ...items.flatMap((i) => [w.acked(i.message_id), w.messagesOf(i.message_id)])];
    const [acked, stale] = await this.redis.run("wal.ack", (r) => runScript<[number, string[]]>(r, ACK, keys, args));
    this.metrics?.walAcks.inc(acked);
    if (stale.length) this.metrics?.walStaleAcks.inc(stale.length);
    return { acked, stale: stale.map(String) };
  }

  async stats(now = Date.now()): Promise<WalStats> {
    const w = this.redis.keys.wal;
    const [pending, inFlight, dead, oldest] = await this.redis.run("wal.stats", (r) =>
      runScript<[number, number, number, string | null]>(r, STATS, [w.pending, w.inflight, w.dead, ...w.messageBuckets], []),
    );
    this.metrics?.walDepth.set({ queue: "pending" }, pending);
    this.metrics?.walDepth.set({ queue: "in_flight" }, inFlight);
    this.metrics?.walDepth.set({ queue: "dead_letter" }, dead);
    const oldestMs = oldest ? Number(oldest) : NaN;
    return {
      pending,
      in_flight: inFlight,
      dead_letter: dead,
      oldest_pending_age_seconds: Number.isFinite(oldestMs) ? Math.max(0, Math.round((now - oldestMs) / 1000)) : null,
    };
  }
}

/** `POST /v1/messages/claim`: the body's messages (or the oldest queued), under a lease; `retry` makes a repeat answer the same. */
export const claimMessages = (deps: { wal: WalQueue }, b: ClaimBody, retry?: { principal: string; key: string }) =>
  deps.wal.claim(b.max, b.lease_seconds, Date.now(), retry, b.message_ids);
/** `POST /v1/messages/ack`. */
export const ackMessages = (deps: { wal: WalQueue }, items: { message_id: string; lease_token: string }[]) => deps.wal.ack(items);
/** `GET /v1/messages/stats`. */
export const walStats = (deps: { wal: WalQueue }) => deps.wal.stats();

/**
 * What makes a message a duplicate: its Telegram id, or, for a message without one, the request's
 * Idempotency-Key and its position in the batch (a retried batch carries the same key).
 */
export function dedupeId(m: { telegram_message_id?: number; request_key?: { key: string; index: number } }): DedupeId | undefined {
  if (m.telegram_message_id !== undefined) return { telegramMessageId: m.telegram_message_id };
  return m.request_key && { requestKey: m.request_key.key, index: m.request_key.index };
}

/** The chat id a queued or in-flight message came with, if any (one HGET). */
/** The user and chat of a WAL message while it is queued or in flight, if any. */
export async function walMessageRef(
  redis: RedisStore,
  messageId: string,
): Promise<{ user_id: string; chat_id: string | undefined } | undefined> {
  const raw = await redis.run("wal.chat", (r) => r.hget<string>(redis.keys.wal.messagesOf(messageId), messageId));
  if (!raw) return undefined;
  const m = JSON.parse(raw) as StoredMessage;
  return { user_id: m.user_id, chat_id: m.chat_id ?? undefined };
}

/** HGETALL's answer as an object (the client leaves it a flat list when it does not deserialize). */
function fields(v: Record<string, string> | string[] | null | undefined): Record<string, string> | null {
  if (!Array.isArray(v)) return v ?? null;
  const out: Record<string, string> = {};
  for (let i = 0; i < v.length; i += 2) out[String(v[i])] = String(v[i + 1]);
  return out;
}

/**
 * Moves what the layout before this one left (a hash per message, `wal:msg:<id>`) into the fixed
 * hashes, then puts the ids a claim parked as orphans back on the pending list (or drops them when
 * they have no body: erased). Idempotent, safe on several instances at once; claims start it when
 * they meet an id without a body, so no deploy step is needed. Returns counts.
 */
export async function migrateLegacyWal(redis: RedisStore): Promise<{ moved: number; requeued: number; dropped: number }> {
  const w = redis.keys.wal;
  let moved = 0;
  let cursor = "0";
  do {
    const [next, found] = await redis.run("wal.migrate", (r) => r.scan(cursor, { match: w.legacyMessagePattern, count: 200 }));
    cursor = String(next);
    const legacy = found.filter((key) => !key.endsWith(":acked"));
    if (legacy.length === 0) continue;
    const hashes = await redis.run("wal.migrate", (r) => {
      const p = r.pipeline();
      for (const key of legacy) p.hgetall(key);
      return p.exec<(Record<string, string> | string[] | null)[]>();
    });
    const keys = [w.attempts, w.tokens, w.owners];
    const args: string[] = [];
    legacy.forEach((key, i) => {
      const h = fields(hashes[i]);
      if (!h || !h.id || !h.user_id) return;
      const owner = w.ownerMember(h.user_id, h.id);
      const stored: StoredMessage = {
        user_id: h.user_id,
        text: h.text ?? "",
        chat_id: h.chat_id || null,
        telegram_message_id: h.telegram_message_id ? Number(h.telegram_message_id) : null,
        telegram_date: h.telegram_date || null,
        received_at: h.received_at ?? "",
        enqueued_at: Number(h.enqueued_at ?? 0),
        owner,
      };
      keys.push(key, w.messagesOf(h.id));
      args.push(h.id, owner, JSON.stringify(stored));
    });
    if (args.length) moved += await redis.run("wal.migrate", (r) => runScript<number>(r, MIGRATE_LEGACY, keys, args));
  } while (cursor !== "0");
  const [requeued, dropped] = await redis.run("wal.migrate", (r) =>
    runScript<[number, number]>(r, REQUEUE_ORPHANS, [w.orphans, w.pending, ...w.messageBuckets], []),
  );
  return { moved, requeued, dropped };
}
