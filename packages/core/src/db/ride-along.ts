import { AsyncLocalStorage } from "node:async_hooks";
import type { Statement } from "./db.js";

/**
 * A statement that commits with the request's first write, in the same transaction and the same
 * round trip (Neon's HTTP batch: one request, one transaction), instead of costing a round trip of
 * its own: the audit row of a mutating request (functions/api/http/audit.ts). It commits if and only if
 * the write it rode with commits.
 *
 * The request's handler runs inside `rideAlongScope.run(ride, ...)`; `NeonDb` asks `board()` on
 * its first write (a statement that inserts, updates or deletes, or a transaction) and adds the
 * statement to it. Writes outside a request (jobs, scripts) never see one.
 */
export class RideAlong {
  private boarded?: Promise<Record<string, unknown> | undefined>;
  private closed = false;

  /** `statement` is built when a write boards (the request's principal and route are known by then); undefined: nothing rides. */
  constructor(private readonly statement: () => Statement | undefined) {}

  /** The statement to add to this write, and how to report the outcome; undefined when nothing (or no longer anything) rides. */
  board(): { statement: Statement; settle(row: Record<string, unknown> | undefined): void } | undefined {
    if (this.closed || this.boarded) return undefined;
    const statement = this.statement();
    if (!statement) return undefined;
    let settle!: (row: Record<string, unknown> | undefined) => void;
    this.boarded = new Promise((r) => (settle = r));
    return { statement, settle };
  }

  /**
   * No later write boards. Resolves with the rider's first row (its RETURNING) once the write it
   * rode with has committed, or undefined: it rode with a write that failed (rolled back), or never boarded.
   */
  async close(): Promise<Record<string, unknown> | undefined> {
    this.closed = true;
    return this.boarded;
  }
}

export const rideAlongScope = new AsyncLocalStorage<RideAlong>();

/** A statement that changes rows (a plain or data-modifying-CTE INSERT, UPDATE, DELETE or MERGE). */
export const isWrite = (text: string) => /\b(INSERT|UPDATE|DELETE|MERGE)\b/i.test(text);

/** The rider for a write of the current request, if one waits. */
export function boardWrite(statements: Statement[]) {
  const ride = rideAlongScope.getStore();
  if (!ride || !statements.some((s) => isWrite(s.text))) return undefined;
  return ride.board();
}
