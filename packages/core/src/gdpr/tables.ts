/** Tables holding a user's rows, erased by user_id (interactions: every partition). */
export const USER_TABLES = ["interactions", "interaction_keys", "user_current_status", "user_protocol_status", "quarantine_messages",
  "message_processing_cursors", "user_memory", "memory_messages", "analytics_user_daily"] as const;
