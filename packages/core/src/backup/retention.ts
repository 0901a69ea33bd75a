import type { Db } from "../db/db.js";
import type { Logger } from "../log.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import { BACKUP_ROOT, setTime, type Manifest } from "./manifest.js";

export interface RetentionPolicy {
  /** Sets older than this go (seed: 7 days). */
  maxAgeDays: number;
  /** At most this many complete sets are kept. */
  maxCount: number;
  /** How often the kind is backed up, to warn about retention that cannot hold two sets. */
  scheduleHours: number;
}

export const RETENTION: Record<"postgres" | "redis", RetentionPolicy> = {
  postgres: { maxAgeDays: 7, maxCount: 14, scheduleHours: 24 },
  redis: { maxAgeDays: 7, maxCount: 56, scheduleHours: 6 },
};

export interface SetInfo {
  id: string;
  started_at: Date;
  complete: boolean;
  verified: boolean;
}

/** Unfinished sets younger than this may still be resumed. */
const INCOMPLETE_GRACE_MS = 24 * 3600_000;

/**
 * Which sets to delete: older than the age limit or beyond the count limit, and unfinished sets
 * past the resume window; never the newest verified set, however old. Pure (the clock is passed).
 */
export function planRetention(
  sets: SetInfo[],
  now: Date,
  policy: RetentionPolicy,
): { keep: string[]; remove: string[]; warnings: string[] } {
  const warnings: string[] = [];
  if (policy.maxAgeDays * 24 < policy.scheduleHours * 2) {
    warnings.push(`retention of ${policy.maxAgeDays} days keeps fewer than two sets at one set every ${policy.scheduleHours} h`);
  }
  const sorted = [...sets].sort((a, b) => b.started_at.getTime() - a.started_at.getTime());
  const newestVerified = sorted.find((s) => s.complete && s.verified)?.id;
  if (!newestVerified) warnings.push("no verified set exists");
  const keep: string[] = [];
  const remove: string[] = [];
  let completeSeen = 0;
  for (const s of sorted) {
    const age = now.getTime() - s.started_at.getTime();
    let drop: boolean;
    if (!s.complete) drop = age > INCOMPLETE_GRACE_MS;
    else drop = age > policy.maxAgeDays * 86_400_000 || ++completeSeen > policy.maxCount;
    if (s.id === newestVerified) drop = false;
    (drop ? remove : keep).push(s.id);
  }
  return { keep, remove, warnings };
}

/** Lists the sets of a kind in the bucket: complete = has a manifest; verified = its verification passed. */
export async function listSets(store: StreamingBlobStore, kind: Manifest["kind"]): Promise<SetInfo[]> {
  const objects = await store.list(`${BACKUP_ROOT}/${kind}/`);
  const files = new Map<string, Set<string>>();
  for (const o of objects) {
    const [, , id, file] = o.key.split("/");
    if (id && file) files.set(id, (files.get(id) ?? new Set()).add(file));
  }
  const out: SetInfo[] = [];
  for (const [id, f] of files) {
    let verified = false;
    if (f.has("verification.json")) {
      const v = await store.get(`${BACKUP_ROOT}/${kind}/${id}/verification.json`);
      verified = Boolean(v && (JSON.parse(v.toString()) as { ok: boolean }).ok);
    }
    out.push({ id, started_at: setTime(id), complete: f.has("manifest.json"), verified });
  }
  return out;
}

/** Applies the plan: deletes every object of the removed sets (and their catalog rows). */
export async function pruneBackups(
  deps: { store: StreamingBlobStore; db?: Db; log?: Logger },
  kind: "postgres" | "redis",
  now = new Date(),
  policy = RETENTION[kind],
) {
  const plan = planRetention(await listSets(deps.store, kind), now, policy);
  for (const w of plan.warnings) deps.log?.warn("backup retention", { kind, warning: w });
  for (const id of plan.remove) {
    const objects = await deps.store.list(`${BACKUP_ROOT}/${kind}/${id}/`);
    await deps.store.delete(objects.map((o) => o.key));
    await deps.db?.query("DELETE FROM backup_sets WHERE id = $1", [id]);
  }
  return plan;
}
