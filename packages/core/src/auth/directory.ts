import { createHash, timingSafeEqual } from "node:crypto";
import { rideAlongScope } from "../db/ride-along.js";
import type { ApiKeyEntry } from "../config/schema.js";
import type { Db, Statement } from "../db/db.js";
import type { Logger } from "../log.js";
import { hashKey, KeyRing, type Principal } from "./keys.js";
import type { IssuedKey } from "./schemas.js";
import { LIVE_KEYS, toLiveKey, type LiveKey } from "./store.js";

/** Why a key was refused (the coarse reasons the audit counts). */
export type AuthFailure = "missing" | "unknown" | "expired";

/** A stored key as held in the copy, its hash as bytes for the constant-time compare. */
type Held = LiveKey & { digest: Buffer };
const held = (k: LiveKey): Held => ({ ...k, digest: Buffer.from(k.sha256, "hex") });

/** A compared-against hash for a presented key no stored key has: a miss costs what a hit does. */
const NO_KEY = Buffer.alloc(32);
/** After a failed reload, the next is tried no sooner than this (Postgres is not asked per request). */
const RETRY_AFTER_FAILURE_MS = 1000;
/** last_used_at is written at most this often per key (and only by a key refresh). */
const LAST_USED_GRANULARITY = "1 minute";

export interface KeyDirectoryOptions {
  db: Db;
  /** The ApiKeys secret's keys: always valid, with no store behind them. */
  bootstrap: readonly ApiKeyEntry[];
  /** Longest use of a loaded copy of the stored keys: the revocation bound. */
  maxAgeMs: number;
  log?: Logger;
  now?: () => number;
}

/**
 * The key check (issue 29). Each instance holds a copy of the stored keys that are live (a map by
 * SHA-256), loaded by one query and used for at most `maxAgeMs` from the moment that query was
 * sent: a key revoked (or created) at T is refused (accepted) by every instance from T + maxAgeMs
 * on. After half that age a request starts a reload in the background; past it, the request waits
 * for the reload. So on a warm instance a key costs no store round trip: a SHA-256, one map lookup
 * and one constant-time compare, plus the constant-time pass over the bootstrap keys.
 *
 * Whatever the key (right, wrong, missing), the work is the same: the map is consulted for every
 * key and a miss is compared against a zero hash, and nothing is ever cached by presented key, so
 * unknown keys cannot fill anything. Last use and authentication failures are counted in memory
 * and written by the next reload, in the same round trip (one transaction): no write per request.
 *
 * When the reload fails (Postgres unreachable) the instance keeps its last copy and tries again
 * with a request a second later or more: keys keep working through a Postgres outage (ingest does
 * not need Postgres), and no revocation can be written meanwhile anyway.
 */
export class KeyDirectory {
  private readonly ring: KeyRing;
  private byHash = new Map<string, Held>();
  /** When the query behind the copy in use was sent (epoch ms); -Infinity: never loaded. */
  private loadedAt = -Infinity;
  private loading?: Promise<void>;
  /** No reload before this (epoch ms): set by a failed one. */
  private retryAt = 0;
  private used = new Set<string>();
  private failures = new Map<AuthFailure, number>();
  /**
   * Changes made through this instance (a key learnt, one forgotten: `key` undefined), by key id,
   * with when: a reload sent before then does not know them yet, so they are applied over it.
   */
  private readonly changes = new Map<string, { at: number; key?: LiveKey }>();
  private readonly now: () => number;

  constructor(private readonly opts: KeyDirectoryOptions) {
    this.ring = new KeyRing(opts.bootstrap);
    this.now = opts.now ?? Date.now;
  }

  /** The bootstrap keys' names (reserved: a stored key may not take one). */
  bootstrapNames(): string[] {
    return this.ring.ids();
  }

  /** The principal of a presented key, or the reason it was refused. */
  async authenticate(presented: string | undefined): Promise<Principal | AuthFailure> {
    await this.fresh();
    const hash = createHash("sha256")
      .update(presented ?? "", "utf8")
      .digest();
    const bootstrap = this.ring.match(hash);
    const stored = this.byHash.get(hash.toString("hex"));
    const same = timingSafeEqual(hash, stored ? stored.digest : NO_KEY) && stored !== undefined;
    let result: Principal | AuthFailure;
    if (!presented) result = "missing";
    else if (bootstrap) result = bootstrap;
    else if (!same || !stored) result = "unknown";
    else if (stored.expiresAt !== undefined && stored.expiresAt <= this.now()) result = "expired";
    else {
      this.used.add(stored.id);
      result = { id: stored.name, scopes: stored.scopes, keyId: stored.id, ...(stored.rateLimit ? { rateLimit: stored.rateLimit } : {}) };
    }
    if (typeof result === "string") this.failures.set(result, (this.failures.get(result) ?? 0) + 1);
    return result;
  }

  /** Drops a key from this instance's copy at once (its revocation was made here). */
  forget(keyId: string): void {
    this.change(keyId, undefined);
  }

  private change(keyId: string, key: LiveKey | undefined): void {
    this.changes.set(keyId, { at: this.now(), key });
    for (const [h, k] of this.byHash) if (k.id === keyId) this.byHash.delete(h);
    if (key) this.byHash.set(key.sha256, held(key));
  }

  /** Adds a key created or rotated through this instance to its copy at once (the others reload it). */
  learn(issued: IssuedKey): void {
    const k = issued.api_key;
    const sha256 = hashKey(issued.key);
    this.change(k.id, {
      id: k.id,
      name: k.name,
      sha256,
      scopes: k.scopes,
      ...(k.expires_at ? { expiresAt: Date.parse(k.expires_at) } : {}),
      ...(k.rate_limit ? { rateLimit: { requests: k.rate_limit.requests, windowSeconds: k.rate_limit.window_seconds } } : {}),
    });
  }

  /** A rotated key's new expiry (its grace), in this instance's copy at once. */
  expire(keyId: string, expiresAt: string | null): void {
    const known = [...this.byHash.values()].find((k) => k.id === keyId);
    if (known && expiresAt)
      this.change(keyId, {
        id: known.id,
        name: known.name,
        sha256: known.sha256,
        scopes: known.scopes,
        rateLimit: known.rateLimit,
        expiresAt: Date.parse(expiresAt),
      });
  }

  /** Reloads now, whatever the copy's age. */
  refresh(): Promise<void> {
    return this.reload();
  }

  private async fresh(): Promise<void> {
    const now = this.now();
    const age = now - this.loadedAt;
    if (age <= this.opts.maxAgeMs / 2 || now < this.retryAt) return;
    const reload = this.reload();
    if (age <= this.opts.maxAgeMs) {
      reload.catch(() => {});
      return;
    }
    // Too old to use: wait for the reload. If it fails, the last copy is kept (see above).
    await reload.catch(() => {});
  }

  private reload(): Promise<void> {
    // Outside the request that happened to start it: no audit row rides with the reload's writes.
    return (this.loading ??= rideAlongScope
      .exit(() => this.load())
      .finally(() => {
        this.loading = undefined;
      }));
  }

  private async load(): Promise<void> {
    const sentAt = this.now();
    const used = [...this.used];
    const failures = [...this.failures];
    this.used = new Set();
    this.failures = new Map();
    const writes: Statement[] = [];
    if (used.length) {
      writes.push({
        text: `UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[]) AND (last_used_at IS NULL OR last_used_at < now() - interval '${LAST_USED_GRANULARITY}')`,
        params: [used],
      });
    }
    if (failures.length) {
      writes.push({
        text: "INSERT INTO audit_log (kind, event, count) SELECT 'auth_failure', r, c FROM unnest($1::text[], $2::int[]) AS f(r, c)",
        params: [failures.map(([r]) => r), failures.map(([, c]) => c)],
      });
    }
    let rows: Record<string, unknown>[];
    try {
      rows = writes.length
        ? (await this.opts.db.transaction([...writes, { text: LIVE_KEYS }])).at(-1)!
        : await this.opts.db.query(LIVE_KEYS);
    } catch (e) {
      // Counted again with the next reload (a lost answer may count failures twice: coarse anyway).
      for (const id of used) this.used.add(id);
      for (const [r, c] of failures) this.failures.set(r, (this.failures.get(r) ?? 0) + c);
      this.retryAt = this.now() + RETRY_AFTER_FAILURE_MS;
      this.opts.log?.warn("api keys not reloaded; the last copy stays in use", { err: e as Error, age_ms: this.now() - this.loadedAt });
      throw e;
    }
    const byHash = new Map<string, Held>();
    for (const [id, c] of this.changes) if (c.at < sentAt) this.changes.delete(id);
    for (const r of rows) {
      const k = toLiveKey(r);
      if (!this.changes.has(k.id)) byHash.set(k.sha256, held(k));
    }
    for (const c of this.changes.values()) if (c.key) byHash.set(c.key.sha256, held(c.key));
    this.byHash = byHash;
    this.loadedAt = sentAt;
  }
}
