/** Tables holding a user's rows, erased by user_id (interactions: every partition). */
export const USER_TABLES = [
  "interactions",
  "interaction_keys",
  "user_current_status",
  "user_protocol_status",
  "quarantine_messages",
  "message_processing_cursors",
  "user_memory",
  "memory_messages",
  "idempotency_keys",
  "customer_status_transitions",
  "commitments",
  "coherence_analyses",
  "prompt_rotations",
  "memory_resets",
  "analytics_user_daily",
] as const;

/**
 * Where free-form JSON names a user: a field of one of these names, at any depth, holding the id
 * (`user_id`) or an array of ids (`user_ids`). An erasure replaces exactly those values, when they
 * are the erased id, with "[erased]" (migration 0020); free text is never searched (no code can
 * tell an id from a number or a word in it).
 */
export const USER_ID_FIELDS = ["user_id", "user_ids"] as const;

/** The API's description of that rule, on every free-form field an erasure may rewrite. */
export const USER_FIELDS_NOTE =
  "Free-form JSON. A user is named only in a field called `user_id` (the id, a string or number) or `user_ids` (an array of ids), at any depth: " +
  'erasing a user (DELETE /v1/users/{id}) replaces exactly those values that are the erased id with "[erased]". Nothing else is rewritten; an id written anywhere else (in text, keys, other fields) is not found by an erasure.';
/** The same for JSON that belongs to one user (erased whole with the user's rows). */
export const OWN_USER_DATA_NOTE =
  "Free-form JSON of this user: erased whole with the user's rows (DELETE /v1/users/{id}); it is not searched when another user is erased, so it must not name other users.";
