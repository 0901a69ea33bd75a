-- A Telegram message is quarantined at most once per user (a retried ingest must not double-count).
CREATE UNIQUE INDEX quarantine_user_telegram ON quarantine_messages (user_id, telegram_message_id)
  WHERE telegram_message_id IS NOT NULL;
