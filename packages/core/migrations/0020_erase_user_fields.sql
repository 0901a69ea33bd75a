-- Erasure touches only its user. 0011's hitl_scrub_json replaced the id as a substring of every
-- string and key of free-form JSON, and any number equal to it: erasing user `e` rewrote
-- "error_type" in every recovery operation, and a count of 1 became "[erased]" for user `1`.
-- In free text no code can tell a user id from a number, so a record names a user only where the
-- schema says a user id goes: a field named `user_id` (the id, a string or a number) or `user_ids`
-- (an array of ids), at any depth. Only those values are replaced, and only when they are one of
-- the erased ids; keys are never renamed, nothing else is rewritten.

-- Whether a value in a user-id field is one of the ids: the same string, or a number written as one.
CREATE FUNCTION hitl_names_user(v jsonb, ids text[]) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT (jsonb_typeof(v) = 'string' AND (v #>> '{}') = ANY(ids)) OR (jsonb_typeof(v) = 'number' AND v::text = ANY(ids))
$$;

-- Values are at most 32 levels deep (checked at the edge).
CREATE FUNCTION hitl_erase_user_fields(j jsonb, ids text[]) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  t text := jsonb_typeof(j);
BEGIN
  IF j IS NULL OR ids IS NULL OR cardinality(ids) = 0 THEN RETURN j; END IF;
  IF t = 'object' THEN
    RETURN (SELECT coalesce(jsonb_object_agg(k, CASE
        WHEN k = 'user_id' AND hitl_names_user(v, ids) THEN to_jsonb('[erased]'::text)
        WHEN k = 'user_ids' AND jsonb_typeof(v) = 'array' THEN
          (SELECT coalesce(jsonb_agg(CASE WHEN hitl_names_user(x, ids) THEN to_jsonb('[erased]'::text) ELSE hitl_erase_user_fields(x, ids) END ORDER BY n), '[]'::jsonb)
           FROM jsonb_array_elements(v) WITH ORDINALITY AS a(x, n))
        ELSE hitl_erase_user_fields(v, ids) END), '{}'::jsonb)
      FROM jsonb_each(j) AS e(k, v));
  ELSIF t = 'array' THEN
    RETURN (SELECT coalesce(jsonb_agg(hitl_erase_user_fields(v, ids) ORDER BY n), '[]'::jsonb) FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n));
  END IF;
  RETURN j;
END $$;

-- Every value in a user-id field of a document (strings and numbers, as text): what a restore
-- hashes to find the erased users a recovery operation still names.
CREATE FUNCTION hitl_user_field_values(j jsonb) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
  SELECT v #>> '{}' FROM jsonb_path_query(coalesce(j, 'null'), 'lax $.**.user_id', '{}', true) AS p(v) WHERE jsonb_typeof(v) IN ('string', 'number')
  UNION
  SELECT e #>> '{}' FROM jsonb_path_query(coalesce(j, 'null'), 'lax $.**.user_ids', '{}', true) AS p(v),
    jsonb_array_elements(CASE WHEN jsonb_typeof(v) = 'array' THEN v ELSE '[]' END) AS a(e) WHERE jsonb_typeof(e) IN ('string', 'number')
$$;

DROP FUNCTION hitl_scrub_json(jsonb, text);
