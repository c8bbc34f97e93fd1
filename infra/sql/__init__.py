"""SQL run inside the cluster against the environment's PostgreSQL.

Every script is idempotent (safe to run twice) and takes its names as psql
variables, quoted with format('%I') / %L, never pasted into the text:

- create.sql: the stack's role and database, the database closed to others;
- reset.sql: empty the database's public schema and hand it to the role
  (followed by seed.sql, the seed data, run as that role);
- drop.sql: end the database's sessions, drop it and the role;
- restore.sql: replace the public schema with a pg_dump, owned by the role
  (a preview's initialData: anonymised);
- export_role.sql: the read-only, IAM-authenticated role the data export reads as;
- access_roles.sql: the environment database's IAM-authenticated roles (the
  application, read-only and read-write people);
- run.sh: what the Jobs run (`run.sh create|reset|drop|export-role|access-roles`) with the admin
  credentials from the environment's `database-master` secret.
"""

from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent
SCRIPTS = (
    "create.sql",
    "reset.sql",
    "drop.sql",
    "seed.sql",
    "restore.sql",
    "export_role.sql",
    "access_roles.sql",
    "run.sh",
)


def script(name: str) -> str:
    if name not in SCRIPTS:
        raise ValueError(f"no SQL script {name}; scripts: {', '.join(SCRIPTS)}")
    return (SQL_DIR / name).read_text(encoding="utf-8")
