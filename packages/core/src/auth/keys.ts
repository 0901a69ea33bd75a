import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ApiKeyEntry, Scope } from "../config/schema.js";

export interface Principal {
  /** The key's name: the reviewer id in review actions and the principal in the audit. */
  id: string;
  scopes: readonly Scope[];
  /** The stored key's id (absent for a bootstrap key from the ApiKeys secret). */
  keyId?: string;
  /** The key's own rate limit (set at creation), else the deployment's. */
  rateLimit?: { requests: number; windowSeconds: number };
}

export const hashKey = (key: string): string => createHash("sha256").update(key, "utf8").digest("hex");

/** A new random key (prefixed so it is recognisable in a secret store): 256 random bits. */
export const newKey = (): string => `hitl_${randomBytes(32).toString("base64url")}`;

/** A new random key (prefixed so it is recognisable in a secret store) and its API_KEYS entry. */
export function generateKey(id: string, scopes: Scope[]): { key: string; entry: ApiKeyEntry } {
  const key = newKey();
  return { key, entry: { id, scopes, sha256: hashKey(key) } };
}

/**
 * Configured keys, stored only as sha-256 hashes. A presented key is hashed and compared with
 * every entry in constant time (no early exit), so timing reveals neither the match nor its index.
 */
export class KeyRing {
  private readonly entries: { principal: Principal; hash: Buffer }[];

  constructor(entries: readonly ApiKeyEntry[]) {
    this.entries = entries.map((e) => ({ principal: { id: e.id, scopes: e.scopes }, hash: Buffer.from(e.sha256, "hex") }));
  }

  authenticate(presented: string | undefined): Principal | undefined {
    if (!presented) return undefined;
    return this.match(createHash("sha256").update(presented, "utf8").digest());
  }

  /** The entry whose hash is `hash` (32 bytes), comparing with every entry in constant time. */
  match(hash: Buffer): Principal | undefined {
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(hash, e.hash) && !found) found = e.principal;
    }
    return found;
  }

  /** The bootstrap principals' ids (a stored key may not take one of these names). */
  ids(): string[] {
    return this.entries.map((e) => e.principal.id);
  }
}

/** `admin` may call every route; otherwise the principal needs one of the route's scopes. */
export const hasScope = (p: Principal, allowed: readonly Scope[]): boolean =>
  p.scopes.includes("admin") || allowed.some((s) => p.scopes.includes(s));
