import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Db } from "../db/db.js";
import type { CopyDb } from "../db/pool-db.js";
import { findMigrationsDir } from "../db/migrate.js";
import type { Logger } from "../log.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import { recordSet } from "./catalog.js";
import { BACKUP_ROOT, newSetId, setPrefix, type Manifest, type ObjectEntry, type TableEntry } from "./manifest.js";
import { GzipObjectWriter } from "./gzip-object.js";
import { copyPage } from "./pg-copy.js";
import { listTables, type TableInfo } from "./pg-tables.js";
import { verifySet } from "./verify.js";
import { createHash } from "node:crypto";

/**
 * Bytes of COPY text per page. The driver's WebSocket has no flow control, so a page arrives in
 * full whatever the consumer's pace: this bounds the memory a page can take. Page row counts adapt
 * to the rows' size.
 */
export const PAGE_BYTES = 8 << 20;
/** Row size assumed for a table's first page (pessimistic: the page grows once rows are seen). */
const FIRST_ROW_BYTES = 8 << 10;
/** Tables (partitions) exported at once. */
export const BACKUP_CONCURRENCY = 2;
/** Rows per data object: a resumed backup restarts at most one object's worth of work. */
export const OBJECT_ROWS = 250_000;
/** An unfinished set older than this is abandoned (pruned), not resumed. */
const RESUME_WINDOW_MS = 24 * 3600_000;

interface TableState extends TableEntry { done: boolean; after: string[] | null }
interface State { id: string; started_at: string; schema_version: string; schema_objects: ObjectEntry[]; tables: TableState[] }

export interface BackupDeps {
  db: Db;
  /** Where pages are read from with COPY: a WebSocket `PoolDb`. */
  reader: CopyDb;
  store: StreamingBlobStore; log?: Logger; now?: () => Date; migrationsDir?: string; progress?: (line: string) => void;
}
export interface BackupOptions {
  /** Stop between objects once this returns true (Lambda: remaining time low); state is saved. */
  shouldStop?: () => boolean;
  /** Called after each table completes (tests use it to simulate a crash). */
  afterTable?: (name: string) => void | Promise<void>;
  /** Read every object back and check it before recording the set verified. @default true */
  verify?: boolean;
  /** Tuning (tests use small values to cross page and object boundaries). */
  pageBytes?: number;
  objectRows?: number;
}
export type BackupOutcome = { status: "complete"; manifest: Manifest; verified: boolean } | { status: "incomplete"; id: string; tables_done: number };

const stateKey = (id: string) => setPrefix("postgres", id) + "state.json";

/**
 * A logical Postgres backup to S3: schema (the migration files) and every table, streamed page by
 * page (keyset on the primary key, each page one COPY over the driver's WebSocket) through gzip
 * into multipart uploads. Progress is checkpointed after every object, so a run cut short (the 15-minute
 * Lambda limit, a crash) is resumed by the next invocation. The manifest is written last.
 */
export async function backupPostgres(deps: BackupDeps, opts: BackupOptions = {}): Promise<BackupOutcome> {
  const now = deps.now ?? (() => new Date());
  const say = deps.progress ?? (() => {});
  const state = (await resumable(deps, now())) ?? (await start(deps, now()));
  const prefix = setPrefix("postgres", state.id);
  say(`postgres backup ${state.id}: ${state.tables.filter((t) => t.done).length}/${state.tables.length} tables done`);
  const tables = new Map((await listTables(deps.db, { leaves: true })).map((t) => [t.name, t]));
  const queue = state.tables.filter((t) => !t.done);
  let stopped = false;
  // Checkpoints are written one at a time, each with the whole state as it is then: the last
  // one stored is always the newest (two workers must not race on one object).
  let saving = Promise.resolve();
  const checkpoint = () => (saving = saving.then(() => deps.store.put(stateKey(state.id), JSON.stringify(state), "application/json")));
  const worker = async () => {
    for (let ts = queue.shift(); ts && !stopped; ts = queue.shift()) {
      const current = tables.get(ts.name);
      if (!current) throw new Error(`table ${ts.name} disappeared during the backup`);
      // Every object of a table holds the columns the set started with.
      const info = { ...current, columns: ts.columns ?? current.columns };
      while (!ts.done) {
        if (stopped || opts.shouldStop?.()) { stopped = true; return; }
        await exportObject(deps.reader, deps.store, info, ts, `${prefix}data/${ts.name}/${String(ts.objects.length).padStart(5, "0")}.copy.gz`, opts);
        await checkpoint();
      }
      say(`  ${ts.name}: ${ts.rows} rows in ${ts.objects.length} object(s)`);
      await opts.afterTable?.(ts.name);
    }
  };
  // allSettled: a failing worker must not leave the other writing after this call has returned.
  const outcomes = await Promise.allSettled(Array.from({ length: BACKUP_CONCURRENCY }, () => worker().catch((e) => { stopped = true; throw e; })));
  const failed = outcomes.find((o) => o.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  if (stopped) return { status: "incomplete", id: state.id, tables_done: state.tables.filter((t) => t.done).length };
  const manifest = await finish(deps, state, now());
  const verified = opts.verify === false ? false : (await verifySet(deps.store, "postgres", state.id)).ok;
  await recordSet(deps.db, manifest, verified);
  say(`postgres backup ${state.id}: ${manifest.totals.rows} rows, ${manifest.totals.objects} objects, ${(manifest.totals.bytes / 1e6).toFixed(1)} MB, verified ${verified}`);
  return { status: "complete", manifest, verified };
}

/**
 * One data object: COPY pages in key order, each started as soon as the previous one has arrived
 * (gzip compresses on the thread pool meanwhile) unless more than two pages still wait for it.
 */
async function exportObject(reader: CopyDb, store: StreamingBlobStore, info: TableInfo, ts: TableState, key: string, opts: BackupOptions): Promise<void> {
  const pageBytes = opts.pageBytes ?? PAGE_BYTES;
  const objectRows = opts.objectRows ?? OBJECT_ROWS;
  // Opened on the first row: a table (or its tail) with no rows left gets no object.
  let writer: GzipObjectWriter | null = null;
  let rows = 0;
  let after = ts.after;
  let limit = Math.max(1, Math.floor(pageBytes / FIRST_ROW_BYTES));
  for (;;) {
    const want = Math.min(limit, objectRows - rows);
    let bytes = 0;
    const page = await copyPage(reader, info, after, want, (chunk) => { bytes += chunk.length; (writer ??= new GzipObjectWriter(store, key, "application/gzip")).push(chunk); });
    rows += page.rows;
    if (page.last) after = page.last;
    if (page.rows < want) { ts.done = true; break; }
    if (rows >= objectRows) break;
    limit = Math.max(1, Math.min(100_000, Math.floor(pageBytes / (bytes / page.rows))));
    await writer!.settle(2 * pageBytes);
  }
  ts.after = after;
  if (!writer) return;
  const w = writer as GzipObjectWriter;
  w.rows = rows;
  const entry = await w.close();
  ts.objects.push(entry);
  ts.rows += entry.rows;
}

async function start(deps: BackupDeps, now: Date): Promise<State> {
  const id = newSetId(now);
  const prefix = setPrefix("postgres", id);
  const dir = deps.migrationsDir ?? findMigrationsDir();
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const schema_objects: ObjectEntry[] = [];
  for (const f of files) {
    const body = await readFile(path.join(dir, f));
    const key = `${prefix}schema/${f}`;
    await deps.store.put(key, body, "application/sql");
    schema_objects.push({ key, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex"), rows: 0 });
  }
  const [v] = await deps.db.query<{ version: string }>("SELECT max(version) AS version FROM schema_migrations");
  const tables = (await listTables(deps.db, { leaves: true })).map((t) => ({
    name: t.name, ...(t.parent ? { parent: t.parent } : {}), primary_key: t.key.map((k) => k.column), columns: t.columns, rows: 0, objects: [], done: false, after: null,
  }));
  const state: State = { id, started_at: now.toISOString(), schema_version: v?.version ?? "", schema_objects, tables };
  await deps.store.put(stateKey(id), JSON.stringify(state), "application/json");
  await recordSet(deps.db, { kind: "postgres", id, prefix, started_at: state.started_at });
  return state;
}

/** The newest set with a checkpoint and no manifest, if it is recent enough to resume. */
async function resumable(deps: BackupDeps, now: Date): Promise<State | null> {
  const objects = await deps.store.list(`${BACKUP_ROOT}/postgres/`);
  const byId = new Map<string, Set<string>>();
  for (const o of objects) {
    const [, , id, file] = o.key.split("/");
    if (!id || !file) continue;
    byId.set(id, (byId.get(id) ?? new Set()).add(file));
  }
  const open = [...byId.entries()].filter(([, files]) => files.has("state.json") && !files.has("manifest.json")).map(([id]) => id).sort().reverse();
  for (const id of open) {
    const raw = await deps.store.get(stateKey(id));
    if (!raw) continue;
    const state = JSON.parse(raw.toString()) as State;
    if (now.getTime() - Date.parse(state.started_at) < RESUME_WINDOW_MS) return state;
  }
  return null;
}

async function finish(deps: BackupDeps, state: State, now: Date): Promise<Manifest> {
  const tables: TableEntry[] = state.tables.map(({ name, parent, primary_key, columns, rows, objects }) => ({ name, ...(parent ? { parent } : {}), primary_key, columns, rows, objects }));
  const [months] = await deps.db.query<{ m: string[] | null }>(
    "SELECT array_agg(DISTINCT to_char(created_at AT TIME ZONE 'UTC', 'YYYY_MM')) AS m FROM interactions");
  const all = [...state.schema_objects, ...tables.flatMap((t) => t.objects)];
  const manifest: Manifest = {
    format: 1, kind: "postgres", id: state.id, prefix: setPrefix("postgres", state.id), started_at: state.started_at, finished_at: now.toISOString(),
    schema_version: state.schema_version, schema_objects: state.schema_objects, tables, row_format: "copy", partitions: months?.m ?? [],
    totals: { objects: all.length, bytes: all.reduce((s, o) => s + o.bytes, 0), rows: tables.reduce((s, t) => s + t.rows, 0) },
  };
  await deps.store.put(`${manifest.prefix}manifest.json`, JSON.stringify(manifest, null, 2), "application/json");
  // The checkpoint has served its purpose: the manifest is the set's record now.
  await deps.store.delete([stateKey(state.id)]);
  return manifest;
}
