-- Create the stack's role and database. Safe to run twice.
--   psql -v ON_ERROR_STOP=1 -v dbname=... -v role=... -v password=... -d postgres -f create.sql
-- Connected as the RDS master user (member of rds_superuser, not a superuser).

SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec

-- Re-applied every run, so a rotated password in the stack's secret takes effect.
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec

-- On RDS the master user may only create a database owned by a role it is a
-- member of; granting again is a no-op with a notice.
SELECT format('GRANT %I TO CURRENT_USER', :'role')
 WHERE NOT pg_has_role(current_user, :'role', 'MEMBER') \gexec

SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec

-- Every database starts open to PUBLIC: close it, so one preview
-- environment's role cannot connect to another's database.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'dbname', :'role') \gexec
