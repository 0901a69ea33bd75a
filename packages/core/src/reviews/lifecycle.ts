import type { Db } from "../db/db.js";
import { ConflictError, NotFoundError, ValidationError } from "../errors.js";
import type { Metrics } from "../metrics/registry.js";
import { INTERACTION_COLUMNS, interactionFromRow } from "../interactions/row.js";
import type { ApproveBody, Interaction } from "../interactions/schemas.js";

/**
 * The review state machine, in Postgres. Every transition is one statement (one round trip), so
 * no state is ever half-applied. A `reviewing` item whose lease expired counts as pending.
 *
 *   pending --claim/start--> reviewing --approve/reject--> approved/rejected
 *   pending --approve/reject--> approved/rejected          reviewing --cancel--> pending
 */

/** Available to `$reviewer`: pending, reviewing under an expired lease, or already theirs. */
const ACTIONABLE = `(review_status = 'pending'
  OR (review_status = 'reviewing' AND (review_lease_expires_at < now() OR reviewer_id = $2)))`;
/** Kept when the reviewer still holds a live lease; otherwise the review starts now. */
const STARTED_AT = `CASE WHEN review_status = 'reviewing' AND reviewer_id = $2 AND review_lease_expires_at >= now()
  THEN review_started_at ELSE now() END`;

/**
 * Where an approve or reject measures review_time_seconds from:
 * - the approver's own claim (review_started_at), when they hold one (live or lapsed);
 * - otherwise when the item last became reviewable: the expiry of someone else's lapsed claim,
 *   or the item's creation for a pending item (approved straight from the queue). The earlier
 *   system recorded 0 there, which understated the average.
 */
const REVIEW_FROM = `CASE WHEN review_status = 'reviewing' AND reviewer_id = $2 THEN review_started_at
  WHEN review_status = 'reviewing' THEN review_lease_expires_at ELSE created_at END`;
const REVIEW_TIME = `greatest(0, round(extract(epoch FROM now() - (${REVIEW_FROM}))))::int`;

const RETURNING = `RETURNING ${INTERACTION_COLUMNS}`;

interface Outcome {
  updated: Record<string, unknown> | null;
  current: string | null;
  bad_tags?: string[];
}

/** Wraps an UPDATE so the same round trip also says why nothing was updated (404 vs 409). */
const withCurrent = (update: string, extra = "") => `
WITH upd AS (${update} ${RETURNING})
SELECT (SELECT row_to_json(upd) FROM upd) AS updated,
  (SELECT review_status FROM interactions WHERE id = $1) AS current${extra}`;

export class ReviewLifecycle {
  constructor(
    private readonly db: Db,
    private readonly metrics?: Metrics,
  ) {}

  /**
   * The answer of a transition. When nothing was updated, the state is read again: the statement's
   * own snapshot may predate a concurrent commit (it would name the wrong state). A repeat of a
   * transition that already happened for this reviewer (`repeatOf`: a retry whose first answer was
   * lost) answers 200 with the item, not 409.
   */
  private async settle(
    o: Outcome | undefined,
    id: string,
    action: string,
    to: string,
    repeatOf?: (row: Record<string, unknown>) => boolean,
  ): Promise<Interaction> {
    if (o?.updated) {
      this.metrics?.reviewTransitions.inc({ to });
      return interactionFromRow(o.updated);
    }
    if (!o?.current) throw new NotFoundError("interaction not found");
    const [row] = await this.db.query(`SELECT ${INTERACTION_COLUMNS} FROM interactions WHERE id = $1`, [id]);
    if (!row) throw new NotFoundError("interaction not found");
    if (repeatOf?.(row)) return interactionFromRow(row);
    const now = String(row.review_status);
    throw new ConflictError(`cannot ${action}: the review is ${now}${now === "reviewing" ? " by another reviewer" : ""}`, {
      review_status: now,
    });
  }

  /**
   * The highest-priority available item, leased to `reviewer` (FOR UPDATE SKIP LOCKED). With a
   * claim key (the caller's Idempotency-Key), a repeat answers the item the first claim leased.
   */
  async claim(reviewer: string, leaseSeconds: number, claimKey?: string): Promise<Interaction | null> {
    const [row] = await this.db.query(
      `
      WITH prior AS (
        SELECT ${INTERACTION_COLUMNS} FROM interactions
        WHERE $3::text IS NOT NULL AND review_claim_key = $3 AND reviewer_id = $1 AND review_status = 'reviewing' LIMIT 1),
      upd AS (
        UPDATE interactions i SET review_status = 'reviewing', reviewer_id = $1, review_started_at = now(),
          review_lease_expires_at = now() + make_interval(secs => $2), review_claim_key = $3
        FROM (SELECT id AS c_id, created_at AS c_created FROM interactions
              WHERE review_status = 'pending' OR (review_status = 'reviewing' AND review_lease_expires_at < now())
              ORDER BY priority_score DESC, created_at ASC, id LIMIT 1 FOR UPDATE SKIP LOCKED) c
        WHERE i.id = c.c_id AND i.created_at = c.c_created AND NOT EXISTS (SELECT 1 FROM prior)
        ${RETURNING})
      SELECT * FROM prior UNION ALL SELECT * FROM upd`,
      [reviewer, leaseSeconds, claimKey ?? null],
    );
    if (!row) return null;
    this.metrics?.reviewTransitions.inc({ to: "reviewing" });
    return interactionFromRow(row);
  }

  /** Starts (or renews) the review of one item; 409 if another reviewer holds a live lease or it is final. */
  async start(id: string, reviewer: string, leaseSeconds: number): Promise<Interaction> {
    const [o] = await this.db.query<Outcome>(
      withCurrent(`
      UPDATE interactions SET review_status = 'reviewing', reviewer_id = $2, review_started_at = ${STARTED_AT},
        review_lease_expires_at = now() + make_interval(secs => $3)
      WHERE id = $1 AND ${ACTIONABLE}`),
      [id, reviewer, leaseSeconds],
    );
    return this.settle(o, id, "start", "reviewing");
  }

  /** Approves from pending or from this reviewer's review; edit tags must be taxonomy codes. */
  async approve(id: string, reviewer: string, b: ApproveBody): Promise<Interaction> {
    const [o] = await this.db.query<Outcome>(
      `
      WITH bad AS (
        SELECT coalesce(array_agg(t ORDER BY t), '{}') AS tags FROM unnest($3::text[]) t
        WHERE NOT EXISTS (SELECT 1 FROM edit_taxonomy e WHERE e.code = t)),
      upd AS (
        UPDATE interactions SET review_status = 'approved', reviewer_id = $2, review_started_at = ${STARTED_AT},
          review_completed_at = now(),
          review_time_seconds = ${REVIEW_TIME},
          review_lease_expires_at = NULL, final_bubbles = $4, edit_tags = $3, quality_score = $5,
          reviewer_notes = coalesce($6, reviewer_notes), cta_data = coalesce($7::jsonb, cta_data),
          customer_status = coalesce((SELECT u.customer_status FROM user_current_status u WHERE u.user_id = interactions.user_id), 'PROSPECT')
        WHERE id = $1 AND ${ACTIONABLE} AND cardinality((SELECT tags FROM bad)) = 0
        ${RETURNING})
      SELECT (SELECT row_to_json(upd) FROM upd) AS updated,
        (SELECT review_status FROM interactions WHERE id = $1) AS current, (SELECT tags FROM bad) AS bad_tags`,
      [
        id,
        reviewer,
        b.edit_tags,
        b.final_bubbles,
        b.quality_score,
        b.reviewer_notes ?? null,
        JSON.stringify(b.cta_data ?? ctaFromTags(b.edit_tags)),
      ],
    );
    if (o?.bad_tags?.length) {
      throw new ValidationError(
        "unknown edit tags",
        o.bad_tags.map((t) => ({ in: "json", path: "edit_tags", message: `not in the edit taxonomy: ${t}`, code: "invalid_value" })),
      );
    }
    return this.settle(
      o,
      id,
      "approve",
      "approved",
      (r) =>
        r.review_status === "approved" && r.reviewer_id === reviewer && JSON.stringify(r.final_bubbles) === JSON.stringify(b.final_bubbles),
    );
  }

  async reject(id: string, reviewer: string, notes?: string): Promise<Interaction> {
    const [o] = await this.db.query<Outcome>(
      withCurrent(`
      UPDATE interactions SET review_status = 'rejected', reviewer_id = $2, review_started_at = ${STARTED_AT},
        review_completed_at = now(), review_time_seconds = ${REVIEW_TIME},
        review_lease_expires_at = NULL, reviewer_notes = coalesce($3, reviewer_notes)
      WHERE id = $1 AND ${ACTIONABLE}`),
      [id, reviewer, notes ?? null],
    );
    return this.settle(o, id, "reject", "rejected", (r) => r.review_status === "rejected" && r.reviewer_id === reviewer);
  }

  /** Back to pending, reviewer cleared: only the reviewer holding the review may cancel it. */
  async cancel(id: string, reviewer: string): Promise<Interaction> {
    const [o] = await this.db.query<Outcome>(
      withCurrent(`
      UPDATE interactions SET review_status = 'pending', reviewer_id = NULL, review_started_at = NULL, review_lease_expires_at = NULL
      WHERE id = $1 AND review_status = 'reviewing' AND reviewer_id = $2`),
      [id, reviewer],
    );
    return this.settle(o, id, "cancel", "pending");
  }
}

/** The reference derived cta_data from a CTA_* edit tag when none was given; so do we. */
/** The review routes' calls (a handler calls core as a free function over its deps). */
type ReviewDeps = { reviews: ReviewLifecycle };
export const claimReview = (d: ReviewDeps, reviewer: string, leaseSeconds: number, claimKey?: string) =>
  d.reviews.claim(reviewer, leaseSeconds, claimKey);
export const startReview = (d: ReviewDeps, id: string, reviewer: string, leaseSeconds: number) =>
  d.reviews.start(id, reviewer, leaseSeconds);
export const approveReview = (d: ReviewDeps, id: string, reviewer: string, b: ApproveBody) => d.reviews.approve(id, reviewer, b);
export const rejectReview = (d: ReviewDeps, id: string, reviewer: string, notes?: string) => d.reviews.reject(id, reviewer, notes);
export const cancelReview = (d: ReviewDeps, id: string, reviewer: string) => d.reviews.cancel(id, reviewer);

export function ctaFromTags(tags: string[]): Record<string, unknown> | null {
  const cta = tags.find((t) => t.startsWith("CTA_"));
  return cta ? { type: cta.slice(4).toLowerCase(), tags: tags.filter((t) => t.startsWith("CTA_")) } : null;
}
