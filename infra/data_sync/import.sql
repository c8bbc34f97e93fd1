-- Replace the public schema with a dump, in one transaction (run by import.sh
-- load in the dump directory; psql variables: role, load_script).
\set ON_ERROR_STOP on
\set rows `cat rows.json`
-- The application's open transactions hold locks on its tables: wait for them
-- a while, then fail (and alert) rather than hang until the Job's deadline.
SET lock_timeout = '10min';
BEGIN;
DROP SCHEMA IF EXISTS public CASCADE;
-- Created as the role, so the application owns what it gets.
SELECT format('SET ROLE %I', :'role') \gexec
\i pre-data.sql
\i :load_script
\i post-data.sql
-- pre-data.sql emptied search_path: everything below is schema-qualified.

-- Sequences continue after the loaded rows.
SELECT format('SELECT pg_catalog.setval(%L, coalesce((SELECT max(%I) FROM public.%I), 0) + 1, false)',
              seq, column_name, table_name)
  FROM (SELECT c.table_name, c.column_name,
               pg_catalog.pg_get_serial_sequence(format('public.%I', c.table_name), c.column_name) AS seq
          FROM information_schema.columns c
         WHERE c.table_schema = 'public') AS owned
 WHERE seq IS NOT NULL \gexec

-- Every table holds the rows the manifest counted, or nothing changes.
SELECT pg_catalog.set_config('stagecraft.expected_rows', :'rows', true);
DO $verify$
DECLARE
    table_name text;
    expected bigint;
    loaded bigint;
BEGIN
    FOR table_name, expected IN
        SELECT key, value::bigint
          FROM pg_catalog.json_each_text(pg_catalog.current_setting('stagecraft.expected_rows')::json)
    LOOP
        EXECUTE format('SELECT count(*) FROM public.%I', table_name) INTO loaded;
        IF loaded <> expected THEN
            RAISE EXCEPTION 'import: public.% has % rows, the dump''s manifest says %',
                table_name, loaded, expected;
        END IF;
    END LOOP;
END
$verify$;
RESET ROLE;
COMMIT;
-- Fresh statistics for the loaded tables (not the whole database's catalogs).
SELECT format('ANALYZE public.%I', tablename) FROM pg_catalog.pg_tables
 WHERE schemaname = 'public' \gexec
