import { z } from "zod";
import { SCOPES } from "../config/schema.js";

/** A key's name: its principal (the reviewer id in review actions), as the ApiKeys secret's ids. */
export const KeyName = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1..64 characters of [A-Za-z0-9_.:-]");
/** Stored keys' ids: `key_` and 24 hex digits. */
export const KeyId = z.string().regex(/^key_[0-9a-f]{24}$/, "must be a key id (key_ and 24 hex digits)");
/** Longest grace of a rotated key (the old key keeps working this long at most). */
export const MAX_GRACE_SECONDS = 7 * 24 * 3600;
/** The old key's validity after a rotation unless told otherwise: 24 hours, for clients to switch. */
export const DEFAULT_GRACE_SECONDS = 24 * 3600;

const RateLimit = z
  .object({
    requests: z.number().int().min(1).max(1_000_000),
    window_seconds: z.number().int().min(1).max(86_400),
  })
  .strict()
  .meta({ id: "KeyRateLimit", description: "Requests allowed per sliding window, for this key only" });

export const CreateKeyBody = z
  .object({
    name: KeyName,
    scopes: z
      .array(z.enum(SCOPES))
      .min(1)
      .max(SCOPES.length)
      .refine((s) => new Set(s).size === s.length, "must not repeat a scope"),
    /** Absolute expiry; omitted: the key never expires. */
    expires_at: z.iso
      .datetime({ offset: true })
      .refine((s) => Date.parse(s) > Date.now(), "must be in the future")
      .optional(),
    rate_limit: RateLimit.optional(),
  })
  .strict()
  .meta({ id: "CreateKeyBody" });
export type CreateKeyBody = z.infer<typeof CreateKeyBody>;

export const RotateKeyBody = z
  .object({
    grace_seconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).default(DEFAULT_GRACE_SECONDS),
  })
  .strict()
  .meta({ id: "RotateKeyBody" });

export const RevokeKeyBody = z.object({}).strict();

/** A stored key as every answer shows it: never the key, nor its hash. */
export const ApiKey = z
  .object({
    id: KeyId,
    name: z.string(),
    scopes: z.array(z.enum(SCOPES)),
    rate_limit: RateLimit.nullable(),
    expires_at: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
    last_used_at: z.string().nullable().meta({ description: "Coarse: updated at most once a minute per instance's key refresh" }),
    revoked_at: z.string().nullable(),
    revoked_by: z.string().nullable(),
    rotated_from: z.string().nullable(),
    replaced_by: z.string().nullable(),
    state: z.enum(["active", "rotating", "expired", "revoked"]),
  })
  .meta({ id: "ApiKey", description: "A stored API key (its secret is shown once, by create or rotate)" });
export type ApiKey = z.infer<typeof ApiKey>;

export const IssuedKey = z
  .object({
    key: z.string().meta({ description: "The secret: shown this once, never stored (only its SHA-256)" }),
    api_key: ApiKey,
    active_everywhere_by: z.string().meta({ description: "Every API instance accepts it by then (the key refresh bound)" }),
  })
  .meta({ id: "IssuedKey" });
export type IssuedKey = z.infer<typeof IssuedKey>;

export const AccessAuditQuery = z
  .object({
    principal: KeyName.optional(),
    route: z
      .string()
      .max(200)
      .regex(/^\/[A-Za-z0-9_./{}-]*$/, "must be a route template such as /v1/reviews/{id}/approve")
      .optional(),
    kind: z.enum(["request", "key", "auth_failure"]).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type AccessAuditQuery = z.infer<typeof AccessAuditQuery>;

export const AuditEntry = z
  .object({
    id: z.string(),
    at: z.string(),
    kind: z.enum(["request", "key", "auth_failure"]),
    principal: z.string().nullable(),
    key_id: z.string().nullable(),
    method: z.string().nullable(),
    route: z.string().nullable(),
    resource_id: z.string().nullable().meta({ description: "The path's id; a user id appears only as its keyed hash (user:…)" }),
    status: z.number().nullable(),
    request_id: z.string().nullable(),
    event: z.string().nullable(),
    count: z.number().nullable(),
  })
  .meta({ id: "AuditEntry" });
export type AuditEntry = z.infer<typeof AuditEntry>;
