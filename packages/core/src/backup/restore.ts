import { redisKeys } from "../cache/keys.js";
import type { Redis } from "@upstash/redis";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createGunzip } from "node:zlib";
import type { Db } from "../db/db.js";
import type { UserHasher } from "../gdpr/hash.js";
import type { CopyDb } from "../db/pool-db.js";
import { migrate } from "../db/migrate.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import { erasedHashes, reapplyErasures } from "./erasure-log.js";
import { readNdjson } from "./gzip-object.js";
import { listTables, quoteIdent } from "./pg-tables.js";
import type { RedisLine } from "./redis-backup.js";
import { verifySet } from "./verify.js";


export class RestoreRefusedError extends Error {
  override name = "RestoreRefusedError";
}

export interface PgRestoreOptions {
  /** The target's URL, for the migration runner. */
  databaseUrl: string;
  /** Keyed hashes of user ids: the erasure log is matched with them. */
  hasher: UserHasher;
  /** Restore into a database that already holds data (it is emptied first). */
  confirmOverwrite?: boolean;
  progress?: (line: string) => void;
}

/**
 * Restores a verified Postgres set: schema from the set's own migration files, partitions the data
 * needs, every table with COPY FROM (streamed from the bucket), the sequences its columns own, then the erasure log is re-applied so erased
 * users never come back. Refuses a set that fails verification, and a non-empty target unless
 * confirmed.
 */
export async function restorePostgres(store: StreamingBlobStore, id: string, db: Db & CopyDb, opts: PgRestoreOptions): Promise<{ rows: number; erased_rows: number }> {
  const say = opts.progress ?? (() => {});
  const v = await verifySet(store, "postgres", id);
  if (!v.ok || !v.manifest) throw new RestoreRefusedError(`set ${id} failed verification: ${v.problems.map((p) => `${p.key}: ${p.problem}`).join("; ")}`);
  const m = v.manifest;
  const nonEmpty: string[] = [];
  for (const t of await listTables(db)) if ((await db.query(`SELECT 1 FROM ${quoteIdent(t.name)} LIMIT 1`)).length) nonEmpty.push(t.name);
  if (nonEmpty.length && !opts.confirmOverwrite) throw new RestoreRefusedError(`target database is not empty (${nonEmpty.join(", ")}); confirm to overwrite it (npm run restore -- <id> --yes)`);
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-restore-schema-"));
  try {
    for (const o of m.schema_objects ?? []) await writeFile(path.join(dir, path.basename(o.key)), (await store.get(o.key))!);
    await migrate(opts.databaseUrl, { dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const tables = new Map((await listTables(db)).map((t) => [t.name, t]));
  // The set holds every table's rows, seed data included: start from empty tables.
  await db.query(`TRUNCATE ${[...tables.keys()].map(quoteIdent).join(", ")}`);
  if (m.partitions?.length) {
    await db.transaction(m.partitions.map((p) => ({ text: "SELECT hitl_ensure_interaction_partitions(to_date($1, 'YYYY_MM'), 1)", params: [p] })));
  }
  if (m.row_format !== "copy") throw new RestoreRefusedError(`set ${id} has rows in format ${m.row_format ?? "json"}; this version restores COPY sets`);
  let rows = 0;
  const setTables = m.tables ?? [];
  let restored = 0;
  for (const t of setTables) {
    const target = t.parent ?? t.name;
    const info = tables.get(target);
    if (!info) throw new RestoreRefusedError(`table ${target} does not exist in schema ${m.schema_version}`);
    // COPY FROM writes identity columns as given (no OVERRIDING needed) and routes partition rows.
    const copy = `COPY ${quoteIdent(target)} (${(t.columns ?? info.columns).map(quoteIdent).join(", ")}) FROM STDIN`;
    for (const o of t.objects) rows += (await db.session(async (s) => s.copyIn(copy, (await store.read(o.key)).pipe(createGunzip())))).rows;
    // Sequences the table's columns own (identity columns, the protocol version) continue after
    // the restored values.
    const owned = await db.query<{ col: string; seq: string }>(`SELECT a.attname AS col, s.oid::regclass::text AS seq
      FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i')`, [quoteIdent(target)]);
    for (const { col, seq } of owned) {
      await db.query(`SELECT setval($1::regclass, coalesce((SELECT max(${quoteIdent(col)}) FROM ${quoteIdent(target)}), 0) + 1, false)`, [seq]);
    }
    say(`  ${++restored}/${setTables.length} tables: ${t.name}, ${t.rows} rows`);
  }
  const erased = await reapplyErasures(db, opts.hasher, await erasedHashes(store, db));
  say(`restored ${rows} rows; erasure log re-applied (${erased} rows removed)`);
  return { rows, erased_rows: erased };
}

/** Whether any key matches: SCAN until one does or the cursor comes back (a batch may hold none). */
async function anyKey(redis: Redis, match: string): Promise<boolean> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, { match, count: 1000 });
    if (keys.length) return true;
    cursor = String(next);
  } while (cursor !== "0");
  return false;
}

/** The user id a key belongs to (the key layout reads it back: cache/keys.ts). */
const keyUser = (prefix: string, key: string): string | null => redisKeys(prefix).ownerOf(key);

/**
 * Restores a verified Redis snapshot with each key's remaining TTL (as of the snapshot), skipping
 * every key and queued message of an erased user.
 */
export async function restoreRedis(store: StreamingBlobStore, id: string, redis: Redis, opts: { prefix: string; hasher: UserHasher; db?: Db; confirmOverwrite?: boolean; progress?: (l: string) => void }): Promise<{ keys: number; skipped: number }> {
  const v = await verifySet(store, "redis", id);
  if (!v.ok || !v.manifest) throw new RestoreRefusedError(`set ${id} failed verification: ${v.problems.map((p) => `${p.key}: ${p.problem}`).join("; ")}`);
  if (!opts.confirmOverwrite && (await anyKey(redis, `${opts.prefix}*`))) throw new RestoreRefusedError("target Redis already holds keys under this prefix; confirm to overwrite it (npm run restore -- <id> --yes)");
  const erased = await erasedHashes(store, opts.db);
  const objects = v.manifest.objects ?? [];
  // Pass 1: queued WAL messages of erased users (their ids also appear in the queue lists).
  const erasedMessages = new Set<string>();
  for (const o of objects) {
    await readNdjson(await store.read(o.key), (raw) => {
      const l = JSON.parse(raw) as RedisLine;
      const owner = l.t === "hash" ? (l.v as Record<string, string>).user_id : undefined;
      if (owner !== undefined && erased.has(opts.hasher.hash(String(owner)))) erasedMessages.add(l.k.slice(l.k.lastIndexOf(":") + 1));
      // The WAL's body hashes (message id -> JSON with user_id).
      if (redisKeys(opts.prefix).wal.messageBuckets.includes(l.k) && l.t === "hash") {
        for (const [msg, body] of Object.entries(l.v as Record<string, string>)) {
          try { if (erased.has(opts.hasher.hash(String((JSON.parse(body) as { user_id: unknown }).user_id)))) erasedMessages.add(msg); } catch { /* not ours to judge */ }
        }
      }
    });
  }
  // Pass 2: restore in pipelined batches; memory holds one batch.
  let keys = 0;
  let skipped = 0;
  let batch: RedisLine[] = [];
  const flush = async () => {
    const p = redis.pipeline();
    let n = 0;
    for (const l of batch) {
      const user = keyUser(opts.prefix, l.k);
      if ((user && erased.has(opts.hasher.hash(user))) || erasedMessages.has(l.k.slice(l.k.lastIndexOf(":") + 1))) { skipped++; continue; }
      if (restoreCommands(p, l, erasedMessages)) { keys++; n++; }
    }
    if (n) await p.exec();
    batch = [];
    opts.progress?.(`  ${keys} keys restored`);
  };
  for (const o of objects) {
    await readNdjson(await store.read(o.key), async (raw) => { batch.push(JSON.parse(raw) as RedisLine); if (batch.length >= 500) await flush(); });
  }
  if (batch.length) await flush();
  return { keys, skipped };
}

type Pipeline = ReturnType<Redis["pipeline"]>;

/** Queues the commands that recreate one key (and its TTL); false when nothing is left of it. */
function restoreCommands(p: Pipeline, l: RedisLine, erasedMessages: Set<string>): boolean {
  p.del(l.k);
  if (l.t === "string") p.set(l.k, l.v as string);
  else if (l.t === "hash") {
    // The WAL's hashes are keyed by message id: an erased user's fields stay out.
    const fields = Object.fromEntries(Object.entries(l.v as Record<string, string>).filter(([f]) => !erasedMessages.has(f)));
    if (!Object.keys(fields).length) return false;
    p.hset(l.k, fields);
  }
  else if (l.t === "list") {
    const items = (l.v as string[]).filter((x) => !erasedMessages.has(x));
    if (!items.length) return false;
    p.rpush(l.k, ...items);
  } else if (l.t === "set") p.sadd(l.k, ...(l.v as [string, ...string[]]));
  else if (l.t === "zset") {
    const flat = l.v as (string | number)[];
    const members: { member: string; score: number }[] = [];
    // Members are message ids (in-flight) or `<user>:<message id>` (the WAL's owners index).
    const id = (m: string) => m.slice(m.lastIndexOf(":") + 1);
    for (let j = 0; j < flat.length; j += 2) if (!erasedMessages.has(id(String(flat[j])))) members.push({ member: String(flat[j]), score: Number(flat[j + 1]) });
    if (!members.length) return false;
    p.zadd(l.k, members[0]!, ...members.slice(1));
  }
  if (l.ttl > 0) p.pexpire(l.k, l.ttl);
  return true;
}
