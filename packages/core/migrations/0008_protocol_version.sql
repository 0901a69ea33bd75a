-- Every change of a protocol row takes a new number from one sequence: the Redis cache keeps the
-- newest state it was given, whatever order concurrent writers reach it in (a silenced user's
-- ACTIVE must never be overwritten by an older INACTIVE read a moment before). One sequence, not
-- a per-row counter, so a row erased and created again still numbers above its cached past.
CREATE SEQUENCE user_protocol_status_version;
ALTER TABLE user_protocol_status ADD COLUMN version bigint NOT NULL DEFAULT nextval('user_protocol_status_version');
ALTER SEQUENCE user_protocol_status_version OWNED BY user_protocol_status.version;

CREATE FUNCTION hitl_protocol_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := nextval('user_protocol_status_version');
  RETURN NEW;
END $$;

CREATE TRIGGER user_protocol_status_version BEFORE UPDATE ON user_protocol_status
  FOR EACH ROW EXECUTE FUNCTION hitl_protocol_version();
