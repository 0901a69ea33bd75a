import type { Db, Statement } from "../db/db.js";
import { CursorPart, decodeCursor, encodeCursor } from "../db/keyset.js";
import type { AuditEntry, AccessAuditQuery } from "./schemas.js";

/** Audit rows are kept this long; the daily archive job prunes older ones. */
export const AUDIT_RETENTION_DAYS = 90;
/** Rows one prune statement deletes at most (the job repeats it until none is left). */
const PRUNE_BATCH = 10_000;

/** One mutating request: who, which route, which resource, how it ended. Never a body or a key. */
export interface RequestRecord {
  principal: string;
  keyId?: string;
  method: string;
  /** The route template (/v1/reviews/{id}/approve), never the concrete path. */
  route: string;
  resourceId?: string;
  status: number;
  requestId: string;
}

/** Rows one audit INSERT carries at most. */
const MAX_BATCH = 500;
const INSERT_ROWS = `INSERT INTO audit_log (kind, principal, key_id, method, route, resource_id, status, request_id)
  SELECT 'request', * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::text[])`;

/**
 * Writes request rows, each request waiting until its own row is committed (nothing is held in
 * memory past its request's answer).
 *
 * - A request that writes to Postgres carries its row in its first write's transaction
 *   (`rowStatement`, ridden along by NeonDb: see db/ride-along.ts), so the audit adds no round
 *   trip and the row commits if and only if that write does. The row is written with the status
 *   the route answers on success; a request that then answers otherwise (a conflict found after
 *   the write, a replay answering 200 instead of 201, an error) has its row's status corrected
 *   (`correct`: one more statement, off the success path).
 * - Any other request (refused before it wrote, or writing only to Redis) gets its row from
 *   `record`: group commit, rows that arrive while an INSERT is in flight go together in the next
 *   one, so concurrent requests on one instance share statements.
 */
export class AuditWriter {
  private queue: { row: RequestRecord; done: (e?: unknown) => void }[] = [];
  private flushing = false;

  constructor(private readonly db: Db) {}

  record(row: RequestRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, done: (e) => (e === undefined ? resolve() : reject(e)) });
      if (!this.flushing) void this.flush();
    });
  }

  /** The row as one INSERT that returns its id, to run inside the request's write (see RideAlong). */
  rowStatement(row: RequestRecord): Statement {
    return {
      text: `INSERT INTO audit_log (kind, principal, key_id, method, route, resource_id, status, request_id)
        VALUES ('request', $1, $2, $3, $4, $5, $6, $7) RETURNING id::text AS id`,
      params: [row.principal, row.keyId ?? null, row.method, row.route, row.resourceId ?? null, row.status, row.requestId],
    };
  }

  /** Sets the status of a row written inside a request's write, when the request answered otherwise. */
  async correct(id: string, status: number): Promise<void> {
    await this.db.query("UPDATE audit_log SET status = $2 WHERE id = $1::bigint", [id, status]);
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const rows = batch.map((b) => b.row);
      try {
        await this.db.query(INSERT_ROWS, [
          rows.map((r) => r.principal),
          rows.map((r) => r.keyId ?? null),
          rows.map((r) => r.method),
          rows.map((r) => r.route),
          rows.map((r) => r.resourceId ?? null),
          rows.map((r) => r.status),
          rows.map((r) => r.requestId),
        ]);
        for (const b of batch) b.done();
      } catch (e) {
        for (const b of batch) b.done(e);
      }
    }
    this.flushing = false;
  }
}

/** The audit, newest first, filtered by principal, route, kind and time; keyset-paged. */
export async function listAudit(db: Db, q: AccessAuditQuery): Promise<{ items: AuditEntry[]; next_cursor: string | null }> {
  const after = decodeCursor(q.cursor, [CursorPart.timestamp, CursorPart.integer]);
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (p: string) => string, v: unknown) => {
    params.push(v);
    where.push(sql(`$${params.length}`));
  };
  if (q.principal) add((p) => `principal = ${p}`, q.principal);
  if (q.route) add((p) => `route = ${p}`, q.route);
  if (q.kind) add((p) => `kind = ${p}`, q.kind);
  if (q.from) add((p) => `at >= ${p}::timestamptz`, q.from);
  if (q.to) add((p) => `at < ${p}::timestamptz`, q.to);
  if (after) {
    params.push(after[0], after[1]);
    where.push(`(at, id) < ($${params.length - 1}::timestamptz, $${params.length}::bigint)`);
  }
  params.push(q.limit + 1);
  const rows = await db.query(
    `SELECT id::text AS id, at, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_text, kind, principal, key_id, method, route,
       resource_id, status, request_id, event, count
     FROM audit_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      id: String(r.id),
      at: new Date(r.at as string).toISOString(),
      kind: r.kind as AuditEntry["kind"],
      principal: (r.principal as string | null) ?? null,
      key_id: (r.key_id as string | null) ?? null,
      method: (r.method as string | null) ?? null,
      route: (r.route as string | null) ?? null,
      resource_id: (r.resource_id as string | null) ?? null,
      status: r.status === null ? null : Number(r.status),
      request_id: (r.request_id as string | null) ?? null,
      event: (r.event as string | null) ?? null,
      count: r.count === null ? null : Number(r.count),
    })),
    next_cursor: rows.length > q.limit && last ? encodeCursor([String(last.at_text), String(last.id)]) : null,
  };
}

/** Deletes audit rows older than the retention, in bounded batches; returns how many. */
export async function pruneAudit(db: Db, days = AUDIT_RETENTION_DAYS): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await db.query<{ n: number }>(
      `WITH gone AS (DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < now() - make_interval(days => $1) ORDER BY at LIMIT $2) RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [days, PRUNE_BATCH],
    );
    const n = Number(rows[0]?.n ?? 0);
    total += n;
    if (n < PRUNE_BATCH) return total;
  }
}
