import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

/** How long a printed status link opens the page. */
export const STATUS_LINK_TTL_SECONDS = 15 * 60;

/** The link key: derived from the deployment's ERASURE_HASH_KEY for this one purpose (HKDF), no new secret to manage. */
const linkKey = (secret: string) => Buffer.from(hkdfSync("sha256", secret, "hitl-status-link", "status page link v1", 32));
const mac = (secret: string, expires: number) => createHmac("sha256", linkKey(secret)).update(`status:${expires}`).digest("base64url");

/**
 * Query parameters that open /status until `expires` (epoch seconds) without an API key in the URL:
 * an operator's browser cannot send a Bearer header. `npm run status-link` prints one.
 */
export function signStatusLink(secret: string, now = Date.now(), ttlSeconds = STATUS_LINK_TTL_SECONDS): { expires: number; sig: string } {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  return { expires, sig: mac(secret, expires) };
}

/** True for an unexpired link signed with `secret` (compared in constant time; at most one TTL ahead). */
export function verifyStatusLink(secret: string, expires: string | undefined, sig: string | undefined, now = Date.now()): boolean {
  if (!expires || !sig || !/^\d{1,12}$/.test(expires)) return false;
  const exp = Number(expires);
  const nowSeconds = Math.floor(now / 1000);
  if (exp < nowSeconds || exp > nowSeconds + STATUS_LINK_TTL_SECONDS) return false;
  const want = Buffer.from(mac(secret, exp));
  const got = Buffer.from(sig);
  return got.length === want.length && timingSafeEqual(got, want);
}
