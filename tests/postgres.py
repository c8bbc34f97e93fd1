"""A PostgreSQL server for the tests, from the machine's binaries (Debian's package).

Started on a loopback port per test module, stopped afterwards. The scripts
run as the RDS master user would: a role with CREATEROLE and CREATEDB, no
superuser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.sql import SQL_DIR

PG_BIN_CANDIDATES = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15")]


def _pg_bin() -> Path | None:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "initdb").is_file():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, str]]:
    with running_server() as started:
        yield started


@contextlib.contextmanager
def running_server() -> Iterator[dict[str, str]]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL is not installed: `apt-get install postgresql` (see .ci/run)")
    # Not under pytest's tmp dir: that is private to root, and the server
    # runs as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="stagecraft-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        root.chmod(0o755)
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    # Every statement logged, as the worst-configured server would: the tests
    # can check that no secret ever travels in statement text.
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c log_statement=all"
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(root / "server.log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    server = {"host": "127.0.0.1", "port": str(port), "log": str(root / "server.log")}
    # The scripts run as the RDS master user, which is no superuser: a role
    # with CREATEROLE and CREATEDB, member of pg_signal_backend (RDS grants it
    # through rds_superuser). The tests use the same, so a script that only
    # works as superuser fails here as it would on RDS.
    psql(server, "-c", f"CREATE ROLE {MASTER} LOGIN CREATEROLE CREATEDB PASSWORD 'master-pw'",
         as_superuser=True)  # fmt: skip
    psql(server, "-c", f"GRANT pg_signal_backend TO {MASTER}", as_superuser=True)
    try:
        yield server
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )


MASTER = "stagecraft_admin"


def psql(
    server: dict[str, str],
    *args: str,
    user: str = MASTER,
    database: str = "postgres",
    password: str | None = None,
    check: bool = True,
    as_superuser: bool = False,
) -> subprocess.CompletedProcess[str]:
    if as_superuser:
        user = "postgres"
    env = {**os.environ, "PGPASSWORD": password or "", "PGCONNECT_TIMEOUT": "5"}
    return subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            server["host"],
            "-p",
            server["port"],
            "-U",
            user,
            "-d",
            database,
            "-At",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=60,
    )


def create(
    server: dict[str, str], dbname: str, role: str, password: str
) -> subprocess.CompletedProcess[str]:
    """The stack's role and database, as the setup Job makes them (infra/sql/create.sql)."""
    return psql(
        server,
        "-v",
        f"dbname={dbname}",
        "-v",
        f"role={role}",
        "-v",
        f"password={password}",
        "-f",
        str(SQL_DIR / "create.sql"),
    )


def reset(server: dict[str, str], dbname: str, role: str) -> subprocess.CompletedProcess[str]:
    """An empty public schema owned by the role, and the seed data."""
    return psql(
        server,
        "-v",
        f"role={role}",
        "-f",
        str(SQL_DIR / "reset.sql"),
        "-f",
        str(SQL_DIR / "seed.sql"),
        database=dbname,
    )


def drop(server: dict[str, str], dbname: str, role: str) -> subprocess.CompletedProcess[str]:
    return psql(
        server, "-v", f"dbname={dbname}", "-v", f"role={role}", "-f", str(SQL_DIR / "drop.sql")
    )
