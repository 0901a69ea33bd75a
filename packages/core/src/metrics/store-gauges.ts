import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { Metrics } from "./registry.js";
import type { WalQueue } from "../wal/queue.js";
import { measureBacklog, recordBacklogGauges } from "../monitoring/backlog.js";

/**
 * Gauges that need a store round trip: refreshed when a person or Prometheus asks (/metrics,
 * /status), never on the request path. Each is best effort: a store that is down leaves the old value.
 */
export async function refreshStoreGauges(m: Metrics, db: Db, redis: RedisStore, now = Date.now(), wal?: WalQueue): Promise<void> {
  await Promise.all([
    wal ? measureBacklog({ db, wal }).then((levels) => recordBacklogGauges(m, levels)) : undefined,
    db
      .query<{ kind: string; finished: Date }>("SELECT kind, max(finished_at) AS finished FROM backup_sets WHERE verified GROUP BY kind")
      .then((rows) => {
        for (const r of rows) {
          const at = new Date(r.finished).getTime();
          m.backupLastSuccess.set({ kind: r.kind }, at / 1000);
          m.backupAge.set({ kind: r.kind }, Math.max(0, (now - at) / 1000));
        }
      })
      .catch(() => {}),
    redis
      .run("info.memory", (r) => r.exec<string>(["INFO", "memory"]))
      .then((info) => {
        const used = /used_memory:(\d+)/.exec(String(info));
        if (used) m.memoryUsage.set(Number(used[1]));
      })
      .catch(() => {}),
  ]);
}
