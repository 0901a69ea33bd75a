import { chatIdFromStore } from "./schemas.js";
import { randomUUID } from "node:crypto";
import type { RedisGateway } from "../cache/redis.js";
import type { Metrics } from "../metrics/registry.js";
import { ACK, CLAIM, INGEST, STATS } from "./scripts.js";
import { ACKED_MARKER_TTL_SECONDS, DEDUPE_TTL_SECONDS, MAX_DELIVERIES, walKeys } from "./keys.js";
import { protocolKey } from "../protocol/status.js";
import type { ClaimedMessage, IncomingMessage, IngestResult, WalStats } from "./schemas.js";
import { runScript } from "../cache/scripts.js";

/** "check": left out; `cached` is what the protocol cache says of the user. */
export type EnqueueResult = IngestResult | { message_id: string; status: "check"; cached: "active" | "inactive" | "unknown" };

export interface QueuedMessage extends IncomingMessage {
  message_id: string;
  received_at: string;
  /** For a message without a Telegram id: the request's Idempotency-Key and its position. */
  request_key?: string;
}

const orNull = (s: string) => (s === "" ? null : s);
const numOrNull = (s: string) => (s === "" ? null : Number(s));

/** The message WAL in Redis: ingest, claim with a lease, ack. Each call is one atomic EVAL. */
export class WalQueue {
  private readonly keys;

  constructor(private readonly redis: RedisGateway, private readonly metrics?: Metrics) {
    this.keys = walKeys(redis);
  }

  /**
   * Enqueues in order; a (user_id, telegram_message_id) seen within 7 days answers duplicate.
   * With `checkProtocol`, messages whose user's protocol is not cached as INACTIVE are left out and
   * answered "check".
   */
  async enqueue(messages: QueuedMessage[], opts: { checkProtocol: boolean; now?: number }): Promise<EnqueueResult[]> {
    if (messages.length === 0) return [];
    const k = this.keys;
    const keys = [k.pending, k.inflight, k.dead];
    const args: string[] = [String(opts.now ?? Date.now()), String(DEDUPE_TTL_SECONDS), opts.checkProtocol ? "1" : "0"];
    for (const m of messages) {
      const dedupe = dedupeId(m);
      const hasDedupe = dedupe !== undefined;
      keys.push(k.msg(m.message_id), hasDedupe ? k.dedupe(m.user_id, dedupe) : k.msg(m.message_id), protocolKey(this.redis, m.user_id));
      args.push(m.message_id, m.user_id, m.text, m.chat_id?.toString() ?? "", m.telegram_message_id?.toString() ?? "",
        m.telegram_date ?? "", m.received_at, hasDedupe ? "1" : "0");
    }
    const out = await this.redis.run("wal.ingest", (r) => runScript<string[]>(r, INGEST, keys, args));
    return out.map((s, i): EnqueueResult => {
      if (s.startsWith("duplicate:")) return { message_id: s.slice("duplicate:".length), status: "duplicate" };
      if (s.startsWith("check:")) return { message_id: messages[i]!.message_id, status: "check", cached: s.slice("check:".length) as "active" | "inactive" | "unknown" };
      return { message_id: messages[i]!.message_id, status: "queued" };
    });
  }

  /** Hands out up to `max` messages under a lease: expired leases first, then FIFO. */
  /** `claimKey` (the caller's id plus its Idempotency-Key) makes a retried claim answer the same items. */
  async claim(max: number, leaseSeconds: number, now = Date.now(), claimKey?: string): Promise<ClaimedMessage[]> {
    const k = this.keys;
    const args = [String(now), String(leaseSeconds * 1000), String(max), String(MAX_DELIVERIES), randomUUID(), k.msgPrefix];
    const keys = [k.pending, k.inflight, k.dead, ...(claimKey ? [this.redis.key("wal", "claim", claimKey)] : [])];
    const [dead, flat] = await this.redis.run("wal.claim", (r) => runScript<[number, (string | number)[]]>(r, CLAIM, keys, args));
    const items: ClaimedMessage[] = [];
    for (let i = 0; i < flat.length; i += 9) {
      const f = flat.slice(i, i + 9).map(String);
      items.push({
        message_id: f[0]!, lease_token: f[1]!, attempts: Number(f[2]), user_id: f[3]!, text: f[4]!,
        chat_id: chatIdFromStore(f[5]!), telegram_message_id: numOrNull(f[6]!), telegram_date: orNull(f[7]!), received_at: f[8]!,
      });
    }
    this.metrics?.walClaims.inc(items.length);
    if (dead) this.metrics?.walDeadLetters.inc(dead);
    return items;
  }

  /** Acks messages whose lease token still matches; the others are reported stale. */
  async ack(items: { message_id: string; lease_token: string }[]): Promise<{ acked: number; stale: string[] }> {
    const k = this.keys;
    const args = [k.msgPrefix, String(ACKED_MARKER_TTL_SECONDS), ...items.flatMap((i) => [i.message_id, i.lease_token])];
    const [acked, stale] = await this.redis.run("wal.ack", (r) => runScript<[number, string[]]>(r, ACK, [k.pending, k.inflight, k.dead], args));
    this.metrics?.walAcks.inc(acked);
    if (stale.length) this.metrics?.walStaleAcks.inc(stale.length);
    return { acked, stale: stale.map(String) };
  }

  async stats(now = Date.now()): Promise<WalStats> {
    const k = this.keys;
    const [pending, inFlight, dead, oldest] = await this.redis.run("wal.stats",
      (r) => runScript<[number, number, number, string | null]>(r, STATS, [k.pending, k.inflight, k.dead], [k.msgPrefix]));
    this.metrics?.walDepth.set({ queue: "pending" }, pending);
    this.metrics?.walDepth.set({ queue: "in_flight" }, inFlight);
    this.metrics?.walDepth.set({ queue: "dead_letter" }, dead);
    const oldestMs = oldest ? Number(oldest) : NaN;
    return {
      pending, in_flight: inFlight, dead_letter: dead,
      oldest_pending_age_seconds: Number.isFinite(oldestMs) ? Math.max(0, Math.round((now - oldestMs) / 1000)) : null,
    };
  }
}

/**
 * What makes a message a duplicate: its Telegram id, or, for a message without one, the request's
 * Idempotency-Key and its position in the batch (a retried batch carries the same key).
 */
export function dedupeId(m: { telegram_message_id?: number; request_key?: string }): string | undefined {
  if (m.telegram_message_id !== undefined) return String(m.telegram_message_id);
  return m.request_key === undefined ? undefined : `k:${m.request_key}`;
}
