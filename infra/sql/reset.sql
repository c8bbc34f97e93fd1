-- Reset the stack's database to an empty public schema owned by its role.
-- Safe to run twice. Followed in the same session by seed.sql:
--   psql -v ON_ERROR_STOP=1 -v role=... -d <dbname> -f reset.sql -f seed.sql

DROP SCHEMA IF EXISTS public CASCADE;
SELECT format('CREATE SCHEMA public AUTHORIZATION %I', :'role') \gexec
SELECT format('GRANT USAGE, CREATE ON SCHEMA public TO %I', :'role') \gexec

-- The seed data is created as the role, so the application owns it.
SELECT format('SET ROLE %I', :'role') \gexec
