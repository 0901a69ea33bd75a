import { z } from "zod";

/** User ids: 1..64 chars of [A-Za-z0-9_.:-] (API.md). */
/** `.` and `..` are excluded everywhere: as a path segment they cannot reach /v1/users/{id} routes. */
export const UserId = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1..64 chars of [A-Za-z0-9_.:-]")
  .refine((s) => s !== "." && s !== "..", "must not be . or ..");
/** An ISO timestamp with offset, between 1970 and 9999 (a year-0 date cannot be stored anywhere downstream). */
export const IsoDateTime = z.iso.datetime({ offset: true }).refine((s) => {
  const t = Date.parse(s);
  return t >= 0 && t <= Date.UTC(9999, 11, 31, 23, 59, 59, 999);
}, "must be between 1970-01-01 and 9999-12-31");
/** Ids the WAL hands out (uuids): anything else, such as an internal key name, is a 400. */
export const WalMessageId = z.uuid();
/** Telegram ids fit in 53 bits. */
export const TelegramId = z.number().int().safe();
/** Telegram's chat_id: "Integer or String" (a numeric id, or @channelusername). */
export const ChatId = z.union([TelegramId, z.string().regex(/^@[A-Za-z][A-Za-z0-9_]{3,31}$/, "must be a numeric id or @channelusername")]);
/** A stored chat id (text) as the API answers it: numeric ids as numbers. */
export const chatIdFromStore = (v: unknown): number | string | null =>
  v === null || v === undefined || v === "" ? null : /^-?\d+$/.test(String(v)) ? Number(v) : String(v);

export const MAX_TEXT_CHARS = 4000;
export const MAX_BATCH = 100;

/** Text Postgres can store: a queued message must be storable as an interaction later. */
export const StorableText = z.string().regex(/^[^\u0000]*$/, "must not contain NUL characters");

export const IncomingMessage = z
  .object({
    user_id: UserId,
    text: StorableText.min(1).max(MAX_TEXT_CHARS),
    chat_id: ChatId.optional(),
    telegram_message_id: TelegramId.nonnegative().optional(),
    telegram_date: IsoDateTime.optional(),
    received_at: IsoDateTime.optional(),
  })
  .strict()
  .meta({ id: "Message", description: "One incoming Telegram message" });
export type IncomingMessage = z.infer<typeof IncomingMessage>;

export const IngestBody = z.union([z.object({ messages: z.array(IncomingMessage).min(1).max(MAX_BATCH) }).strict(), IncomingMessage]);
export type IngestBody = z.infer<typeof IngestBody>;

export const IngestStatus = z.enum(["queued", "duplicate", "quarantined"]);
export const IngestResult = z.object({ message_id: z.string(), status: IngestStatus });
export type IngestResult = z.infer<typeof IngestResult>;

export const ClaimBody = z
  .object({
    max: z.number().int().min(1).max(100).default(10),
    lease_seconds: z.number().int().min(5).max(900).default(300),
    message_ids: z
      .array(WalMessageId)
      .min(1)
      .max(100)
      .optional()
      .describe(
        "Claim only these messages (e.g. the ones you just ingested), at most `max` of them: each is handed out if it is queued, or in flight " +
          "under a lapsed lease. No other message is touched. Without it, the oldest queued messages are handed out.",
      ),
  })
  .strict();
export type ClaimBody = z.infer<typeof ClaimBody>;

export const ClaimedMessage = z
  .object({
    message_id: z.string(),
    lease_token: z.string(),
    attempts: z.number().int(),
    user_id: z.string(),
    text: z.string(),
    chat_id: z.union([z.number(), z.string()]).nullable(),
    telegram_message_id: z.number().nullable(),
    telegram_date: z.string().nullable(),
    received_at: z.string(),
  })
  .meta({ id: "ClaimedMessage", description: "A message claimed under a lease: acknowledge it with its lease_token" });
export type ClaimedMessage = z.infer<typeof ClaimedMessage>;

export const AckBody = z
  .object({
    // Items may be the claimed messages themselves: fields other than the two are ignored.
    items: z
      .array(z.object({ message_id: WalMessageId, lease_token: z.string().min(1).max(128) }))
      .min(1)
      .max(100),
  })
  .strict();

export const AckResult = z.object({ acked: z.number().int(), stale: z.array(z.string()) });
export const WalStats = z.object({
  pending: z.number().int(),
  in_flight: z.number().int(),
  dead_letter: z.number().int(),
  oldest_pending_age_seconds: z.number().nullable(),
});
export type WalStats = z.infer<typeof WalStats>;
