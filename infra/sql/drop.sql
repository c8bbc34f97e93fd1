-- Remove the stack's database and role. Safe to run twice.
--   psql -v ON_ERROR_STOP=1 -v dbname=... -v role=... -d postgres -f drop.sql

-- DROP DATABASE refuses while anyone is connected; FORCE (PostgreSQL 13+)
-- ends those sessions first.
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'dbname') \gexec

-- The role may still own objects elsewhere (a default privilege, a grant);
-- hand them to the current user before dropping it.
SELECT format('REASSIGN OWNED BY %I TO CURRENT_USER', :'role')
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('DROP OWNED BY %I', :'role')
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('DROP ROLE IF EXISTS %I', :'role') \gexec
