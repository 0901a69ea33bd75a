/**
 * The Redis key layout: every key the service reads or writes is built here, in TypeScript, and
 * scripts receive them through KEYS (issue 30: Upstash's `allow-key-locking` refuses a key a script
 * builds itself). Erasure derives a user's keys from `userKeys`/`legacyUserKeys` (no second list).
 *
 * Identifiers. A key is `<prefix>` then segments joined by `:`. Every segment that carries a
 * value from outside (user ids, Idempotency-Keys, principal ids, Telegram ids, message ids) goes
 * through `encodeSegment`, a percent-encoding of `%`, `:`, `{` and `}`:
 * - no encoded segment contains `:`, so splitting a key at `:` gives back exactly its segments, and
 *   `%` is itself escaped, so decoding is unique: two distinct tuples can never give one key;
 * - `{`/`}` never appear, so a user's id can never become a Redis Cluster hash tag;
 * - it is the identity for the ids seen in practice (`[A-Za-z0-9_.-]`): keys written before this
 *   layout keep their names, and only ids holding `:` (API user ids may) or `%` change spelling.
 *   Chosen over hashing (not reversible: restores and operators read the owner out of a key) and
 *   over length prefixes (would rename every deployed key).
 * Each family has a fixed first segment and a fixed arity (or a literal marker segment), so keys of
 * different families cannot meet either.
 */

const ESCAPED = /[%:{}]/g;
const hex = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;

/** One key segment: `%`, `:`, `{`, `}` percent-encoded; everything else as it is. */
export const encodeSegment = (s: string): string => s.replace(ESCAPED, hex);
/** The inverse of encodeSegment. */
export const decodeSegment = (s: string): string => s.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

/** The user-scoped cache keys: what a user's erasure deletes, besides the WAL entries and dedupe keys. */
export const USER_CACHE_SUFFIXES = ["ctx", "history", "status", "protocol"] as const;
/** Names the layout before this one wrote under `user:<raw id>:` (erasure still clears them). */
const LEGACY_USER_SUFFIXES = ["ctx", "history", "status", "protocol", "wal", "dedupe"] as const;

/** Hashes the WAL's message bodies are spread over (scripts pick one by the id's first hex digit, the same rule). */
export const MESSAGE_BUCKETS = 16;
export const messageBucket = (messageId: string): number => {
  const d = parseInt(messageId.charAt(0), 16);
  return Number.isNaN(d) ? 0 : d;
};

/** What makes a queued message a duplicate: its Telegram id, or the request's Idempotency-Key and position. */
export type DedupeId = { telegramMessageId: number } | { requestKey: string; index: number };

export function redisKeys(prefix: string) {
  const key = (...segments: string[]) => prefix + segments.map(encodeSegment).join(":");
  const user = (userId: string, suffix: string) => key("user", userId, suffix);
  return {
    prefix,
    /** A key from segments, each encoded (tests and fixed names). */
    key,
    wal: {
      /** Message ids waiting to be claimed, FIFO (list). */
      pending: key("wal", "pending"),
      /** Claimed message ids -> lease expiry ms (zset). */
      inflight: key("wal", "inflight"),
      /** Dead-lettered message ids (list). */
      dead: key("wal", "dead"),
      /**
       * Message id -> the message as JSON, in MESSAGE_BUCKETS hashes by the id's first hex digit:
       * the bodies live in a few fixed keys a script can declare, not one key per message, and no
       * hash nears Upstash's 100 MB record limit (16 x 100 MB: ~64k messages of the 4000-character
       * maximum, escaped worst case).
       */
      messageBuckets: Array.from({ length: MESSAGE_BUCKETS }, (_, i) => key("wal", "messages", i.toString(16))),
      /** The bucket holding a message (its id's first hex digit; 0 for anything else). */
      messagesOf: (messageId: string) => key("wal", "messages", messageBucket(messageId).toString(16)),
      /** Message id -> deliveries so far (hash). */
      attempts: key("wal", "attempts"),
      /** Message id -> current lease token (hash). */
      tokens: key("wal", "tokens"),
      /** Members `<encoded user>:<message id>`, all at score 0 (zset): a user's messages are one lex range. */
      owners: key("wal", "owners"),
      /** Ids a claim popped that had no body in `messages` (deployed before this layout; see migrateLegacyWal). */
      orphans: key("wal", "orphans"),
      /** Marker of an applied ack (a retried ack is counted, not reported stale). */
      acked: (messageId: string) => key("wal", "msg", messageId, "acked"),
      /** SCAN pattern of every ack marker, and the message id a marker holds. */
      ackedPattern: `${key("wal", "msg")}:*:acked`,
      ackedId: (markerKey: string) => decodeSegment(markerKey.slice(`${key("wal", "msg")}:`.length, -":acked".length)),
      /** A claim's answer kept for its retry: scoped by principal and Idempotency-Key. */
      claim: (principal: string, idempotencyKey: string) => key("wal", "claim", principal, idempotencyKey),
      /** Dedupe key: `wal:dedupe:<user>:<telegram id>`, or `wal:dedupe:<user>:k:<Idempotency-Key>:<i>`. */
      dedupe: (userId: string, d: DedupeId) =>
        "telegramMessageId" in d
          ? key("wal", "dedupe", userId, String(d.telegramMessageId))
          : key("wal", "dedupe", userId, "k", d.requestKey, String(d.index)),
      /** The `owners` member of a user's message. */
      ownerMember: (userId: string, messageId: string) => `${encodeSegment(userId)}:${encodeSegment(messageId)}`,
      /** The `owners` lex range holding exactly one user's messages. */
      ownerRange: (userId: string): [string, string] => [`[${encodeSegment(userId)}:`, `[${encodeSegment(userId)}:\xff`],
      /** Before this layout each message had a hash of its own (migrateLegacyWal moves them). */
      legacyMessage: (messageId: string) => key("wal", "msg", messageId),
      legacyMessagePattern: `${key("wal", "msg")}:*`,
    },
    /** A user's versioned cache with the user's `erasing` mark, as SET_IF_NEWER takes them. */
    userCache: (userId: string, name: "status" | "protocol" | "ctx") => ({ key: user(userId, name), erasing: user(userId, "erasing") }),
    user: (userId: string) => ({
      ctx: user(userId, "ctx"),
      history: user(userId, "history"),
      status: user(userId, "status"),
      protocol: user(userId, "protocol"),
      /** The user's dedupe keys (set, for erasure). */
      dedupe: user(userId, "dedupe"),
      /** Set while the user is being erased: no cache write may bring the user's data back. */
      erasing: user(userId, "erasing"),
    }),
    /**
     * Every key the layout before this one wrote for a user (raw id, not encoded). These names are
     * still unambiguous: each is `user:` + id + one fixed suffix. Erasure deletes them too, for as
     * long as old keys can exist (the `wal`/`dedupe` sets have no TTL while messages are queued).
     */
    legacyUser: (userId: string) => ({
      keys: LEGACY_USER_SUFFIXES.map((s) => `${prefix}user:${userId}:${s}`),
      wal: `${prefix}user:${userId}:wal`,
      dedupe: `${prefix}user:${userId}:dedupe`,
    }),
    dashboard: key("metrics", "dashboard"),
    /** A report's 5-minute cache, by its name and range (analytics/reports.ts). */
    analyticsReport: (name: string, range: string) => key("analytics", "report", name, range),
    /** Per-key rate-limit counters of keys with their own limit, by window length. */
    rateLimitWindowPrefix: (windowSeconds: number) => key("ratelimit", `w${windowSeconds}`),
    /** Queue -> epoch ms it went over its backlog threshold (hash; monitoring/backlog.ts). */
    backlogSince: key("monitor", "backlog"),
    rateLimitPrefix: key("ratelimit"),
    /** A rate-limit identifier (the library appends `:<window>`). */
    rateLimitId: (principal: string) => encodeSegment(principal),
    /**
     * The user a key belongs to (user-scoped caches and dedupe keys; under this layout and the one
     * before), or null. Restores use it to skip erased users' keys.
     */
    ownerOf(k: string): string | null {
      if (!k.startsWith(prefix)) return null;
      const parts = k.slice(prefix.length).split(":");
      if (parts[0] === "user" && parts.length === 3) return decodeSegment(parts[1]!);
      if (parts[0] === "wal" && parts[1] === "dedupe" && (parts.length === 4 || (parts.length === 6 && parts[3] === "k")))
        return decodeSegment(parts[2]!);
      // The layout before: ids were not encoded, so an id may itself hold ':'.
      const legacy = /^user:(.+):[a-z_]+$/.exec(k.slice(prefix.length));
      return legacy ? legacy[1]! : null;
    },
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
