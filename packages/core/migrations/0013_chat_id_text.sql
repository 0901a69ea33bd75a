-- Telegram's chat_id is "Integer or String" (a numeric id, or @channelusername): stored as text.
-- Numeric ids keep their decimal form, so the API answers them as numbers again.
ALTER TABLE interactions ALTER COLUMN chat_id TYPE text USING chat_id::text;
ALTER TABLE quarantine_messages ALTER COLUMN chat_id TYPE text USING chat_id::text;
