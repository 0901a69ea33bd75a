import { randomUUID } from "node:crypto";
import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { Metrics } from "../metrics/registry.js";
import { quarantineMessages } from "../protocol/quarantine.js";
import { cacheProtocols, loadProtocols, type VersionedProtocol } from "../protocol/status.js";
import { scriptSha } from "../cache/scripts.js";
import { INGEST } from "./scripts.js";
import { dedupeId, type WalQueue, type QueuedMessage } from "./queue.js";
import { DEDUPE_TTL_SECONDS } from "./keys.js";
import type { IncomingMessage, IngestBody, IngestResult } from "./schemas.js";

export interface IngestDeps {
  redis: RedisStore;
  db: Db;
  wal: WalQueue;
  metrics?: Metrics;
}

/**
 * POST /v1/messages: each message gets an id. One EVAL enqueues the messages of users whose
 * protocol cache says INACTIVE: with the cache warm, that is the whole request (one Redis round
 * trip, no Postgres). Users the cache does not know are looked up in Postgres (and cached): users
 * under an ACTIVE silence protocol have theirs quarantined in Postgres, the rest are enqueued by a
 * second EVAL, pipelined with the cache writes: a cold user costs 2 Redis round trips and 1 Postgres.
 */
export async function ingestMessages(deps: IngestDeps, body: IngestBody, now = new Date(), requestKey?: string): Promise<IngestResult[]> {
  const incoming: IncomingMessage[] = "messages" in body ? body.messages : [body];
  const messages: QueuedMessage[] = incoming.map((m, i) => ({
    ...m,
    message_id: randomUUID(),
    received_at: m.received_at ?? now.toISOString(),
    ...(requestKey !== undefined && m.telegram_message_id === undefined ? { request_key: { key: requestKey, index: i } } : {}),
  }));
  const first = await deps.wal.enqueue(messages, { checkProtocol: true, now: now.getTime() });
  const results = new Map<string, IngestResult>();
  const unsure: QueuedMessage[] = [];
  // What the cache said of each user left out (the script read it already: no second read).
  const active = new Map<string, boolean>();
  const unknown = new Set<string>();
  first.forEach((r, i) => {
    const m = messages[i]!;
    if (r.status !== "check") return void results.set(m.message_id, r);
    unsure.push(m);
    if (r.cached === "unknown") unknown.add(m.user_id);
    else active.set(m.user_id, r.cached === "active");
  });

  if (unsure.length) {
    // Statuses to cache: what Postgres said of the unknown users, then (newer) what the quarantine wrote.
    const statuses = new Map<string, VersionedProtocol>();
    if (unknown.size) {
      const loaded = await loadProtocols(deps.db, [...unknown]);
      for (const p of loaded) {
        active.set(p.value.user_id, p.value.status === "ACTIVE");
        statuses.set(p.value.user_id, p);
      }
    }
    const silenced = unsure.filter((m) => active.get(m.user_id));
    const free = unsure.filter((m) => !active.get(m.user_id));
    const quarantined: { key: string; set: string; messageId: string }[] = [];
    if (silenced.length) {
      const q = await quarantineMessages(deps.db, silenced);
      silenced.forEach((m, i) => results.set(m.message_id, q.results[i]!));
      for (const p of q.protocols) if ((statuses.get(p.value.user_id)?.version ?? -1) <= p.version) statuses.set(p.value.user_id, p);
      // Dedupe keys of what went to quarantine: a later copy is a duplicate even if the protocol
      // changes meanwhile (dedupe spans queue and quarantine).
      silenced.forEach((m, i) => {
        const id = dedupeId(m);
        if (id === undefined || q.results[i]!.status !== "quarantined") return;
        quarantined.push({
          key: deps.redis.keys.wal.dedupe(m.user_id, id),
          set: deps.redis.keys.user(m.user_id).dedupe,
          messageId: q.results[i]!.message_id,
        });
      });
    }
    // One round trip: the cache writes, the dedupe keys, and the enqueue of the rest (independent
    // of each other; in this order on the one connection).
    const ingest = free.length ? deps.wal.ingestCall(free, { checkProtocol: false, now: now.getTime() }) : undefined;
    const replies = await cacheProtocols(deps.redis, [...statuses.values()], (p) => {
      for (const d of quarantined) {
        p.set(d.key, d.messageId, { nx: true, ex: DEDUPE_TTL_SECONDS });
        p.sadd(d.set, d.key);
        p.expire(d.set, DEDUPE_TTL_SECONDS);
      }
      if (ingest) p.evalsha(scriptSha(INGEST), ingest.keys, ingest.args);
    });
    if (ingest) {
      const last = replies.at(-1);
      // NOSCRIPT (a flushed Redis since this request's first EVAL): nothing of it ran; enqueue alone.
      const second =
        last && !last.error
          ? deps.wal.ingestResults(last.result as string[], free)
          : await deps.wal.enqueue(free, { checkProtocol: false, now: now.getTime() });
      free.forEach((m, i) => results.set(m.message_id, second[i] as IngestResult));
    }
  }
  const out = messages.map((m) => results.get(m.message_id)!);
  for (const r of out) deps.metrics?.walIngested.inc({ status: r.status });
  return out;
}
