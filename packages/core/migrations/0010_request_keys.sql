-- Retry safety: a client's Idempotency-Key is remembered where a repeated request would otherwise
-- apply twice (an LTV increment, a recovered-message count, a protocol audit row, a history turn,
-- a recovery operation). The last key of a row is enough for an increment: a retry repeats the
-- request just made.
ALTER TABLE user_current_status ADD COLUMN last_request_key text;
ALTER TABLE user_protocol_status ADD COLUMN last_request_key text;
ALTER TABLE message_processing_cursors ADD COLUMN last_request_key text;
ALTER TABLE recovery_operations ADD COLUMN request_key text UNIQUE;
ALTER TABLE memory_messages ADD COLUMN request_key text;
CREATE UNIQUE INDEX memory_messages_request_key ON memory_messages (user_id, request_key) WHERE request_key IS NOT NULL;

-- Counters and money that realistic use could overflow: bigint counts, unbounded numeric LTV.
ALTER TABLE user_current_status ALTER COLUMN ltv_usd TYPE numeric;
ALTER TABLE message_processing_cursors ALTER COLUMN total_recovered_messages TYPE bigint;
ALTER TABLE recovery_operations ALTER COLUMN users_checked TYPE bigint, ALTER COLUMN messages_recovered TYPE bigint,
  ALTER COLUMN messages_skipped TYPE bigint, ALTER COLUMN errors_encountered TYPE bigint;
