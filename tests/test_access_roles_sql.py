"""infra/sql/access_roles.sql against a real PostgreSQL server: what PostgreSQL decides.

The script runs through run.sh exactly as the `database-access-roles` Job
runs it, as a master user that is no superuser (like RDS's). The people's
roles are then tried for what they must and must not be able to do; IAM
tokens are RDS's part (rds_iam), so here the roles log in by the test
server's trust rule.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from infra.sql import SQL_DIR
from tests.postgres import MASTER, psql, server

__all__ = ["server"]

DATABASE = "app"
APP, READ_ONLY, READ_WRITE = "stagecraft_app", "stagecraft_readonly", "stagecraft_readwrite"


def _access_roles(
    server: dict[str, str], tmp: Path, *, readonly: bool, readwrite: bool
) -> subprocess.CompletedProcess[str]:
    secret = tmp / "admin.json"
    secret.write_text(f'{{"username":"{MASTER}","password":"master-pw"}}')
    env = {
        **os.environ,
        "PGHOST": server["host"],
        "PGPORT": server["port"],
        "SQL_DIR": str(SQL_DIR),
        "ADMIN_SECRET_FILE": str(secret),
        "DBNAME": DATABASE,
        "ROLE": MASTER,
        "APP_ROLE": APP,
        "READONLY_ROLE": READ_ONLY,
        "WANT_READONLY": str(readonly).lower(),
        "READWRITE_ROLE": READ_WRITE,
        "WANT_READWRITE": str(readwrite).lower(),
    }
    return subprocess.run(
        ["sh", str(SQL_DIR / "run.sh"), "access-roles"],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def _as(server: dict[str, str], user: str, sql: str) -> subprocess.CompletedProcess[str]:
    """``sql`` in one session, each statement its own query (as typed at a prompt)."""
    commands = [arg for statement in sql.split("; ") for arg in ("-c", statement)]
    return psql(server, *commands, user=user, database=DATABASE, check=False)


@pytest.fixture(scope="module")
def database(server, tmp_path_factory):
    """The environment database as RDS makes it (owned by the master user), with a
    table the owner made before the roles existed, and the roles (run twice)."""
    psql(server, "-c", f"CREATE DATABASE {DATABASE}")
    psql(server, "-c", "CREATE TABLE orders (id bigserial PRIMARY KEY, total int)",
         database=DATABASE)  # fmt: skip
    psql(server, "-c", "INSERT INTO orders (total) VALUES (10), (20)", database=DATABASE)
    tmp = tmp_path_factory.mktemp("access")
    for _ in range(2):  # idempotent: the second run converges without error
        result = _access_roles(server, tmp, readonly=True, readwrite=True)
        assert result.returncode == 0, result.stderr
    assert f"access-roles of database {DATABASE}" in result.stdout
    return tmp


def test_each_role_exists_logs_in_and_has_no_password(server, database):
    rows = psql(
        server, "-c",
        "SELECT rolname, rolcanlogin, rolpassword IS NULL, rolsuper, rolcreaterole, rolcreatedb "
        f"FROM pg_authid WHERE rolname IN ('{APP}', '{READ_ONLY}', '{READ_WRITE}') ORDER BY 1",
        as_superuser=True,
    ).stdout.split()  # fmt: skip
    assert rows == [f"{name}|t|t|f|f|f" for name in sorted((APP, READ_ONLY, READ_WRITE))]


def test_read_only_reads_and_really_cannot_write(server, database):
    assert _as(server, READ_ONLY, "SELECT sum(total) FROM orders").stdout.strip() == "30"
    # Turning the session's read-only default off changes nothing: the grants decide.
    for statement in (
        "SET default_transaction_read_only = off; INSERT INTO orders (total) VALUES (1)",
        "BEGIN READ WRITE; UPDATE orders SET total = 0; COMMIT",
        "SET default_transaction_read_only = off; DELETE FROM orders",
        "SET default_transaction_read_only = off; TRUNCATE orders",
        "SET default_transaction_read_only = off; CREATE TABLE mine (x int)",
        "SET default_transaction_read_only = off; SELECT nextval('orders_id_seq')",
        "SET default_transaction_read_only = off; DROP TABLE orders",
    ):
        denied = _as(server, READ_ONLY, statement)
        assert denied.returncode != 0, statement
        assert "permission denied" in denied.stderr or "must be owner" in denied.stderr, (
            statement,
            denied.stderr,
        )
    assert psql(server, "-c", "SELECT sum(total) FROM orders", database=DATABASE).stdout.strip() \
        == "30"  # fmt: skip


def test_read_only_sessions_start_read_only_and_time_out(server, database):
    settings = _as(
        server, READ_ONLY,
        "SELECT current_setting('default_transaction_read_only'), "
        "current_setting('idle_in_transaction_session_timeout'), "
        "current_setting('statement_timeout')",
    ).stdout.strip()  # fmt: skip
    assert settings == "on|10min|5min"
    refused = _as(server, READ_ONLY, "INSERT INTO orders (total) VALUES (1)")
    assert "read-only transaction" in refused.stderr


def test_read_write_changes_rows_but_not_the_schema(server, database):
    changed = _as(server, READ_WRITE, "INSERT INTO orders (total) VALUES (5) RETURNING total")
    assert changed.stdout.strip() == "5", changed.stderr
    assert _as(server, READ_WRITE, "DELETE FROM orders WHERE total = 5").returncode == 0
    for statement in ("CREATE TABLE mine (x int)", "DROP TABLE orders",
                      "ALTER TABLE orders ADD COLUMN x int", "TRUNCATE orders"):  # fmt: skip
        denied = _as(server, READ_WRITE, statement)
        assert denied.returncode != 0, statement


def test_the_application_creates_tables_the_people_can_then_use(server, database):
    created = _as(
        server, APP,
        "CREATE TABLE carts (id bigserial PRIMARY KEY, items int); "
        "INSERT INTO carts (items) VALUES (3)",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    # Default privileges: tables made later, by the application or the owner,
    # are readable by read-only and writable by read-write without a re-run.
    assert _as(server, READ_ONLY, "SELECT items FROM carts").stdout.strip() == "3"
    assert _as(server, READ_WRITE, "INSERT INTO carts (items) VALUES (4)").returncode == 0
    psql(server, "-c", "CREATE TABLE imported (x int); INSERT INTO imported VALUES (7)",
         database=DATABASE)  # fmt: skip
    assert _as(server, READ_ONLY, "SELECT x FROM imported").stdout.strip() == "7"
    assert _as(server, APP, "UPDATE imported SET x = 8").returncode == 0
    assert _as(server, READ_ONLY, "INSERT INTO carts (items) VALUES (1)").returncode != 0


def test_other_roles_on_the_instance_cannot_connect(server, database):
    # A preview stack's role lives on the same instance (staging, dev).
    psql(server, "-c", "CREATE ROLE pr_7 LOGIN")
    denied = _as(server, "pr_7", "SELECT 1")
    assert denied.returncode != 0
    assert "permission denied for database" in denied.stderr


def test_a_role_no_longer_wanted_can_no_longer_log_in_and_comes_back(server, database):
    result = _access_roles(server, database, readonly=True, readwrite=False)
    assert result.returncode == 0, result.stderr
    refused = _as(server, READ_WRITE, "SELECT 1")
    assert refused.returncode != 0
    assert "not permitted to log in" in refused.stderr
    result = _access_roles(server, database, readonly=True, readwrite=True)
    assert result.returncode == 0, result.stderr
    assert _as(server, READ_WRITE, "SELECT count(*) > 0 FROM orders").stdout.strip() == "t"


def test_the_application_owns_the_schema_so_its_migrations_can_alter_it(server, database):
    # `orders` was the owner's before the roles existed (an environment from
    # before the application had a role): now the application's, with its
    # serial sequence, and the people's grants still hold.
    owners = psql(
        server, "-c",
        "SELECT c.relname || ':' || pg_get_userbyid(c.relowner) FROM pg_class c "
        "WHERE c.relname IN ('orders', 'orders_id_seq') ORDER BY 1",
        database=DATABASE,
    ).stdout.split()  # fmt: skip
    assert owners == [f"orders:{APP}", f"orders_id_seq:{APP}"]
    migrated = _as(server, APP, "ALTER TABLE orders ADD COLUMN note text; "
                                "CREATE INDEX orders_total ON orders (total)")  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    assert _as(server, READ_ONLY, "SELECT count(note) FROM orders").returncode == 0


def test_a_replaced_schema_gets_its_grants_back(server, database):
    # What staging's weekly import does: the public schema dropped and loaded
    # again as the owner, which takes every grant and default with it; then
    # the same script gives them back (import.sh runs it after the load).
    psql(server, "-c", "DROP SCHEMA public CASCADE; CREATE SCHEMA public; "
         "CREATE TABLE public.orders (id bigserial PRIMARY KEY, total int); "
         "INSERT INTO public.orders (total) VALUES (1), (2)", database=DATABASE)  # fmt: skip
    assert _as(server, READ_ONLY, "SELECT count(*) FROM orders").returncode != 0
    result = _access_roles(server, database, readonly=True, readwrite=True)
    assert result.returncode == 0, result.stderr
    assert _as(server, READ_ONLY, "SELECT count(*) FROM orders").stdout.strip() == "2"
    assert _as(server, APP, "INSERT INTO orders (total) VALUES (3); "
                            "CREATE TABLE later (x int)").returncode == 0  # fmt: skip
    # The defaults came back too: what the application makes next is readable.
    assert _as(server, READ_ONLY, "SELECT count(*) FROM later").returncode == 0


def test_the_export_reads_tables_the_application_creates(server, database):
    psql(server, "-v", "export_role=stagecraft_export", "-v", f"dbname={DATABASE}",
         "-v", f"owner={MASTER}", "-v", f"app_role={APP}",
         "-f", str(SQL_DIR / "export_role.sql"), database=DATABASE)  # fmt: skip
    assert _as(server, APP, "CREATE TABLE invoices (id int)").returncode == 0
    dumped = _as(server, "stagecraft_export", "SELECT count(*) FROM invoices")
    assert dumped.returncode == 0, dumped.stderr
