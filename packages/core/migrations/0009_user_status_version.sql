-- The user status cache is versioned like the protocol cache (0008): every change of a row takes
-- a new number from one sequence, and the cache is only ever replaced by a newer state.
CREATE SEQUENCE user_current_status_version;
ALTER TABLE user_current_status ADD COLUMN version bigint NOT NULL DEFAULT nextval('user_current_status_version');
ALTER SEQUENCE user_current_status_version OWNED BY user_current_status.version;

CREATE FUNCTION hitl_status_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := nextval('user_current_status_version');
  RETURN NEW;
END $$;

CREATE TRIGGER user_current_status_version BEFORE UPDATE ON user_current_status
  FOR EACH ROW EXECUTE FUNCTION hitl_status_version();
