import { z } from "zod";
import { readThroughVersioned, writeVersioned, type Versioned } from "../cache/versioned.js";
import type { RedisStore } from "../cache/redis.js";
import type { Db } from "../db/db.js";
import type { Logger } from "../log.js";
import { claimCte, repeatOf, type IdempotencyScope } from "../idempotency/keys.js";

/**
 * Status cache TTL: a day (the reference had 5 minutes). Every writer of user_current_status
 * refreshes the cache in its own request (versioned, so an older write never wins), so the TTL only
 * bounds how long a refresh that was lost (Redis down, and the instance gone before its stale-key
 * drop) can be served; a user quiet for 5 minutes no longer pays 2 Redis and 1 Postgres round trips
 * on their next read. A restore flushes these caches (restore's fenceCaches); a manual SQL change to
 * a user's status must delete that user's cache key (`redisKeys(...).userCache(user, "status")`).
 */
export const STATUS_CACHE_TTL_SECONDS = 24 * 3600;
export const CUSTOMER_STATUSES = ["PROSPECT", "LEAD_QUALIFIED", "CUSTOMER", "CHURNED", "LEAD_EXHAUSTED"] as const;

/** Whether an amount is whole cents as sent (0.07 is, 0.005 and 5e-324 are not). */
const wholeCents = (x: number) => Number(x.toFixed(2)) === x;

export const PutStatusBody = z
  .object({
    customer_status: z.enum(CUSTOMER_STATUSES),
    ltv_amount: z
      .number()
      .min(0)
      .max(10_000)
      .refine(wholeCents, "at most 2 decimal places (whole cents): a finer amount is refused, never rounded")
      .optional()
      .meta({
        description:
          "US dollars added to the lifetime value when customer_status is CUSTOMER: 0..10000 in whole cents (at most 2 decimal places, the column's numeric(20,2)); a finer amount is refused with 400, never rounded.",
      }),
    reason: z.string().max(200).optional(),
  })
  .strict();
export const PutNicknameBody = z.object({ nickname: z.string().trim().min(1).max(50) }).strict();
export const UserStatus = z
  .object({
    user_id: z.string(),
    customer_status: z.enum(CUSTOMER_STATUSES),
    ltv_usd: z.number(),
    nickname: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .meta({ id: "UserStatus", description: "Customer status, lifetime value and nickname" });
export type UserStatus = z.infer<typeof UserStatus>;

export interface UserDeps {
  db: Db;
  redis: RedisStore;
  log?: Logger;
}

export const STATUS_COLUMNS = "user_id, customer_status, ltv_usd::float8 AS ltv_usd, nickname, updated_at, version";
const COLUMNS = STATUS_COLUMNS;
export const statusKey = (redis: RedisStore, userId: string) => redis.keys.userCache(userId, "status");

export function statusFromRow(userId: string, r: Record<string, unknown> | undefined): Versioned<UserStatus> {
  if (!r) return { value: { user_id: userId, customer_status: "PROSPECT", ltv_usd: 0, nickname: null, updated_at: null }, version: 0 };
  return {
    value: {
      user_id: userId,
      customer_status: r.customer_status as UserStatus["customer_status"],
      ltv_usd: Number(r.ltv_usd),
      nickname: (r.nickname as string | null) ?? null,
      updated_at: r.updated_at ? new Date(r.updated_at as string).toISOString() : null,
    },
    version: Number(r.version),
  };
}

/** Cached a day (versioned, refreshed by every writer); Postgres is authoritative. Unknown users are PROSPECT with no LTV. */
export function getUserStatus(deps: UserDeps, userId: string): Promise<UserStatus> {
  return readThroughVersioned(
    deps.redis,
    statusKey(deps.redis, userId),
    STATUS_CACHE_TTL_SECONDS,
    async () => {
      const [row] = await deps.db.query(`SELECT ${COLUMNS} FROM user_current_status WHERE user_id = $1`, [userId]);
      return statusFromRow(userId, row);
    },
    deps.log,
  );
}

/**
 * Postgres first (LTV grows only when the new status is CUSTOMER), then the cache is refreshed.
 * With an Idempotency-Key (`scope`) the write happens only in the request that claims the key
 * (`claimCte`): a retry, or any number of concurrent ones, adds the LTV once, writes one
 * transition, and answers the current status; the same key with a different request answers 422.
 * The same statement writes a manual transition (customer_status_transitions) when the status
 * changed or LTV was added, with the actor and reason.
 */
export async function setUserStatus(
  deps: UserDeps,
  userId: string,
  b: z.infer<typeof PutStatusBody>,
  scope?: IdempotencyScope,
  actor = "unknown",
): Promise<UserStatus> {
  // One transaction (one round trip): the row is locked first, so the next statement's snapshot
  // reads the status as the last committed change left it (the transition's previous status).
  const [, [row]] = (await deps.db.transaction([
    { text: "SELECT 1 FROM user_current_status WHERE user_id = $1 FOR UPDATE", params: [userId] },
    {
      text: `
    WITH ${claimCte(5, 6, "$1::text", "NULL")},
    prev AS (SELECT customer_status FROM user_current_status WHERE user_id = $1),
    up AS (
      INSERT INTO user_current_status (user_id, customer_status, ltv_usd, reason)
      SELECT $1::text, $2::text, CASE WHEN $2::text = 'CUSTOMER' THEN $3::numeric ELSE 0 END, $4::text
      WHERE $5::text IS NULL OR EXISTS (SELECT 1 FROM claim)
      ON CONFLICT (user_id) DO UPDATE SET customer_status = EXCLUDED.customer_status,
        ltv_usd = user_current_status.ltv_usd + CASE WHEN EXCLUDED.customer_status = 'CUSTOMER' THEN $3::numeric ELSE 0 END,
        reason = coalesce(EXCLUDED.reason, user_current_status.reason)
      RETURNING ${COLUMNS}),
    calc AS (
      SELECT coalesce((SELECT customer_status FROM prev), 'PROSPECT') AS previous,
        CASE WHEN $2::text = 'CUSTOMER' THEN $3::numeric ELSE 0 END AS ltv_add),
    tr AS (
      INSERT INTO customer_status_transitions (user_id, previous_status, new_status, reason, automated, actor, ltv_added_usd)
      SELECT $1, previous, $2, $4, false, $7, ltv_add FROM calc WHERE EXISTS (SELECT 1 FROM up) AND (previous <> $2::text OR ltv_add > 0))
    SELECT * FROM up`,
      params: [userId, b.customer_status, b.ltv_amount ?? 0, b.reason ?? null, scope?.key ?? null, scope?.fingerprint ?? null, actor],
    },
  ])) as [unknown, Record<string, unknown>[]];
  if (!row) {
    await repeatOf(deps.db, scope!);
    const [now] = await deps.db.query(`SELECT ${COLUMNS} FROM user_current_status WHERE user_id = $1`, [userId]);
    const current = statusFromRow(userId, now);
    await writeVersioned(deps.redis, statusKey(deps.redis, userId), current, STATUS_CACHE_TTL_SECONDS, deps.log);
    return current.value;
  }
  const status = statusFromRow(userId, row);
  await writeVersioned(deps.redis, statusKey(deps.redis, userId), status, STATUS_CACHE_TTL_SECONDS, deps.log);
  return status.value;
}

export async function setNickname(deps: UserDeps, userId: string, nickname: string): Promise<UserStatus> {
  const [row] = await deps.db.query(
    `
    INSERT INTO user_current_status (user_id, nickname) VALUES ($1, $2)
    ON CONFLICT (user_id) DO UPDATE SET nickname = EXCLUDED.nickname
    RETURNING ${COLUMNS}`,
    [userId, nickname],
  );
  const status = statusFromRow(userId, row);
  await writeVersioned(deps.redis, statusKey(deps.redis, userId), status, STATUS_CACHE_TTL_SECONDS, deps.log);
  return status.value;
}
