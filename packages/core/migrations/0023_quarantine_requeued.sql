-- One decision per quarantined message. Processing used to put the message back on the WAL first
-- and then mark it processed; a delete between the two answered 200 while the message was
-- delivered anyway. Now the decision (processed, or deleted) is taken once in Postgres, and only
-- a message decided processed is queued after that commit; requeued_at records that the WAL took
-- it (NULL: decided, not yet queued: the next process call of it, or the daily job, queues it).
ALTER TABLE quarantine_messages ADD COLUMN requeued_at timestamptz;
UPDATE quarantine_messages SET requeued_at = processed_at WHERE processed;
CREATE INDEX quarantine_requeue_pending ON quarantine_messages (processed_at) WHERE processed AND requeued_at IS NULL;
