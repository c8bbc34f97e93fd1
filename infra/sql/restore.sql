-- Replace the stack's public schema with a pg_dump of another database's (the
-- shared stack's anonymised copy of production), owned by the stack's role.
--   psql -v ON_ERROR_STOP=1 -v role=... -v dump=<file> -d <dbname> -f restore.sql
\set ON_ERROR_STOP on
BEGIN;
DROP SCHEMA IF EXISTS public CASCADE;
SELECT format('SET ROLE %I', :'role') \gexec
\i :dump
RESET ROLE;
COMMIT;
