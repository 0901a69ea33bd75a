import { createHash, randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { Db } from "../db/db.js";
import type { CopyDb } from "../db/pool-db.js";
import type { Logger } from "../log.js";
import type { BlobStore, StreamingBlobStore } from "../storage/blob.js";
import type { UserHasher } from "../gdpr/hash.js";
import { purgeExpiredQuarantine } from "../protocol/admin.js";
import { recordSet } from "./catalog.js";
import { manifestText, newSetId, readManifest, type Manifest, type ObjectEntry } from "./manifest.js";
import { readNdjson } from "./gzip-object.js";
import { acquireLease, releaseLease, renewLease } from "./lease.js";
import {
  archiveColumns,
  archiveSelectList,
  lineOf,
  ParquetObjectWriter,
  readParquetObject,
  selectFormOfLegacyRow,
  type ArchiveColumn,
} from "./parquet-object.js";
import { tableBlocks } from "./pg-copy.js";
import { listTables, quoteIdent } from "./pg-tables.js";

/** Interactions younger than this stay in Postgres (the hot window). */
export const HOT_WINDOW_DAYS = 90;
/** Rows per archive object: an erasure rewrites only the objects holding the user. */
export const ARCHIVE_OBJECT_ROWS = 50_000;
/** Heap blocks per page (2 MB of heap; the page's JSON is about that size too). */
const PAGE_BLOCKS = 256;
/** Months of partitions kept created ahead of time. */
const MONTHS_AHEAD = 3;
/**
 * How long a detach waits for its locks (`SET LOCAL lock_timeout`). DETACH PARTITION needs an
 * ACCESS EXCLUSIVE lock on `interactions`; a long reader (an export's or dataset's REPEATABLE READ
 * cursor, for minutes) holds ACCESS SHARE on it, and every later query on `interactions` (ingest,
 * reviews) queues behind the waiting detach. So the detach gives up after this long: the partition
 * is "busy", kept for the next run, and other queries waited at most this long. Kept below the
 * Postgres call deadline (PG_TIMEOUT_MS, 5 s): past it the call is aborted as a 503, not a 55P03.
 */
export const DETACH_LOCK_TIMEOUT_SECONDS = 3;
const setLockTimeout = { text: `SET LOCAL lock_timeout = '${DETACH_LOCK_TIMEOUT_SECONDS}s'` };
/** Postgres's lock_not_available (lock_timeout expired): the Neon driver's error carries it as `.code`, passed through by the Db port. */
export const isLockTimeout = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === "55P03";

/** `interactions_2026_01` -> `2026-01`, the value of the Hive partition column `month`. */
export function archiveMonth(partition: string): string {
  const m = /^interactions_(\d{4})_(\d{2})$/.exec(partition);
  if (!m) throw new Error(`not a month partition of interactions: ${partition.slice(0, 60)}`);
  return `${m[1]}-${m[2]}`;
}
/** Where a month's Parquet objects go: a Hive-style partition that Athena (partition projection) and DuckDB read as they are. */
export const ARCHIVE_ROOT = "archives/interactions/";
export const archivePrefix = (partition: string) => `${ARCHIVE_ROOT}month=${archiveMonth(partition)}/`;
/** Where NDJSON archives (before Parquet) were written. */
export const legacyArchivePrefix = (partition: string) => `${ARCHIVE_ROOT}${partition}/`;
/**
 * A set's manifest: `_manifest.json` beside Parquet objects (engines skip names starting with `_`
 * when they read a partition's folder), `manifest.json` in an NDJSON set.
 */
export const archiveManifestKey = (prefix: string) => `${prefix}${prefix.includes("/month=") ? "_manifest.json" : "manifest.json"}`;
/** Object `i` of a Parquet set. */
const partKey = (prefix: string, i: number) => `${prefix}part-${String(i).padStart(5, "0")}.parquet`;

export interface ArchiveDeps {
  db: Db;
  reader: CopyDb;
  hasher: UserHasher;
  store: StreamingBlobStore;
  log?: Logger;
  now?: () => Date;
  progress?: (l: string) => void;
  /** Called between a partition's export and its commit (tests: an erasure in between). */
  afterExport?: (partition: string) => Promise<void>;
}

/** Exports of one partition before the job gives up on it (each retry follows a change during the previous export). */
const EXPORT_ATTEMPTS = 3;

export class PartitionChangedError extends Error {
  override name = "PartitionChangedError";
  constructor(partition: string, attempts: number) {
    super(`${partition} changed during each of ${attempts} exports; kept`);
  }
}

/** `interactions_2026_01` -> the first instant after its month. */
function partitionEnd(name: string): Date | null {
  const m = /^interactions_(\d{4})_(\d{2})$/.exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]), 1)) : null;
}

/**
 * The daily archival job: month partitions of `interactions` wholly older than the hot window are
 * exported to S3 (objects + manifest), read back and verified, then detached and dropped in one
 * transaction. Expired quarantine messages are purged and future partitions created.
 */
export async function archiveOldPartitions(deps: ArchiveDeps, hotDays = HOT_WINDOW_DAYS) {
  const now = deps.now?.() ?? new Date();
  const cutoff = new Date(now.getTime() - hotDays * 86_400_000);
  const parts = await deps.db.query<{ name: string }>(
    "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'interactions'::regclass ORDER BY 1",
  );
  const old = parts
    .map((p) => p.name)
    .filter((n) => {
      const end = partitionEnd(n);
      return end !== null && end <= cutoff;
    });
  const archived: { partition: string; rows: number }[] = [];
  const busy: string[] = [];
  let dropped = 0;
  for (const partition of old) {
    try {
      // An empty month (a fresh install's partitions before it had traffic) is dropped, not archived:
      // no empty sets in the bucket.
      if (await dropIfEmpty(deps.db, partition)) {
        dropped++;
        continue;
      }
      archived.push({ partition, rows: await archivePartition(deps, partition, now) });
    } catch (e) {
      // A long reader holds `interactions`: the detach gave up its lock wait (nothing committed).
      if (!isLockTimeout(e)) throw e;
      deps.log?.warn("archive: partition busy (a long reader holds interactions), kept for the next run", { partition });
      busy.push(partition);
    }
  }
  // After the partitions: an erasure that committed while one was archived is rewritten now.
  const erasures = await eraseArchivedUsers(deps);
  const purged = await purgeExpiredQuarantine(deps.db);
  const [created] = await deps.db.query<{ n: number }>(
    "SELECT hitl_ensure_interaction_partitions(date_trunc('month', now())::date, $1) AS n",
    [MONTHS_AHEAD + 1],
  );
  return {
    archived,
    busy,
    empty_partitions_dropped: dropped,
    archive_erasures: erasures.erasures,
    archive_objects_rewritten: erasures.objects,
    purged_quarantine: purged,
    partitions_created: Number(created?.n ?? 0),
  };
}

/**
 * Detaches and drops a partition only if it holds no row, under its exclusive lock (atomic); its
 * lock waits end after DETACH_LOCK_TIMEOUT_SECONDS (a 55P03, nothing done).
 */
async function dropIfEmpty(db: Db, partition: string): Promise<boolean> {
  const q = quoteIdent(partition);
  const results = await db.transaction([
    setLockTimeout,
    {
      text: `DO $$ BEGIN
        LOCK TABLE ${q} IN ACCESS EXCLUSIVE MODE;
        IF NOT EXISTS (SELECT 1 FROM ONLY ${q}) THEN
          ALTER TABLE interactions DETACH PARTITION ${q};
          DROP TABLE ${q};
        END IF;
      END $$`,
    },
    { text: "SELECT to_regclass($1) IS NULL AS dropped", params: [partition] },
  ]);
  return results[2]?.[0]?.dropped === true;
}

/**
 * Archives one partition: exported in one snapshot, read back and checked, then recorded, detached
 * and dropped in one transaction that first runs hitl_archive_guard (migration 0015): with the
 * partition locked, it must hold exactly the rows exported, and no exported user may have been
 * erased since the snapshot. If either changed (an erasure in between), the export starts over, so
 * an erased user's rows never reach an archive through this race; an erasure committed after the
 * guard is rewritten by eraseArchivedUsers, which finds the user in archive_users.
 */
export async function archivePartition(deps: ArchiveDeps, partition: string, now = new Date()): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await exportAndCommit(deps, partition, now);
    } catch (e) {
      if (!(e instanceof Error && e.message.includes("hitl_archive_changed"))) throw e;
      deps.log?.warn("archive: partition changed during its export, exporting it again", { partition, attempt });
      if (attempt >= EXPORT_ATTEMPTS) throw new PartitionChangedError(partition, attempt);
    }
  }
}

async function exportAndCommit(deps: ArchiveDeps, partition: string, now: Date): Promise<number> {
  const prefix = archivePrefix(partition);
  const [info] = (await listTables(deps.db)).filter((t) => t.name === "interactions");
  const table = { ...info!, name: partition };
  const columns = await archiveColumns(deps.db, partition);
  const objects: (ObjectEntry & { users: string[] })[] = [];
  let lastErasure = "0";
  // Heap block ranges in physical order, all in one snapshot: every row exactly once. Each page
  // comes as one JSON array in the typed form the Parquet writer takes (archiveSelectList).
  const pageSql = `SELECT '[' || string_agg(row_to_json(t)::text, ',') || ']' AS body, count(*)::int AS n
    FROM (SELECT ${archiveSelectList(columns)} FROM ONLY ${quoteIdent(partition)} WHERE ctid >= $1::tid AND ctid < $2::tid) t`;
  await deps.reader.session(async (s) => {
    await s.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    try {
      // The newest erasure this snapshot has seen: any later one is checked at the commit.
      const [seen] = await s.query<{ id: string }>("SELECT coalesce(max(id), 0)::text AS id FROM erasures");
      lastErasure = seen?.id ?? "0";
      const blocks = await tableBlocks(s, table);
      let writer: ParquetObjectWriter | null = null;
      let users = new Set<string>();
      const close = async () => {
        if (writer) objects.push({ ...(await writer.close()), users: [...users] });
        writer = null;
        users = new Set();
      };
      for (let from = 0; from < blocks; from += PAGE_BLOCKS) {
        const [page] = await s.query<{ body: string | null; n: number }>(pageSql, [
          `(${from},0)`,
          `(${Math.min(from + PAGE_BLOCKS, blocks)},0)`,
        ]);
        if (!page?.n || !page.body) continue;
        const rows = JSON.parse(page.body) as Record<string, unknown>[];
        for (const r of rows) users.add(deps.hasher.hash(r.user_id as string));
        writer ??= new ParquetObjectWriter(deps.store, partKey(prefix, objects.length), columns);
        await writer.add(rows, page.body.length);
        if (writer.rows >= ARCHIVE_OBJECT_ROWS) await close();
      }
      await close();
    } finally {
      await s.query("COMMIT").catch(() => {});
    }
  });
  const rows = objects.reduce((s, o) => s + o.rows, 0);
  for (const o of objects) await verifyParquetObject(deps.store, o, columns, partition);
  await deps.afterExport?.(partition);
  const manifest = parquetManifest(
    now,
    prefix,
    columns,
    objects.map(({ users: _u, ...o }) => o),
  );
  await deps.store.put(archiveManifestKey(prefix), manifestText(manifest), "application/json");
  // A busy commit (55P03: the lock wait ended) rolled back whole: no catalog row, the partition
  // kept. The objects and manifest just written stay (the Archive job may not delete): the next
  // run writes the same keys (part-NNNNN by position, the manifest's fixed name) and catalogs them.
  await commitArchive(deps.db, partition, prefix, lastErasure, objects, manifest.totals);
  await recordSet(deps.db, manifest, true);
  deps.progress?.(
    `  ${partition}: ${rows} ${rows === 1 ? "row" : "rows"} in ${objects.length} ${objects.length === 1 ? "object" : "objects"}, detached and dropped`,
  );
  return rows;
}

/**
 * The archive's commit, one transaction: the guard (with the partition and `interactions` locked),
 * the catalog rows, the detach and the drop. Its lock waits end after DETACH_LOCK_TIMEOUT_SECONDS.
 */
async function commitArchive(
  db: Db,
  partition: string,
  prefix: string,
  lastErasure: string,
  objects: (ObjectEntry & { users: string[] })[],
  totals: { rows: number; bytes: number },
) {
  const rows = totals.rows;
  const exportedUsers = [...new Set(objects.flatMap((o) => o.users))];
  await db.transaction([
    setLockTimeout,
    {
      text: "SELECT hitl_archive_guard($1::regclass, $2, $3, $4::text[])",
      params: [quoteIdent(partition), rows, lastErasure, exportedUsers],
    },
    {
      text: "INSERT INTO archived_partitions (partition, prefix, rows, bytes, format) VALUES ($1, $2, $3, $4, 'parquet')",
      params: [partition, prefix, rows, totals.bytes],
    },
    ...objects.map((o) => ({
      text: "INSERT INTO archive_objects (key, partition, rows, bytes, sha256) VALUES ($1, $2, $3, $4, $5)",
      params: [o.key, partition, o.rows, o.bytes, o.sha256],
    })),
    ...objects
      .filter((o) => o.users.length)
      .map((o) => ({ text: "INSERT INTO archive_users (user_hash, object_key) SELECT unnest($1::text[]), $2", params: [o.users, o.key] })),
    { text: `ALTER TABLE interactions DETACH PARTITION "${partition}"` },
    { text: `DROP TABLE "${partition}"` },
  ]);
}

/** The manifest of a month's Parquet set (written by the archive job and by `archive convert`). */
function parquetManifest(now: Date, prefix: string, columns: ArchiveColumn[], objects: ObjectEntry[]): Manifest {
  return {
    format: 1,
    kind: "archive",
    id: newSetId(now),
    prefix,
    started_at: now.toISOString(),
    finished_at: new Date().toISOString(),
    row_format: "parquet",
    columns,
    objects,
    totals: { objects: objects.length, bytes: objects.reduce((s, o) => s + o.bytes, 0), rows: objects.reduce((s, o) => s + o.rows, 0) },
  };
}

/** Read-back check of a written Parquet object: the stored bytes hash as written, and every row decodes. */
async function verifyParquetObject(store: StreamingBlobStore, o: ObjectEntry, columns: ArchiveColumn[], partition: string) {
  const body = await store.get(o.key);
  const back = body ? await readParquetObject(body, columns, () => {}) : null;
  if (!back || back.sha256 !== o.sha256 || back.rows !== o.rows || back.bytes !== o.bytes)
    throw new Error(`archive object ${o.key} did not read back intact; ${partition} kept`);
}

/** A month's archive manifest, checked: the Parquet set, else an NDJSON set written before Parquet. */
export async function archiveManifest(store: BlobStore, partition: string): Promise<Manifest> {
  for (const prefix of [archivePrefix(partition), legacyArchivePrefix(partition)]) {
    const raw = await store.get(archiveManifestKey(prefix));
    if (!raw) continue;
    const { manifest, problem } = readManifest(raw);
    if (!manifest || problem) throw new Error(`archive ${partition}: ${problem}`);
    return manifest;
  }
  throw new Error(`no archive for ${partition}`);
}

/** `npm run archive -- read <partition>`: every archived row, in order. */
/**
 * `npm run archive -- read <partition>`: every archived row, in order, as one JSON text line (the
 * row_to_json of the partition: same field names and JSON types), whatever the set's format. A
 * Parquet object is held in memory one at a time (ARCHIVE_OBJECT_ROWS rows at most).
 */
export async function readArchive(
  store: StreamingBlobStore,
  partition: string,
  onRow: (line: string) => unknown,
): Promise<{ rows: number }> {
  const manifest = await archiveManifest(store, partition);
  const each = async (line: string) => {
    await onRow(line);
  };
  let rows = 0;
  for (const o of manifest.objects ?? []) {
    if (manifest.row_format === "parquet") {
      const body = await store.get(o.key);
      if (!body) throw new Error(`archive ${partition}: object ${o.key} is missing`);
      rows += (await readParquetObject(body, manifest.columns as ArchiveColumn[], each)).rows;
    } else rows += (await readNdjson(await store.read(o.key), each)).rows;
  }
  return { rows };
}

/** How many archived objects hold `userHash` (an erasure's answer: the Archive job rewrites them). */
export async function archivedObjectsOf(db: Db, userHash: string): Promise<number> {
  const [row] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM archive_users WHERE user_hash = $1", [userHash]);
  return Number(row?.n ?? 0);
}

/**
 * The GDPR part of the Archive job (the API may not write archives/): every erasure whose archive
 * part is pending (erasures.archives_erased_at, set by nothing else) has the archived objects that
 * hold its user rewritten without the user's rows, found by archive_users and matched by the
 * keyed hash of each row's user_id (the log keeps no id). An erasure is marked done only in a
 * statement that sees no archived object still listing its user: an archive committed meanwhile
 * leaves it pending for the next pass. Safe to repeat: a rewritten object holds no row to drop.
 */
export async function eraseArchivedUsers(
  deps: { db: Db; store: StreamingBlobStore; hasher: UserHasher },
  limit = 1000,
): Promise<{ erasures: number; objects: number }> {
  const pending = await deps.db.query<{ id: string; user_hash: string }>(
    "SELECT id::text AS id, user_hash FROM erasures WHERE archives_erased_at IS NULL ORDER BY id LIMIT $1",
    [limit],
  );
  let erasures = 0;
  let objects = 0;
  for (const e of pending) {
    const targets = await deps.db.query<{ key: string; partition: string; prefix: string }>(
      `SELECT o.key, o.partition, p.prefix FROM archive_users u
      JOIN archive_objects o ON o.key = u.object_key JOIN archived_partitions p ON p.partition = o.partition WHERE u.user_hash = $1`,
      [e.user_hash],
    );
    for (const t of targets) {
      await rewriteWithout(deps, t, e.user_hash);
      objects++;
    }
    const [done] = await deps.db.query<{ id: string }>(
      `UPDATE erasures SET archives_erased_at = now()
      WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM archive_users WHERE user_hash = $2) RETURNING id`,
      [e.id, e.user_hash],
    );
    if (done) erasures++;
  }
  return { erasures, objects };
}

/** One archived object rewritten without the rows of the user whose keyed hash is `hash`, with its manifest entry and index. */
async function rewriteWithout(
  deps: { db: Db; store: StreamingBlobStore; hasher: UserHasher },
  t: { key: string; partition: string; prefix: string },
  hash: string,
): Promise<void> {
  const body = await deps.store.get(t.key);
  if (body) {
    const manifestKey = archiveManifestKey(t.prefix);
    const { manifest, problem } = readManifest((await deps.store.get(manifestKey)) ?? "");
    if (!manifest || problem) throw new Error(`archive ${t.partition}: ${problem}`);
    const written =
      manifest.row_format === "parquet"
        ? await rewriteParquet(deps, t.key, body, manifest.columns as ArchiveColumn[], hash)
        : await rewriteNdjson(deps, t.key, body, hash);
    for (const o of manifest.objects ?? []) if (o.key === t.key) Object.assign(o, written);
    manifest.totals = {
      objects: manifest.objects!.length,
      bytes: manifest.objects!.reduce((s, o) => s + o.bytes, 0),
      rows: manifest.objects!.reduce((s, o) => s + o.rows, 0),
    };
    await deps.store.put(manifestKey, manifestText(manifest), "application/json");
    await deps.db.transaction([
      {
        text: "UPDATE archive_objects SET rows = $2, bytes = $3, sha256 = $4 WHERE key = $1",
        params: [t.key, written.rows, written.bytes, written.sha256],
      },
      {
        text: "UPDATE archived_partitions SET rows = (SELECT sum(rows) FROM archive_objects WHERE partition = $1), bytes = (SELECT sum(bytes) FROM archive_objects WHERE partition = $1) WHERE partition = $1",
        params: [t.partition],
      },
    ]);
  }
  await deps.db.query("DELETE FROM archive_users WHERE user_hash = $1 AND object_key = $2", [hash, t.key]);
}

/** A Parquet object written again, in place, without the user's rows (streamed row group by row group), then read back. */
async function rewriteParquet(
  deps: { store: StreamingBlobStore; hasher: UserHasher },
  key: string,
  body: Buffer,
  columns: ArchiveColumn[],
  hash: string,
): Promise<ObjectEntry> {
  const writer = new ParquetObjectWriter(deps.store, key, columns);
  await readParquetObject(body, columns, async (line, raw) => {
    if (deps.hasher.hash(raw.user_id as string) !== hash) await writer.add([raw], line.length);
  });
  const written = await writer.close();
  await verifyParquetObject(deps.store, written, columns, key);
  return written;
}

/** An NDJSON object (an archive from before Parquet) written again without the user's rows. */
async function rewriteNdjson(
  deps: { store: BlobStore; hasher: UserHasher },
  key: string,
  body: Buffer,
  hash: string,
): Promise<ObjectEntry> {
  const kept = gunzipSync(body)
    .toString("utf8")
    .split("\n")
    .filter((l) => l && deps.hasher.hash((JSON.parse(l) as { user_id: string }).user_id) !== hash);
  const out = gzipSync(kept.length ? kept.join("\n") + "\n" : "");
  await deps.store.put(key, out, "application/x-ndjson+gzip");
  return { key, rows: kept.length, bytes: out.length, sha256: createHash("sha256").update(out).digest("hex") };
}

export class ArchiveBusyError extends Error {
  override name = "ArchiveBusyError";
  constructor() {
    super("the archive job is running (it holds the archive lease); convert again when it is done");
  }
}

/**
 * `npm run archive -- convert`: the one-off conversion of NDJSON archives (written before Parquet)
 * to Parquet sets. Each month's objects are rewritten one to one (so archive_users keeps its
 * object-level index), each Parquet object read back and compared line by line (a hash of the
 * lines) with the NDJSON rows it came from; then, in one transaction that first checks the NDJSON
 * objects are still the ones read (hitl_archive_objects_unchanged, migration 0080), the catalog
 * swaps to the new objects; the NDJSON set is deleted last. Runs under the archive job's lease, so
 * no erasure rewrite runs meanwhile. Safe to repeat: a month already converted is not listed, and a
 * conversion cut short leaves the NDJSON set in force (the next run writes the Parquet set again).
 */
export async function convertLegacyArchives(deps: {
  db: Db;
  store: StreamingBlobStore;
  now?: () => Date;
  progress?: (l: string) => void;
}): Promise<{ converted: { partition: string; rows: number; ndjson_bytes: number; parquet_bytes: number }[] }> {
  const holder = `convert-${randomUUID()}`;
  if (!(await acquireLease(deps.db, "archive", holder))) throw new ArchiveBusyError();
  const converted = [];
  try {
    const legacy = await deps.db.query<{ partition: string; prefix: string }>(
      "SELECT partition, prefix FROM archived_partitions WHERE format = 'ndjson' ORDER BY partition",
    );
    const columns = await archiveColumns(deps.db, "interactions");
    for (const { partition, prefix } of legacy) {
      converted.push(await convertOne(deps, partition, prefix, columns));
      if (!(await renewLease(deps.db, "archive", holder))) throw new ArchiveBusyError();
    }
    // A conversion interrupted after its commit left NDJSON objects behind: deleted now.
    const done = await deps.db.query<{ partition: string }>("SELECT partition FROM archived_partitions WHERE format = 'parquet'");
    for (const { partition } of done) {
      const left = await deps.store.list(legacyArchivePrefix(partition));
      if (left.length) await deps.store.delete(left.map((o) => o.key));
    }
  } finally {
    await releaseLease(deps.db, "archive", holder).catch(() => {});
  }
  return { converted };
}

async function convertOne(
  deps: { db: Db; store: StreamingBlobStore; now?: () => Date; progress?: (l: string) => void },
  partition: string,
  oldPrefix: string,
  columns: ArchiveColumn[],
) {
  const now = deps.now?.() ?? new Date();
  const oldManifestKey = archiveManifestKey(oldPrefix);
  const { manifest: old, problem } = readManifest((await deps.store.get(oldManifestKey)) ?? "");
  if (!old || problem) throw new Error(`archive ${partition}: ${problem ?? "no manifest"}`);
  const prefix = archivePrefix(partition);
  const state = { committed: false };
  try {
    return await convertObjects(deps, partition, old, oldManifestKey, prefix, columns, state, now);
  } catch (e) {
    // Before its commit, nothing of a failed conversion stays where Athena would read it (the
    // NDJSON set stays in force). A process killed there leaves them: `convert` again rewrites
    // them from the NDJSON set.
    // The catalog decides (a commit whose answer was lost counts as committed).
    const [catalog] = state.committed
      ? [{ format: "parquet" }]
      : await deps.db
          .query<{ format: string }>("SELECT format FROM archived_partitions WHERE partition = $1", [partition])
          .catch(() => [{ format: "unknown" }]);
    if (catalog?.format === "ndjson") {
      const written = (await deps.store.list(prefix)).map((o) => o.key);
      if (written.length) await deps.store.delete(written).catch(() => {});
    }
    throw e;
  }
}

async function convertObjects(
  deps: { db: Db; store: StreamingBlobStore; progress?: (l: string) => void },
  partition: string,
  old: Manifest,
  oldManifestKey: string,
  prefix: string,
  columns: ArchiveColumn[],
  state: { committed: boolean },
  now: Date,
) {
  const objects: ObjectEntry[] = [];
  for (const [i, o] of (old.objects ?? []).entries()) {
    const writer = new ParquetObjectWriter(deps.store, partKey(prefix, i), columns);
    const expected = createHash("sha256");
    let batch: Record<string, unknown>[] = [];
    let batchBytes = 0;
    const read = await readNdjson(await deps.store.read(o.key), async (line) => {
      const row = selectFormOfLegacyRow(columns, JSON.parse(line) as Record<string, unknown>);
      expected.update(lineOf(columns, row) + "\n");
      batch.push(row);
      batchBytes += line.length;
      if (batch.length >= 1000) {
        await writer.add(batch, batchBytes);
        batch = [];
        batchBytes = 0;
      }
    });
    await writer.add(batch, batchBytes);
    const written = await writer.close();
    if (read.sha256 !== o.sha256 || read.rows !== o.rows)
      throw new Error(`archive object ${o.key} does not match its manifest; ${partition} not converted`);
    const got = createHash("sha256");
    const body = await deps.store.get(written.key);
    const back = body ? await readParquetObject(body, columns, (line) => void got.update(line + "\n")) : null;
    if (!back || back.sha256 !== written.sha256 || back.rows !== o.rows || got.digest("hex") !== expected.digest("hex"))
      throw new Error(`converted object ${written.key} did not read back as ${o.key}; ${partition} not converted`);
    objects.push(written);
  }
  const rows = objects.reduce((s, o) => s + o.rows, 0);
  const manifest = parquetManifest(now, prefix, columns, objects);
  await deps.store.put(archiveManifestKey(prefix), manifestText(manifest), "application/json");
  const oldKeys = (old.objects ?? []).map((o) => o.key);
  await deps.db.transaction([
    {
      text: "SELECT hitl_archive_objects_unchanged($1, $2::text[], $3::text[])",
      params: [partition, oldKeys, (old.objects ?? []).map((o) => o.sha256)],
    },
    ...objects.map((o) => ({
      text: "INSERT INTO archive_objects (key, partition, rows, bytes, sha256) VALUES ($1, $2, $3, $4, $5)",
      params: [o.key, partition, o.rows, o.bytes, o.sha256],
    })),
    {
      text: "UPDATE archive_users u SET object_key = m.new FROM unnest($1::text[], $2::text[]) AS m(old, new) WHERE u.object_key = m.old",
      params: [oldKeys, objects.map((o) => o.key)],
    },
    { text: "DELETE FROM archive_objects WHERE key = ANY($1::text[])", params: [oldKeys] },
    {
      text: "UPDATE archived_partitions SET prefix = $2, format = 'parquet', rows = $3, bytes = $4 WHERE partition = $1",
      params: [partition, prefix, rows, manifest.totals.bytes],
    },
  ]);
  state.committed = true;
  await recordSet(deps.db, manifest, true);
  await deps.store.delete([...oldKeys, oldManifestKey]);
  const ndjsonBytes = (old.objects ?? []).reduce((s, o) => s + o.bytes, 0);
  deps.progress?.(
    `  ${partition}: ${rows} ${rows === 1 ? "row" : "rows"} converted (${ndjsonBytes} B of NDJSON.gz -> ${manifest.totals.bytes} B of Parquet)`,
  );
  return { partition, rows, ndjson_bytes: ndjsonBytes, parquet_bytes: manifest.totals.bytes };
}
