-- An erasure whose Redis part could not finish after Postgres was erased: completed by the next
-- DELETE of the user, by any instance when its Redis breaker closes, and by the daily job. The
-- user id is kept only until then (the erasure log itself holds only a keyed hash).
CREATE TABLE pending_erasures (
  user_id    text        PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A user id scrubbed from free-form JSON wherever it appears: inside strings and keys (as a
-- substring) and as a number equal to it. Values are at most 32 levels deep (checked at the edge).
CREATE FUNCTION hitl_scrub_json(j jsonb, id text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  t text := jsonb_typeof(j);
BEGIN
  IF j IS NULL OR id IS NULL OR id = '' THEN RETURN j; END IF;
  IF t = 'object' THEN
    RETURN (SELECT coalesce(jsonb_object_agg(replace(k, id, '[erased]'), hitl_scrub_json(v, id)), '{}'::jsonb) FROM jsonb_each(j) AS e(k, v));
  ELSIF t = 'array' THEN
    RETURN (SELECT coalesce(jsonb_agg(hitl_scrub_json(v, id) ORDER BY n), '[]'::jsonb) FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n));
  ELSIF t = 'string' THEN
    RETURN to_jsonb(replace(j #>> '{}', id, '[erased]'));
  ELSIF t = 'number' AND j::text = id THEN
    RETURN to_jsonb('[erased]'::text);
  END IF;
  RETURN j;
END $$;
