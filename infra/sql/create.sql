-- Create the stack's role and database. Safe to run twice.
--   psql -v ON_ERROR_STOP=1 -v dbname=... -v role=... -v password=... -d postgres -f create.sql
-- Connected as the RDS master user (member of rds_superuser, not a superuser).

SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec

-- Re-applied every run, so a rotated password in the stack's secret takes effect.
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec

-- The RDS master user is not a superuser: to create a database owned by the
-- role, connect to it, reset it and drop it, it must be able to SET ROLE to
-- the role and inherit its privileges. Before PostgreSQL 16 plain membership
-- gives both. From 16 on, the role's creator gets only ADMIN OPTION, so the
-- membership is granted (or upgraded) with INHERIT and SET explicitly.
SELECT format('GRANT %I TO CURRENT_USER', :'role')
 WHERE current_setting('server_version_num')::int < 160000
   AND NOT pg_has_role(current_user, :'role', 'MEMBER') \gexec
SELECT format('GRANT %I TO CURRENT_USER WITH INHERIT TRUE, SET TRUE', :'role')
 WHERE current_setting('server_version_num')::int >= 160000
   AND NOT (pg_has_role(current_user, :'role', 'USAGE')
            AND pg_has_role(current_user, :'role', 'SET')) \gexec

SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec

-- Every database starts open to PUBLIC: close it, so one preview
-- environment's role cannot connect to another's database.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'dbname', :'role') \gexec
