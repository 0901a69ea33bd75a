-- The status a row had before its last change, written by the same upsert that changes it, so the
-- audit row carries the true previous status even under concurrent toggles (row-locked by the upsert).
ALTER TABLE user_protocol_status ADD COLUMN previous_status varchar(20);
