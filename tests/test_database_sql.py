"""The in-cluster SQL (create, reset, drop) against a real PostgreSQL server.

The server is started by the test from the machine's PostgreSQL binaries on
a loopback port and stopped afterwards; psql runs the scripts exactly as
the Kubernetes Jobs do (``-v name=value -f script``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from infra.sql import SQL_DIR
from tests.postgres import MASTER, create, drop, psql, reset, server

__all__ = ["server"]  # the fixture, imported for the tests below


def _exists(server: dict[str, str], catalog: str, column: str, name: str) -> bool:
    out = psql(server, "-c", f"SELECT count(*) FROM {catalog} WHERE {column} = '{name}'").stdout
    return out.strip() == "1"


def test_create_is_idempotent_and_quotes_names(server):
    # Hyphens, capitals and a quote: all need %I quoting to survive.
    dbname, role = 'pr-123 "odd" Name', "pr-123-app"
    create(server, dbname, role, "first-password")
    create(server, dbname, role, "second-password")  # twice: no error
    assert _exists(server, "pg_database", "datname", dbname.replace("'", "''"))
    assert _exists(server, "pg_roles", "rolname", role)
    owner = psql(
        server, "-c", f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{dbname}'"
    ).stdout.strip()
    assert owner == role
    # The second run's password is the one that works now.
    assert (
        psql(
            server, "-c", "SELECT 1", user=role, database=dbname, password="second-password"
        ).stdout.strip()
        == "1"
    )
    drop(server, dbname, role)


def test_one_stacks_role_cannot_enter_another_stacks_database(server):
    create(server, "pr-1", "pr-1", "one")
    create(server, "pr-2", "pr-2", "two")
    assert (
        psql(server, "-c", "SELECT 1", user="pr-1", database="pr-1", password="one").returncode == 0
    )
    denied = psql(
        server, "-c", "SELECT 1", user="pr-1", database="pr-2", password="one", check=False
    )
    assert denied.returncode != 0
    assert "permission denied for database" in denied.stderr
    drop(server, "pr-1", "pr-1")
    drop(server, "pr-2", "pr-2")


def test_reset_restores_the_seed_data_and_is_idempotent(server):
    create(server, "sandbox-app", "sandbox-app", "pw")
    reset(server, "sandbox-app", "sandbox-app")
    psql(
        server,
        "-c",
        "INSERT INTO customers (email, name) VALUES ('x@example.com', 'X')",
        database="sandbox-app",
    )
    psql(server, "-c", "CREATE TABLE scratch (id int)", database="sandbox-app")
    reset(server, "sandbox-app", "sandbox-app")
    reset(server, "sandbox-app", "sandbox-app")
    counts = psql(
        server,
        "-c",
        "SELECT (SELECT count(*) FROM customers) || ',' || (SELECT count(*) FROM orders)",
        database="sandbox-app",
    ).stdout.strip()
    assert counts == "3,4"
    tables = psql(
        server,
        "-c",
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM "
        "pg_tables WHERE schemaname = 'public'",
        database="sandbox-app",
    ).stdout.strip()
    # The scratch table is gone.
    assert tables == "addresses,customers,orders,payment_cards,support_tickets"
    owner = psql(
        server,
        "-c",
        "SELECT tableowner FROM pg_tables WHERE tablename = 'customers'",
        database="sandbox-app",
    ).stdout.strip()
    assert owner == "sandbox-app"
    drop(server, "sandbox-app", "sandbox-app")


def test_drop_removes_database_and_role_even_while_connected_and_twice(server):
    create(server, "pr-9", "pr-9", "pw")
    reset(server, "pr-9", "pr-9")
    session = subprocess.Popen(  # an open session that DROP DATABASE must end
        [
            "psql",
            "-X",
            "-h",
            server["host"],
            "-p",
            server["port"],
            "-U",
            "pr-9",
            "-d",
            "pr-9",
            "-c",
            "SELECT pg_sleep(30)",
        ],
        env={**os.environ, "PGPASSWORD": "pw"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            active = psql(
                server, "-c", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'pr-9'"
            )
            if active.stdout.strip() != "0":
                break
        drop(server, "pr-9", "pr-9")
        drop(server, "pr-9", "pr-9")  # twice: no error
    finally:
        session.kill()
        session.wait()
    assert not _exists(server, "pg_database", "datname", "pr-9")
    assert not _exists(server, "pg_roles", "rolname", "pr-9")


def test_drop_of_something_never_created_is_a_no_op(server):
    assert drop(server, "never-created", "never-created").returncode == 0


def _run_sh(server: dict[str, str], action: str, dbname: str, role: str, tmp: Path) -> str:
    """infra/sql/run.sh as the Kubernetes Job runs it, against the test server."""
    secret = tmp / "admin.json"
    # The RDS-managed secret's shape: {"username": ..., "password": ...}.
    secret.write_text(f'{{"username":"{MASTER}","password":"master-pw"}}')
    env = {
        **os.environ,
        "PGHOST": server["host"],
        "PGPORT": server["port"],
        "SQL_DIR": str(SQL_DIR),
        "ADMIN_SECRET_FILE": str(secret),
        "DBNAME": dbname,
        "ROLE": role,
        "ROLE_PASSWORD": "job-password",
    }
    result = subprocess.run(
        ["sh", str(SQL_DIR / "run.sh"), action], env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_job_script_creates_seeds_once_and_drops(server, tmp_path):
    assert "create of database pr-55 (role pr-55) done" in _run_sh(
        server, "create", "pr-55", "pr-55", tmp_path
    )
    psql(server, "-c", "INSERT INTO customers (email, name) VALUES ('new@example.com', 'New')",
         database="pr-55")  # fmt: skip
    _run_sh(server, "create", "pr-55", "pr-55", tmp_path)  # a re-run keeps the data
    count = psql(server, "-c", "SELECT count(*) FROM customers", database="pr-55").stdout.strip()
    assert count == "4"
    assert psql(server, "-c", "SELECT 1", user="pr-55", database="pr-55",
                password="job-password").stdout.strip() == "1"  # fmt: skip
    _run_sh(server, "reset", "pr-55", "pr-55", tmp_path)
    count = psql(server, "-c", "SELECT count(*) FROM customers", database="pr-55").stdout.strip()
    assert count == "3"
    _run_sh(server, "drop", "pr-55", "pr-55", tmp_path)
    assert not _exists(server, "pg_database", "datname", "pr-55")


def test_the_job_script_refuses_an_unknown_action(server, tmp_path):
    secret = tmp_path / "admin.json"
    secret.write_text('{"username":"postgres","password":""}')
    result = subprocess.run(
        ["sh", str(SQL_DIR / "run.sh"), "explode"],
        env={**os.environ, "ADMIN_SECRET_FILE": str(secret), "SQL_DIR": str(SQL_DIR),
             "DBNAME": "x", "ROLE": "x"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "usage: run.sh create|reset|drop" in result.stderr
