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
 * POST /v1/messages: each message gets an id; users under an ACTIVE silence protocol have theirs
 * quarantined in Postgres, the rest go to the WAL. With the protocol cache warm this is two Redis
 * round trips (MGET protocol, EVAL ingest) and no Postgres.
 */
export async function ingestMessages(deps: IngestDeps, body: IngestBody, now = new Date()): Promise<IngestResult[]> {
  const incoming: IncomingMessage[] = "messages" in body ? body.messages : [body];
  const messages: QueuedMessage[] = incoming.map((m) => ({ ...m, message_id: randomUUID(), received_at: m.received_at ?? now.toISOString() }));
  const protocols = await protocolStatuses(deps.redis, deps.db, messages.map((m) => m.user_id));
  const silenced = messages.filter((m) => protocols.get(m.user_id)?.status === "ACTIVE");
  const queued = messages.filter((m) => protocols.get(m.user_id)?.status !== "ACTIVE");

  const byId = new Map<string, IngestResult>();
  if (silenced.length) {
    const q = await quarantineMessages(deps.db, silenced);
    silenced.forEach((m, i) => byId.set(m.message_id, q.results[i]!));
    await cacheProtocols(deps.redis, q.protocols);
  }
  const enqueued = await deps.wal.enqueue(queued, now.getTime());
  queued.forEach((m, i) => byId.set(m.message_id, enqueued[i]!));
  const results = messages.map((m) => byId.get(m.message_id)!);
  for (const r of results) deps.metrics?.walIngested.inc({ status: r.status });
  return results;
}
