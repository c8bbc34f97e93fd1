-- The export's database role: logs in with an IAM token only (no password),
-- reads the application's tables, can write nothing. Safe to run twice.
--   psql -v ON_ERROR_STOP=1 -v export_role=... -v dbname=... -v owner=... -v app_role=... \
--        -d <dbname> -f export_role.sql
-- Connected as the RDS master user, to the application database, on the primary
-- (the read replicas get the role and grants by replication).

SELECT format('CREATE ROLE %I LOGIN', :'export_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'export_role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD NULL',
              :'export_role') \gexec
SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', :'export_role') \gexec
-- IAM authentication: on RDS the rds_iam role exists; elsewhere (the tests'
-- server) there is nothing to grant.
SELECT format('GRANT rds_iam TO %I', :'export_role')
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') \gexec

SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'dbname', :'export_role') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'export_role') \gexec
SELECT format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', :'export_role') \gexec
-- Tables the application's migrations create later are readable too (the
-- export's rules still have to classify them before it copies anything).
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I',
              :'owner', :'export_role') \gexec
-- And those the application's migrations create (it owns the schema's
-- objects where it has a role of its own: access_roles.sql, run before this).
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I',
              :'app_role', :'export_role')
 WHERE :'app_role' <> '' AND EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
