import { createHash, createHmac } from "node:crypto";

/** Local stack only: a fixed key, so `npm start` data keeps matching its erasure log across restarts. */
export const LOCAL_ERASURE_KEY = "hitl-local-erasure-key: not a secret, local stack only";

/**
 * Keyed hashes of user ids (HMAC-SHA256) for the erasure log and the archive index. A plain hash
 * of a numeric Telegram id is reversed by hashing every id; without the key, the log does not say
 * whom it erased. The same HMAC is computable by Postgres (built-in sha256 over the padded key),
 * so a restore matches restored rows without the key ever leaving the service.
 */
export class UserHasher {
  private readonly key: Buffer;
  private readonly pads: [inner: string, outer: string];

  constructor(key: string) {
    this.key = Buffer.from(key, "utf8");
    const block = Buffer.alloc(64);
    (this.key.length > 64 ? createHash("sha256").update(this.key).digest() : this.key).copy(block);
    this.pads = [Buffer.from(block.map((b) => b ^ 0x36)).toString("hex"), Buffer.from(block.map((b) => b ^ 0x5c)).toString("hex")];
  }

  hash(userId: string): string {
    return createHmac("sha256", this.key).update(userId, "utf8").digest("hex");
  }

  /**
   * The same HMAC of `column` in SQL; `$n` and `$n+1` take `params` (the padded keys, hex), which
   * go as parameters like any other value.
   */
  sql(column: string, n: number): { expr: string; params: [string, string] } {
    return {
      expr: `encode(sha256(decode($${n + 1}, 'hex') || sha256(decode($${n}, 'hex') || convert_to(${column}, 'UTF8'))), 'hex')`,
      params: this.pads,
    };
  }
}
