import { randomUUID } from "node:crypto";
import type { RedisGateway } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { Metrics } from "../metrics/registry.js";
import { quarantineMessages } from "../protocol/quarantine.js";
import { cacheProtocols, protocolStatuses } from "../protocol/status.js";
import type { WalQueue, QueuedMessage } from "./queue.js";
import type { IncomingMessage, IngestBody, IngestResult } from "./schemas.js";

export interface IngestDeps {
  redis: RedisGateway;
  db: Db;
  wal: WalQueue;
  metrics?: Metrics;
}

/**
 * POST /v1/messages: each message gets an id. One EVAL enqueues the messages of users whose
 * protocol cache says INACTIVE: with the cache warm, that is the whole request (one Redis round
 * trip, no Postgres). The others are looked up in Postgres (and cached): users under an ACTIVE
 * silence protocol have theirs quarantined in Postgres, the rest are enqueued by a second EVAL.
 */
export async function ingestMessages(deps: IngestDeps, body: IngestBody, now = new Date()): Promise<IngestResult[]> {
  const incoming: IncomingMessage[] = "messages" in body ? body.messages : [body];
  const messages: QueuedMessage[] = incoming.map((m) => ({ ...m, message_id: randomUUID(), received_at: m.received_at ?? now.toISOString() }));
  const first = await deps.wal.enqueue(messages, { checkProtocol: true, now: now.getTime() });
  const results = new Map<string, IngestResult>();
  const unsure: QueuedMessage[] = [];
  first.forEach((r, i) => (r.status === "check" ? unsure.push(messages[i]!) : results.set(messages[i]!.message_id, r)));

  if (unsure.length) {
    const protocols = await protocolStatuses(deps.redis, deps.db, unsure.map((m) => m.user_id));
    const silenced = unsure.filter((m) => protocols.get(m.user_id)?.status === "ACTIVE");
    const free = unsure.filter((m) => protocols.get(m.user_id)?.status !== "ACTIVE");
    if (silenced.length) {
      const q = await quarantineMessages(deps.db, silenced);
      silenced.forEach((m, i) => results.set(m.message_id, q.results[i]!));
      await cacheProtocols(deps.redis, q.protocols);
    }
    const second = await deps.wal.enqueue(free, { checkProtocol: false, now: now.getTime() });
    free.forEach((m, i) => results.set(m.message_id, second[i] as IngestResult));
  }
  const out = messages.map((m) => results.get(m.message_id)!);
  for (const r of out) deps.metrics?.walIngested.inc({ status: r.status });
  return out;
}
