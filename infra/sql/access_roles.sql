-- The environment database's login roles, every one authenticated by IAM
-- (a 15-minute token from `aws rds generate-db-auth-token`), none with a password:
--   app_role       the application: reads and writes rows, creates tables;
--   readonly_role  people who may look (developers, QA in production and staging);
--   readwrite_role people who may change rows (developers where config allows).
-- readonly / readwrite (true|false) say whether that role is wanted here; an
-- unwanted one that exists from an earlier config may no longer log in (its
-- grants stay, so turning it back on is one run). Safe to run twice: every
-- statement converges.
--   psql -v ON_ERROR_STOP=1 -v dbname=... -v owner=... -v app_role=... \
--        -v readonly_role=... -v readonly=true -v readwrite_role=... -v readwrite=false \
--        -d <dbname> -f access_roles.sql
-- Connected as the RDS master user (`owner`, the database's owner) to the
-- application database on the primary; the replicas follow by replication.

CREATE TEMPORARY TABLE wanted (name text, access text) ON COMMIT PRESERVE ROWS;
INSERT INTO wanted
SELECT name, access
  FROM (VALUES (:'app_role', 'app', true),
               (:'readonly_role', 'read-only', :'readonly'::boolean),
               (:'readwrite_role', 'read-write', :'readwrite'::boolean)) AS v(name, access, want)
 WHERE want;

SELECT format('CREATE ROLE %I LOGIN', name)
  FROM wanted
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = wanted.name) \gexec
-- No password: the only way in is an IAM token, which names the role and
-- the instance (README "Who may do what"). (SUPERUSER and REPLICATION are
-- off from CREATE ROLE; only a superuser may even name them.)
SELECT format('ALTER ROLE %I WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD NULL', name)
  FROM wanted \gexec
-- On RDS the rds_iam role switches a login to IAM authentication; a server
-- without it (the tests') has nothing to grant.
SELECT format('GRANT rds_iam TO %I', name)
  FROM wanted
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') \gexec

-- Roles no longer wanted keep their grants but cannot log in.
SELECT format('ALTER ROLE %I NOLOGIN', name)
  FROM (VALUES (:'readonly_role'), (:'readwrite_role')) AS v(name)
 WHERE name NOT IN (SELECT name FROM wanted)
   AND EXISTS (SELECT FROM pg_roles WHERE rolname = v.name) \gexec

-- The database is closed to everyone not granted it: the preview stacks'
-- roles live on the same instance (staging, dev) and must not even connect.
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'dbname', name) FROM wanted \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', name) FROM wanted \gexec

-- The application creates its tables (migrations), so it may create in public.
SELECT format('GRANT CREATE ON SCHEMA public TO %I', name)
  FROM wanted WHERE access = 'app' \gexec

-- Rows: the application and read-write people change them, read-only people
-- read them; the same for the tables that exist and for those made later.
CREATE TEMPORARY TABLE role_privileges (access text, objects text, granted text);
INSERT INTO role_privileges VALUES
    ('app', 'TABLES', 'SELECT, INSERT, UPDATE, DELETE'),
    ('app', 'SEQUENCES', 'USAGE, SELECT, UPDATE'),
    ('read-write', 'TABLES', 'SELECT, INSERT, UPDATE, DELETE'),
    ('read-write', 'SEQUENCES', 'USAGE, SELECT, UPDATE'),
    ('read-only', 'TABLES', 'SELECT'),
    ('read-only', 'SEQUENCES', 'SELECT');
SELECT format('GRANT %s ON ALL %s IN SCHEMA public TO %I', p.granted, p.objects, w.name)
  FROM wanted w JOIN role_privileges p USING (access) \gexec

-- The owner (the master user, running this) becomes a member of the
-- application role, able to act as it: to hand it the schema's objects and
-- to set the defaults of what it creates. Before PostgreSQL 16 plain
-- membership gives both; from 16 on, a role's creator holds only ADMIN
-- OPTION, so INHERIT and SET are granted explicitly (as create.sql does).
SELECT format('GRANT %I TO %I', name, :'owner')
  FROM wanted
 WHERE access = 'app'
   AND current_setting('server_version_num')::int < 160000
   AND NOT pg_has_role(:'owner', name, 'MEMBER') \gexec
SELECT format('GRANT %I TO %I WITH INHERIT TRUE, SET TRUE', name, :'owner')
  FROM wanted
 WHERE access = 'app'
   AND current_setting('server_version_num')::int >= 160000
   AND NOT (pg_has_role(:'owner', name, 'USAGE') AND pg_has_role(:'owner', name, 'SET')) \gexec

-- The application owns the schema's tables, views and sequences: its
-- migrations alter and index them, which only an owner may. Whatever the
-- owner made (an environment from before the application had a role of its
-- own, each load of the data import) is handed over; sequences of a serial
-- or identity column follow their table.
SELECT format('ALTER %s public.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
              c.relname, wanted.name)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN wanted ON wanted.access = 'app'
 WHERE n.nspname = 'public'
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND pg_get_userbyid(c.relowner) = :'owner'
   AND NOT (c.relkind = 'S' AND EXISTS (
            SELECT FROM pg_depend d
             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
               AND d.deptype IN ('a', 'i'))) \gexec

-- Tables created later get the same grants, whoever creates them: the owner
-- or the application's migrations.
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT %s ON %s TO %I',
              creator.name, p.granted, p.objects, grantee.name)
  FROM (SELECT :'owner' AS name UNION SELECT name FROM wanted WHERE access = 'app') AS creator,
       wanted AS grantee JOIN role_privileges p USING (access)
 WHERE creator.name <> grantee.name \gexec

-- People's sessions: read-only by default (the grants are what enforce it;
-- this keeps a stray write from even trying), and no transaction left open
-- from a laptop holding locks and vacuum back on a production database.
SELECT format('ALTER ROLE %I SET default_transaction_read_only = on', name)
  FROM wanted WHERE access = 'read-only' \gexec
SELECT format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', name, '10min')
  FROM wanted WHERE access IN ('read-only', 'read-write') \gexec
SELECT format('ALTER ROLE %I SET statement_timeout = %L', name, '5min')
  FROM wanted WHERE access IN ('read-only', 'read-write') \gexec
