-- Optimistic concurrency for context writes that need a second statement (lossy compression).
ALTER TABLE user_memory ADD COLUMN version bigint NOT NULL DEFAULT 0;
