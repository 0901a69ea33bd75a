import type { Db } from "../db/db.js";
import type { ReportRange } from "./range.js";

/** The funnel's stages in order; a user counts in every stage up to the furthest one reached. */
export const FUNNEL_STAGES = ["PROSPECT", "LEAD_QUALIFIED", "CUSTOMER"] as const;
/** Statuses that leave the funnel, with the stage they were reached from. */
const REACHED: Record<string, number> = { PROSPECT: 0, LEAD_EXHAUSTED: 0, LEAD_QUALIFIED: 1, CUSTOMER: 2, CHURNED: 2 };

export interface FunnelRow {
  status: string;
  users: number;
}

/**
 * The funnel's source, in one place so it can follow the status history when there is one
 * (issue 26): today, users first recorded in the range (user_current_status.created_at), by
 * their current status. A small table read live; it never touches the interactions.
 */
export async function funnelSource(db: Db, r: ReportRange): Promise<FunnelRow[]> {
  return db.query<FunnelRow>(
    `
    SELECT customer_status AS status, count(*)::int AS users FROM user_current_status
    WHERE created_at >= ($1::date::timestamp AT TIME ZONE $3) AND created_at < (($2::date + 1)::timestamp AT TIME ZONE $3)
    GROUP BY 1 ORDER BY 1`,
    [r.from, r.to, r.tz],
  );
}

export interface Funnel {
  stages: { stage: string; users: number; rate_from_previous: number | null }[];
  by_status: FunnelRow[];
}

export function shapeFunnel(rows: FunnelRow[]): Funnel {
  const counts = FUNNEL_STAGES.map((_, i) => rows.filter((r) => (REACHED[r.status] ?? 0) >= i).reduce((s, r) => s + r.users, 0));
  return {
    stages: FUNNEL_STAGES.map((stage, i) => ({
      stage,
      users: counts[i]!,
      rate_from_previous: i === 0 || counts[i - 1] === 0 ? null : round(counts[i]! / counts[i - 1]!, 4),
    })),
    by_status: rows,
  };
}

export const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
