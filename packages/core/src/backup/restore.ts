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
import { recordSet } from "./catalog.js";
import type { RedisStore } from "../cache/redis.js";

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
  /**
   * The Redis whose caches the target database backs (the service's own, when restoring its own
   * database): fenced after the restore (see `fenceCaches`). Without it nothing in Redis is touched.
   */
  caches?: RedisStore;
  /** How long after the first flush the caches are flushed again (default 5 s; see `fenceCaches`). */
  cacheSettleMs?: number;
}

/**
 * Tables a restore does not take from the set: the backup catalog describes the bucket, which a
 * restore does not roll back (sets made after this one still exist). The set's copy is merged in:
 * rows the target lacks are added, the target's own rows win.
 */
const KEPT_TABLES = new Set(["backup_sets"]);

/**
 * Restores a verified Postgres set: schema from the set's own migration files, partitions the data
 * needs, every table with COPY FROM (streamed from the bucket), the sequences its columns own, then the erasure log is re-applied so erased
 * users never come back. Refuses a set that fails verification, and a non-empty target unless
 * confirmed.
 */
export async function restorePostgres(
  store: StreamingBlobStore,
  id: string,
  db: Db & CopyDb,
  opts: PgRestoreOptions,
): Promise<{ rows: number; erased_rows: number }> {
  const say = opts.progress ?? (() => {});
  const v = await verifySet(store, "postgres", id);
  if (!v.ok || !v.manifest)
    throw new RestoreRefusedError(`set ${id} failed verification: ${v.problems.map((p) => `${p.key}: ${p.problem}`).join("; ")}`);
  const m = v.manifest;
  const nonEmpty: string[] = [];
  for (const t of await listTables(db)) if ((await db.query(`SELECT 1 FROM ${quoteIdent(t.name)} LIMIT 1`)).length) nonEmpty.push(t.name);
  if (nonEmpty.length && !opts.confirmOverwrite)
    throw new RestoreRefusedError(
      `target database is not empty (${nonEmpty.join(", ")}); confirm to overwrite it (npm run restore -- <id> --yes)`,
    );
  // What the target's caches may hold, read before anything is replaced (see fenceVersions).
  const before = await preRestoreState(db);
  const dir = await mkdtemp(path.join(os.tmpdir(), "hitl-restore-schema-"));
  try {
    for (const o of m.schema_objects ?? []) await writeFile(path.join(dir, path.basename(o.key)), (await store.get(o.key))!);
    await migrate(opts.databaseUrl, { dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const tables = new Map((await listTables(db)).map((t) => [t.name, t]));
  // The set holds every table's rows, seed data included: start from empty tables.
  await db.query(
    `TRUNCATE ${[...tables.keys()]
      .filter((n) => !KEPT_TABLES.has(n))
      .map(quoteIdent)
      .join(", ")}`,
  );
  if (m.partitions?.length) {
    await db.transaction(
      m.partitions.map((p) => ({ text: "SELECT hitl_ensure_interaction_partitions(to_date($1, 'YYYY_MM'), 1)", params: [p] })),
    );
  }
  if (m.row_format !== "copy")
    throw new RestoreRefusedError(`set ${id} has rows in format ${m.row_format ?? "json"}; this version restores COPY sets`);
  let rows = 0;
  const setTables = m.tables ?? [];
  let restored = 0;
  for (const t of setTables) {
    const target = t.parent ?? t.name;
    const info = tables.get(target);
    if (!info) throw new RestoreRefusedError(`table ${target} does not exist in schema ${m.schema_version}`);
    // COPY FROM writes identity columns as given (no OVERRIDING needed) and routes partition rows.
    const columns = (t.columns ?? info.columns).map(quoteIdent).join(", ");
    if (KEPT_TABLES.has(target)) {
      // Merged: the set's rows into a temporary copy, then those the target lacks.
      for (const o of t.objects)
        rows += (
          await db.session(async (s) => {
            await s.query(`CREATE TEMP TABLE restore_merge (LIKE ${quoteIdent(target)}) ON COMMIT PRESERVE ROWS`);
            try {
              const r = await s.copyIn(`COPY restore_merge (${columns}) FROM STDIN`, (await store.read(o.key)).pipe(createGunzip()));
              await s.query(`INSERT INTO ${quoteIdent(target)} (${columns}) SELECT ${columns} FROM restore_merge ON CONFLICT DO NOTHING`);
              return r;
            } finally {
              await s.query("DROP TABLE IF EXISTS restore_merge");
            }
          })
        ).rows;
      say(`  ${++restored}/${setTables.length} tables: ${t.name}, ${t.rows} rows (merged into the target's catalog)`);
      continue;
    }
    const copy = `COPY ${quoteIdent(target)} (${columns}) FROM STDIN`;
    for (const o of t.objects) rows += (await db.session(async (s) => s.copyIn(copy, (await store.read(o.key)).pipe(createGunzip())))).rows;
    // Sequences the table's columns own (identity columns, the protocol version) continue after
    // the restored values.
    const owned = await db.query<{ col: string; seq: string }>(
      `SELECT a.attname AS col, s.oid::regclass::text AS seq
      FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.refobjid = $1::regclass AND d.deptype IN ('a', 'i')`,
      [quoteIdent(target)],
    );
    for (const { col, seq } of owned) {
      await db.query(`SELECT setval($1::regclass, coalesce((SELECT max(${quoteIdent(col)}) FROM ${quoteIdent(target)}), 0) + 1, false)`, [
        seq,
      ]);
    }
    say(`  ${++restored}/${setTables.length} tables: ${t.name}, ${t.rows} rows`);
  }
  const erased = await reapplyErasures(db, opts.hasher, await erasedHashes(store, db));
  await fenceVersions(db, before);
  // The set was verified above: the catalog says so, whatever the set's own copy of it said.
  await recordSet(db, m, true);
  say(`restored ${rows} rows; erasure log re-applied (${erased} rows removed)`);
  if (opts.caches) {
    const keys = await fenceCaches(opts.caches, db, before.users, opts.cacheSettleMs);
    say(`caches of the restored tables flushed (${keys} keys, twice)`);
  }
  return { rows, erased_rows: erased };
}

/** What a restore must outrun: the target's sequences and versions, and the users with cached rows. */
interface PreRestoreState {
  sequences: Map<string, bigint>;
  memoryVersion: bigint;
  users: Set<string>;
}

/** Tables behind per-user caches, with the cache families they back (`restoredCacheKeys`). */
const CACHED_USER_TABLES = ["user_memory", "memory_messages", "user_current_status", "user_protocol_status"];

async function preRestoreState(db: Db): Promise<PreRestoreState> {
  const present = new Set((await listTables(db)).map((t) => t.name));
  const sequences = new Map(
    (
      await db.query<{ seq: string; last: string | null }>(
        "SELECT quote_ident(sequencename) AS seq, last_value::text AS last FROM pg_sequences WHERE schemaname = 'public'",
      )
    )
      .filter((r) => r.last !== null)
      .map((r) => [r.seq, BigInt(r.last!)] as const),
  );
  const memoryVersion = present.has("user_memory")
    ? BigInt((await db.query<{ v: string }>("SELECT coalesce(max(version), 0)::text AS v FROM user_memory"))[0]!.v)
    : 0n;
  const users = new Set<string>();
  const cached = CACHED_USER_TABLES.filter((t) => present.has(t));
  if (cached.length) {
    for (const r of await db.query<{ user_id: string }>(cached.map((t) => `SELECT user_id FROM ${quoteIdent(t)}`).join(" UNION ")))
      users.add(r.user_id);
  }
  return { sequences, memoryVersion, users };
}

/**
 * Versions after a restore outrun every version the caches may hold: each sequence continues past
 * both the restored values and its value before the restore (the protocol and status versions,
 * identities such as history ids), and every restored memory context's version rises by the
 * highest one before. So the next write wins over any cached value, even one written back by a
 * request that read the old database just before the restore (the caches are also flushed).
 */
async function fenceVersions(db: Db, before: PreRestoreState): Promise<void> {
  for (const [seq, last] of before.sequences) {
    if ((await db.query("SELECT to_regclass($1) IS NOT NULL AS ok", [seq]))[0]?.ok !== true) continue;
    await db.query("SELECT setval($1::regclass, greatest($2::bigint, nextval($1::regclass)), true)", [seq, last.toString()]);
  }
  if (before.memoryVersion > 0n) {
    // Only the version moves (updated_at keeps the restored value).
    await db.transaction([
      { text: "ALTER TABLE user_memory DISABLE TRIGGER user_memory_touch" },
      { text: "UPDATE user_memory SET version = version + $1::bigint", params: [before.memoryVersion.toString()] },
      { text: "ALTER TABLE user_memory ENABLE TRIGGER user_memory_touch" },
    ]);
  }
}

/**
 * Every cache key one user's restored rows back, through each family's own key builder: the
 * protocol and customer status, the memory context and the history window. (The one place to
 * extend when a table gains a cache.)
 */
export function restoredCacheKeys(redis: RedisStore, userId: string): string[] {
  const u = redis.keys.user(userId);
  return [u.protocol, u.status, u.ctx, u.history];
}

/** Caches of aggregates over restored tables (not per user). */
const restoredGlobalKeys = (redis: RedisStore) => [redis.keys.dashboard];

/**
 * After a restore nothing newer than the restored data may be served: every cache key the
 * restored tables back is deleted, for every user with rows before or after the restore. Then,
 * after `settleMs` (longer than a request takes), once more: a request that read a row before
 * the restore replaced it, and wrote it back after the first flush, is flushed too (its version,
 * from before, loses to any later write anyway: `fenceVersions`). Returns the keys deleted.
 */
export async function fenceCaches(redis: RedisStore, db: Db, usersBefore: Set<string>, settleMs = 5_000): Promise<number> {
  const users = new Set(usersBefore);
  for (const r of await db.query<{ user_id: string }>(
    CACHED_USER_TABLES.map((t) => `SELECT user_id FROM ${quoteIdent(t)}`).join(" UNION "),
  ))
    users.add(r.user_id);
  const keys = [...restoredGlobalKeys(redis), ...[...users].flatMap((u) => restoredCacheKeys(redis, u))];
  const flush = async () => {
    let n = 0;
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000) as [string, ...string[]];
      n += await redis.run("del", (r) => r.del(...batch));
    }
    return n;
  };
  const first = await flush();
  await new Promise((r) => setTimeout(r, settleMs));
  return first + (await flush());
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
export async function restoreRedis(
  store: StreamingBlobStore,
  id: string,
  redis: Redis,
  opts: { prefix: string; hasher: UserHasher; db?: Db; confirmOverwrite?: boolean; progress?: (l: string) => void },
): Promise<{ keys: number; skipped: number }> {
  const v = await verifySet(store, "redis", id);
  if (!v.ok || !v.manifest)
    throw new RestoreRefusedError(`set ${id} failed verification: ${v.problems.map((p) => `${p.key}: ${p.problem}`).join("; ")}`);
  if (!opts.confirmOverwrite && (await anyKey(redis, `${opts.prefix}*`)))
    throw new RestoreRefusedError(
      "target Redis already holds keys under this prefix; confirm to overwrite it (npm run restore -- <id> --yes)",
    );
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
          try {
            if (erased.has(opts.hasher.hash(String((JSON.parse(body) as { user_id: unknown }).user_id)))) erasedMessages.add(msg);
          } catch {
            /* not ours to judge */
          }
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
      if ((user && erased.has(opts.hasher.hash(user))) || erasedMessages.has(l.k.slice(l.k.lastIndexOf(":") + 1))) {
        skipped++;
        continue;
      }
      if (restoreCommands(p, l, erasedMessages)) {
        keys++;
        n++;
      }
    }
    if (n) await p.exec();
    batch = [];
    opts.progress?.(`  ${keys} keys restored`);
  };
  for (const o of objects) {
    await readNdjson(await store.read(o.key), async (raw) => {
      batch.push(JSON.parse(raw) as RedisLine);
      if (batch.length >= 500) await flush();
    });
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
  } else if (l.t === "list") {
    const items = (l.v as string[]).filter((x) => !erasedMessages.has(x));
    if (!items.length) return false;
    p.rpush(l.k, ...items);
  } else if (l.t === "set") p.sadd(l.k, ...(l.v as [string, ...string[]]));
  else if (l.t === "zset") {
    const flat = l.v as (string | number)[];
    const members: { member: string; score: number }[] = [];
    // Members are message ids (in-flight) or `<user>:<message id>` (the WAL's owners index).
    const id = (m: string) => m.slice(m.lastIndexOf(":") + 1);
    for (let j = 0; j < flat.length; j += 2)
      if (!erasedMessages.has(id(String(flat[j])))) members.push({ member: String(flat[j]), score: Number(flat[j + 1]) });
    if (!members.length) return false;
    p.zadd(l.k, members[0]!, ...members.slice(1));
  }
  if (l.ttl > 0) p.pexpire(l.k, l.ttl);
  return true;
}
