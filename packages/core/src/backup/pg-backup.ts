import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Db } from "../db/db.js";
import type { CopyDb, CopySession } from "../db/pool-db.js";
import { findMigrationsDir } from "../db/migrate.js";
import type { Logger } from "../log.js";
import type { StreamingBlobStore } from "../storage/blob.js";
import { recordSet } from "./catalog.js";
import { BACKUP_ROOT, manifestText, newSetId, setPrefix, type Manifest, type ObjectEntry, type TableEntry } from "./manifest.js";
import { GzipObjectWriter } from "./gzip-object.js";
import { copyBlocks, copyKeyPage, tableBlocks } from "./pg-copy.js";
import { listTables, type TableInfo } from "./pg-tables.js";
import { verifySet } from "./verify.js";
import { createHash } from "node:crypto";

/**
 * Bytes per page (one COPY). The driver's WebSocket has no flow control, so a page arrives in full
 * whatever the consumer's pace: this bounds the memory a page takes.
 */
export const PAGE_BYTES = 8 << 20;
/** Postgres's heap block size (Neon's too): block-range pages hold PAGE_BYTES of heap. */
const BLOCK_BYTES = 8192;
/** Row size assumed for a key-mode table's first page (pessimistic: pages grow once rows are seen). */
const FIRST_ROW_BYTES = 8 << 10;
/** Tables (partitions) exported at once. */
export const BACKUP_CONCURRENCY = 2;
/** Rows per data object: the unit of checkpoints (and of resumption in key mode). */
export const OBJECT_ROWS = 250_000;
/** An unfinished set older than this is abandoned (pruned), not resumed. */
const RESUME_WINDOW_MS = 24 * 3600_000;

/**
 * How a table is read. `blocks`: heap block ranges in physical order, all in the run's snapshot
 * (fast, consistent). A run that stops inside such a table cannot continue it from another
 * snapshot: the next run starts it over, first in its queue. Cut short twice, it is too big for
 * one run and starts over in `key` mode: keyset pages on the primary key, resumable from any run.
 */
type ReadMode = "blocks" | "key";
interface TableState extends TableEntry {
  done: boolean;
  after: string[] | null;
  mode?: ReadMode;
  cut?: number;
}
interface State {
  id: string;
  started_at: string;
  schema_version: string;
  schema_objects: ObjectEntry[];
  tables: TableState[];
}

export interface BackupDeps {
  db: Db;
  /** Where tables are read with COPY: a WebSocket `PoolDb` with a session per worker (BACKUP_CONCURRENCY). */
  reader: CopyDb;
  store: StreamingBlobStore;
  log?: Logger;
  now?: () => Date;
  migrationsDir?: string;
  progress?: (line: string) => void;
}
export interface BackupOptions {
  /** Stop between objects once this returns true (Lambda: remaining time low); state is saved. */
  shouldStop?: () => boolean;
  /** Called after each table completes / each object is checkpointed (tests simulate crashes). */
  afterTable?: (name: string) => void | Promise<void>;
  afterObject?: (table: string) => void | Promise<void>;
  /** Read every object back and check it before recording the set verified. @default true */
  verify?: boolean;
  /** Tuning (tests use small values to cross page and object boundaries). */
  pageBytes?: number;
  objectRows?: number;
}
export type BackupOutcome =
  | { status: "complete"; manifest: Manifest; verified: boolean }
  | { status: "incomplete"; id: string; tables_done: number };

const stateKey = (id: string) => setPrefix("postgres", id) + "state.json";
/** pg_export_snapshot() ids look like 00000003-0000001B-1; SET TRANSACTION SNAPSHOT takes a literal only. */
const SNAPSHOT_ID = /^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/;

/**
 * A logical Postgres backup to S3: schema (the migration files) and every table as COPY text over
 * the driver's WebSocket, through gzip into multipart uploads. One snapshot, exported by the first
 * worker and imported by the others, makes a run consistent across tables, as pg_dump's is.
 * Progress is checkpointed after every object, so a run cut short (the 15-minute Lambda limit, a
 * crash) is resumed by the next invocation. The manifest is written last.
 */
export async function backupPostgres(deps: BackupDeps, opts: BackupOptions = {}): Promise<BackupOutcome> {
  const now = deps.now ?? (() => new Date());
  const say = deps.progress ?? (() => {});
  const listed = await listTables(deps.db, { leaves: true });
  const state = (await resumable(deps, now())) ?? (await start(deps, listed, now()));
  const prefix = setPrefix("postgres", state.id);
  say(`postgres backup ${state.id}: ${state.tables.filter((t) => t.done).length}/${state.tables.length} tables done`);
  const tables = new Map(listed.map((t) => [t.name, t]));
  const queue = state.tables.filter((t) => !t.done);
  for (const ts of queue) {
    if (ts.mode === "key" || !ts.objects.length) continue;
    await deps.store.delete(ts.objects.map((o) => o.key));
    const cut = (ts.cut ?? 0) + 1;
    Object.assign(ts, { cut, mode: cut >= 2 ? "key" : "blocks", objects: [], rows: 0, after: null });
  }
  // Tables cut short first (a whole run for them), then largest first: the workers finish
  // together rather than one waiting on the last big table.
  queue.sort((a, b) => (b.cut ?? 0) - (a.cut ?? 0) || (tables.get(b.name)?.bytes ?? 0) - (tables.get(a.name)?.bytes ?? 0));
  let stopped = false;
  // A run always writes at least one object before it honours shouldStop: however short the
  // time, every run moves the set forward, and a chain of runs completes it.
  let progressed = false;
  const stop = () => (stopped ||= progressed && (opts.shouldStop?.() ?? false));
  // Checkpoints are written one at a time, each with the whole state as it is then: the last
  // one stored is always the newest (two workers must not race on one object).
  let saving = Promise.resolve();
  const checkpoint = () =>
    (saving = saving
      .then(() => deps.store.put(stateKey(state.id), JSON.stringify(state), "application/json"))
      .then(() => {
        progressed = true;
      }));
  // The first worker exports its snapshot and the others import it: one view of the database for
  // the whole run. The exporter keeps its transaction open until every other worker has imported.
  let shareSnapshot!: (id: string) => void;
  let noSnapshot!: (e: unknown) => void;
  const snapshot = new Promise<string>((res, rej) => {
    shareSnapshot = res;
    noSnapshot = rej;
  });
  snapshot.catch(() => {});
  // One settles when worker n has imported the snapshot or will never (failed, or stopped first).
  const settled = Array.from({ length: BACKUP_CONCURRENCY }, () => {
    let done!: () => void;
    return { promise: new Promise<void>((r) => (done = r)), done };
  });
  const worker = (n: number) =>
    deps.reader.session(async (s) => {
      await s.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      try {
        if (n === 0) {
          try {
            const [row] = await s.query<{ id: string }>("SELECT pg_export_snapshot() AS id");
            if (!row || !SNAPSHOT_ID.test(row.id)) throw new Error(`unexpected snapshot id ${row?.id}`);
            shareSnapshot(row.id);
          } catch (e) {
            noSnapshot(e);
            throw e;
          }
        } else {
          await s.query(`SET TRANSACTION SNAPSHOT '${await snapshot}'`);
          settled[n]!.done();
        }
        for (let ts = queue.shift(); ts && !stop(); ts = queue.shift()) {
          const current = tables.get(ts.name);
          if (!current) throw new Error(`table ${ts.name} disappeared during the backup`);
          // Every object of a table holds the columns the set started with.
          const info = { ...current, columns: ts.columns ?? current.columns };
          const out = new TableObjects(deps.store, `${prefix}data/${ts.name}/`, ts, opts, checkpoint);
          await (ts.mode === "key" ? exportByKey(s, info, out, stop) : exportByBlocks(s, info, out, stop));
          if (!ts.done) break;
          say(
            `  ${state.tables.filter((t) => t.done).length}/${state.tables.length} tables: ${ts.name}, ${ts.rows} rows in ${ts.objects.length} object(s)${ts.mode === "key" ? " (by key)" : ""}`,
          );
          await opts.afterTable?.(ts.name);
        }
        if (n === 0) await Promise.all(settled.slice(1).map((x) => x.promise));
      } finally {
        // Read-only: a failed COMMIT (a broken session) loses nothing and must not hide the cause.
        await s.query("COMMIT").catch(() => {});
      }
    });
  // allSettled: a failing worker must not leave another writing after this call has returned.
  const outcomes = await Promise.allSettled(
    Array.from({ length: BACKUP_CONCURRENCY }, (_, n) =>
      worker(n)
        .catch((e) => {
          stopped = true;
          throw e;
        })
        .finally(() => settled[n]!.done()),
    ),
  );
  const failed = outcomes.find((o) => o.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  if (state.tables.some((t) => !t.done)) {
    await checkpoint();
    return { status: "incomplete", id: state.id, tables_done: state.tables.filter((t) => t.done).length };
  }
  const manifest = await finish(deps, state, now());
  const verified = opts.verify === false ? false : (await verifySet(deps.store, "postgres", state.id)).ok;
  await recordSet(deps.db, manifest, verified);
  say(
    `postgres backup ${state.id}: ${manifest.totals.rows} rows, ${manifest.totals.objects} objects, ${(manifest.totals.bytes / 1e6).toFixed(1)} MB, verified ${verified}`,
  );
  return { status: "complete", manifest, verified };
}

/**
 * A table's data objects: pages are pushed into the open object (opened on the first row, so an
 * empty table or tail gets none); every OBJECT_ROWS rows it is closed, recorded and checkpointed.
 */
class TableObjects {
  private writer: GzipObjectWriter | null = null;
  private rows = 0;
  readonly pageBytes: number;
  private readonly objectRows: number;

  constructor(
    private readonly store: StreamingBlobStore,
    private readonly dir: string,
    readonly ts: TableState,
    private readonly opts: BackupOptions,
    private readonly checkpoint: () => Promise<void>,
  ) {
    this.pageBytes = opts.pageBytes ?? PAGE_BYTES;
    this.objectRows = opts.objectRows ?? OBJECT_ROWS;
  }

  /** Rows the open object may still take. */
  get room(): number {
    return this.objectRows - this.rows;
  }

  push(chunk: Buffer): void {
    (this.writer ??= new GzipObjectWriter(
      this.store,
      `${this.dir}${String(this.ts.objects.length).padStart(5, "0")}.copy.gz`,
      "application/gzip",
    )).push(chunk);
  }

  /** After a page of `rows`: closes a full object, else waits while over a page waits for gzip. */
  async page(rows: number): Promise<boolean> {
    this.rows += rows;
    if (this.rows >= this.objectRows) {
      await this.close();
      return true;
    }
    await this.writer?.settle(this.pageBytes);
    return false;
  }

  async close(): Promise<void> {
    const w = this.writer;
    if (w) {
      w.rows = this.rows;
      const entry = await w.close();
      this.ts.objects.push(entry);
      this.ts.rows += entry.rows;
    }
    this.writer = null;
    this.rows = 0;
    await this.checkpoint();
    if (w) await this.opts.afterObject?.(this.ts.name);
  }
}

/** The whole table in heap block ranges, in the worker's snapshot. */
async function exportByBlocks(s: CopySession, info: TableInfo, out: TableObjects, stop: () => boolean): Promise<void> {
  const blocks = await tableBlocks(s, info);
  const step = Math.max(1, Math.floor(out.pageBytes / BLOCK_BYTES));
  for (let from = 0; from < blocks; from += step) {
    const rows = await copyBlocks(s, info, from, Math.min(from + step, blocks), (chunk) => out.push(chunk));
    if ((await out.page(rows)) && from + step < blocks && stop()) return;
  }
  out.ts.done = true;
  await out.close();
}

/** Keyset pages from the table's cursor, sized by the bytes rows have taken so far. */
async function exportByKey(s: CopySession, info: TableInfo, out: TableObjects, stop: () => boolean): Promise<void> {
  const ts = out.ts;
  let limit = Math.max(1, Math.floor(out.pageBytes / FIRST_ROW_BYTES));
  for (;;) {
    const want = Math.min(limit, out.room);
    let bytes = 0;
    const page = await copyKeyPage(s, info, ts.after, want, (chunk) => {
      bytes += chunk.length;
      out.push(chunk);
    });
    if (page.last) ts.after = page.last;
    const closed = await out.page(page.rows);
    if (page.rows < want) break;
    limit = Math.max(1, Math.min(100_000, Math.floor(out.pageBytes / (bytes / page.rows))));
    if (closed && stop()) return;
  }
  ts.done = true;
  await out.close();
}

async function start(deps: BackupDeps, listed: TableInfo[], now: Date): Promise<State> {
  const id = newSetId(now);
  const prefix = setPrefix("postgres", id);
  const dir = deps.migrationsDir ?? findMigrationsDir();
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const schema_objects: ObjectEntry[] = await Promise.all(
    files.map(async (f) => {
      const body = await readFile(path.join(dir, f));
      const key = `${prefix}schema/${f}`;
      await deps.store.put(key, body, "application/sql");
      return { key, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex"), rows: 0 };
    }),
  );
  const [v] = await deps.db.query<{ version: string }>("SELECT max(version) AS version FROM schema_migrations");
  const tables = listed.map((t) => ({
    name: t.name,
    ...(t.parent ? { parent: t.parent } : {}),
    primary_key: t.key.map((k) => k.column),
    columns: t.columns,
    rows: 0,
    objects: [],
    done: false,
    after: null,
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
  const open = [...byId.entries()]
    .filter(([, files]) => files.has("state.json") && !files.has("manifest.json"))
    .map(([id]) => id)
    .sort()
    .reverse();
  for (const id of open) {
    const raw = await deps.store.get(stateKey(id));
    if (!raw) continue;
    const state = JSON.parse(raw.toString()) as State;
    if (now.getTime() - Date.parse(state.started_at) < RESUME_WINDOW_MS) return state;
  }
  return null;
}

async function finish(deps: BackupDeps, state: State, now: Date): Promise<Manifest> {
  const tables: TableEntry[] = state.tables.map(({ name, parent, primary_key, columns, rows, objects }) => ({
    name,
    ...(parent ? { parent } : {}),
    primary_key,
    columns,
    rows,
    objects,
  }));
  // The months restore must create: the interaction partitions that hold rows (named by month).
  const months = tables
    .filter((t) => t.parent === "interactions" && t.rows > 0)
    .map((t) => /_(\d{4}_\d{2})$/.exec(t.name)?.[1])
    .filter((m): m is string => !!m);
  const all = [...state.schema_objects, ...tables.flatMap((t) => t.objects)];
  const manifest: Manifest = {
    format: 1,
    kind: "postgres",
    id: state.id,
    prefix: setPrefix("postgres", state.id),
    started_at: state.started_at,
    finished_at: now.toISOString(),
    schema_version: state.schema_version,
    schema_objects: state.schema_objects,
    tables,
    row_format: "copy",
    partitions: months,
    totals: { objects: all.length, bytes: all.reduce((s, o) => s + o.bytes, 0), rows: tables.reduce((s, t) => s + t.rows, 0) },
  };
  await deps.store.put(`${manifest.prefix}manifest.json`, manifestText(manifest), "application/json");
  // The checkpoint has served its purpose: the manifest is the set's record now.
  await deps.store.delete([stateKey(state.id)]);
  return manifest;
}
