"""infra/smoke/smoke.sh, the smoke-test pod's checks, run for real where the machine allows.

- database: a real PostgreSQL server with TLS (a test CA, a certificate for
  `localhost`), password login over hostssl only; `smoke.sh prepare` fetches
  the CA bundle over HTTPS with curl and signs an IAM token with the real AWS
  CLI, which the server then takes as the user's password (RDS checks the
  token's signature instead). What verify-full decides (an unknown CA, a
  name that does not match) is PostgreSQL's libpq deciding, here.
- health: curl against a local HTTPS server.
- cache: no Redis server here: a stand-in redis-cli records how it was called
  (the password must come through REDISCLI_AUTH, never argv) and answers as
  Redis does.
"""

from __future__ import annotations

import http.server
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from infra.smoke import SCRIPT
from tests.postgres import _as_postgres, _free_port, _pg_bin

APP_USER = "stagecraft_app"
DATABASE = "app"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> Path:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             cwd=directory)  # fmt: skip
    return directory / f"{name}.pem"


def _make_server_cert(directory: Path, ca: str, name: str, dns: str) -> tuple[Path, Path]:
    (directory / f"{name}.ext").write_text(f"subjectAltName=DNS:{dns}\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={dns}",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt", cwd=directory)  # fmt: skip
    return directory / f"{name}.crt", directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki() -> Iterator[dict[str, Path]]:
    directory = Path(tempfile.mkdtemp(prefix="stagecraft-smoke-pki-"))
    directory.chmod(0o755)
    trusted = _make_ca(directory, "test-ca")
    other = _make_ca(directory, "other-ca")
    cert, key = _make_server_cert(directory, "test-ca", "server", "localhost")
    yield {"ca": trusted, "other_ca": other, "cert": cert, "key": key}
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server(pki: dict[str, Path]) -> Iterator[dict[str, str]]:
    """PostgreSQL that takes passwords over TLS only, as RDS with rds.force_ssl does."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL is not installed: `apt-get install postgresql` (see .ci/run)")
    root = Path(tempfile.mkdtemp(prefix="stagecraft-smoke-pg-"))
    data = root / "data"
    data.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        root.chmod(0o755)
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                      "--auth-local=trust", "--auth-host=reject", "--no-sync"]),
        check=True, capture_output=True,
    )  # fmt: skip
    for source, target in ((pki["cert"], "server.crt"), (pki["key"], "server.key")):
        shutil.copy(source, data / target)
        (data / target).chmod(0o600)
        if as_root:
            shutil.chown(data / target, "postgres")
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostssl all all ::1/128 scram-sha-256\n"
        "host all all all reject\n"
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=localhost -p {port} -k {root} -c fsync=off -c ssl=on "
        "-c ssl_cert_file=server.crt -c ssl_key_file=server.key"
    )
    subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                      "-l", str(root / "server.log"), "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    server = {"socket": str(root), "port": str(port)}
    _superuser(server, f"CREATE ROLE {APP_USER} LOGIN")
    _superuser(server, f"CREATE DATABASE {DATABASE} OWNER {APP_USER}")
    try:
        yield server
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _superuser(server: dict[str, str], sql: str) -> None:
    subprocess.run(
        ["psql", "-X", "-q", "-h", server["socket"], "-p", server["port"], "-U", "postgres",
         "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


def _set_password(server: dict[str, str], password: str) -> None:
    # A psql variable, quoted by psql (:'pw'): the token is ~1 kB of URL.
    subprocess.run(
        ["psql", "-X", "-q", "-h", server["socket"], "-p", server["port"], "-U", "postgres",
         "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-v", f"pw={password}"],
        input=f"ALTER ROLE {APP_USER} PASSWORD :'pw';\n",
        check=True, capture_output=True, text=True,
    )  # fmt: skip


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https(pki: dict[str, Path]) -> Iterator[str]:
    """https://localhost:<port>: /global-bundle.pem (the test CA), /healthz 200, /down 503."""
    _Handler.routes = {
        "/global-bundle.pem": (200, pki["ca"].read_bytes()),
        "/healthz": (200, b"ok"),
        "/down": (503, b"unavailable"),
        "/empty.pem": (200, b"<html>not a bundle</html>"),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()


def _smoke(
    check: str, work: Path, env: dict[str, str], path_prefix: Path | None = None
) -> subprocess.CompletedProcess[str]:
    # The AWS CLI of this virtualenv; credentials that reach nothing: the
    # token is signed locally and never sent to AWS.
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    if path_prefix is not None:
        path = f"{path_prefix}:{path}"
    base = {
        "PATH": path,
        "HOME": str(work),
        "SMOKE_WORK": str(work),
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        ["sh", str(SCRIPT), check],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def database_env(tls_server: dict[str, str], https: str, pki: dict[str, Path]) -> dict[str, str]:
    """What the pod's database containers get from `app-connection` and the component."""
    return {
        "DATABASE_HOST": "localhost",
        "DATABASE_PORT": tls_server["port"],
        "DATABASE_NAME": DATABASE,
        "DATABASE_SSLMODE": "verify-full",
        "DATABASE_USER": APP_USER,
        "AWS_REGION": "eu-west-1",
        "RDS_CA_BUNDLE_URL": f"{https}/global-bundle.pem",
        # curl in the AWS CLI image trusts the public CAs; here, the test CA.
        "CURL_CA_BUNDLE": str(pki["ca"]),
    }


def _prepared(work: Path, env: dict[str, str], server: dict[str, str]) -> str:
    prepared = _smoke("prepare", work, env)
    assert prepared.returncode == 0, prepared.stderr
    assert not (work / "prepare-failed").exists(), (work / "prepare-failed").read_text()
    token = (work / "db-token").read_text().strip()
    _set_password(server, token)
    return token


def test_the_database_check_passes_with_the_iam_token_over_verified_tls(
    tmp_path, database_env, tls_server
):
    token = _prepared(tmp_path, database_env, tls_server)
    # What generate-db-auth-token signs: a connect request for that user there.
    assert token.startswith(f"localhost:{tls_server['port']}/?Action=connect&DBUser={APP_USER}")
    assert (tmp_path / "db-token").stat().st_mode & 0o077 == 0  # the pod's user only
    result = _smoke("database", tmp_path, database_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"PASS database: {APP_USER}@localhost:{tls_server['port']}/{DATABASE}: SELECT 1 over "
        "TLSv1.3, server certificate verified (verify-full)"
    ]
    assert token not in result.stdout + result.stderr


def test_verify_full_refuses_a_server_whose_ca_is_not_in_the_bundle(
    tmp_path, database_env, tls_server, pki
):
    _prepared(tmp_path, database_env, tls_server)
    shutil.copy(pki["other_ca"], tmp_path / "rds-ca.pem")
    result = _smoke("database", tmp_path, database_env)
    assert result.returncode == 1
    assert result.stdout.startswith(f"FAIL database: {APP_USER}@localhost:")
    assert "certificate verify failed" in result.stdout


def test_verify_full_refuses_a_certificate_for_another_name(tmp_path, database_env, tls_server):
    _prepared(tmp_path, database_env, tls_server)
    # The certificate names `localhost` only: the same server by address fails.
    result = _smoke("database", tmp_path, {**database_env, "DATABASE_HOST": "127.0.0.1"})
    assert result.returncode == 1
    assert 'does not match host name "127.0.0.1"' in result.stdout


def test_a_refused_token_fails_without_showing_it(tmp_path, database_env, tls_server):
    token = _prepared(tmp_path, database_env, tls_server)
    _set_password(tls_server, "not-the-token")
    result = _smoke("database", tmp_path, database_env)
    assert result.returncode == 1
    assert "password authentication failed" in result.stdout
    assert len(result.stdout.splitlines()) == 1
    assert token not in result.stdout + result.stderr


def test_the_application_must_be_configured_for_verify_full(tmp_path, database_env, tls_server):
    _prepared(tmp_path, database_env, tls_server)
    result = _smoke("database", tmp_path, {**database_env, "DATABASE_SSLMODE": "require"})
    assert result.returncode == 1
    assert "DATABASE_SSLMODE is 'require', not verify-full" in result.stdout


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"RDS_CA_BUNDLE_URL": "https://localhost:1/global-bundle.pem"}, "cannot fetch the RDS CA"),
        ({"RDS_CA_BUNDLE_URL": "{https}/empty.pem"}, "returned no PEM certificates"),
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no IAM auth token for"),
    ],
)  # fmt: skip
def test_a_failed_preparation_is_the_database_checks_failure(
    tmp_path, database_env, https, change, reason
):
    env = {**database_env, **{k: v.format(https=https) for k, v in change.items()}}
    # The init containers never fail the pod: the other checks still run.
    assert _smoke("ca-bundle", tmp_path, env).returncode == 0
    assert _smoke("db-token", tmp_path, env).returncode == 0
    result = _smoke("database", tmp_path, env)
    assert result.returncode == 1
    assert result.stdout.startswith(f"FAIL database: {APP_USER}@localhost:")
    assert reason in result.stdout


def test_the_health_check_wants_2xx_over_verified_https(tmp_path, https, pki):
    trusted = {"CURL_CA_BUNDLE": str(pki["ca"])}
    ok = _smoke("health", tmp_path, {**trusted, "HEALTH_URL": f"{https}/healthz"})
    assert (ok.returncode, ok.stdout) == (0, f"PASS health: {https}/healthz answered HTTP 200\n")
    down = _smoke("health", tmp_path, {**trusted, "HEALTH_URL": f"{https}/down"})
    assert (down.returncode, down.stdout) == (
        1,
        f"FAIL health: {https}/down answered HTTP 503 (want 2xx)\n",
    )
    untrusted = _smoke(
        "health",
        tmp_path,
        {"CURL_CA_BUNDLE": str(pki["other_ca"]), "HEALTH_URL": f"{https}/healthz"},
    )
    assert untrusted.returncode == 1
    assert untrusted.stdout.startswith(f"FAIL health: {https}/healthz: no answer (")
    plain = _smoke("health", tmp_path, {"HEALTH_URL": "http://localhost:1/healthz"})
    assert plain.returncode == 1  # --proto =https: never plain HTTP


def test_without_a_health_endpoint_the_check_says_it_skipped(tmp_path):
    result = _smoke(
        "health", tmp_path, {"HEALTH_URL": "", "HEALTH_SKIP_REASON": "no healthCheckPath"}
    )
    assert (result.returncode, result.stdout) == (0, "SKIP health: no healthCheckPath\n")


REDIS_CLI = """#!/bin/sh
printf '%s\\n' "$@" > "$SMOKE_WORK/redis-cli.argv"
[ "$REDISCLI_AUTH" = "the-redis-password" ] && [ "$2" = "-h" ] || { echo "WRONGPASS"; exit 0; }
echo "$FAKE_REPLY"
"""


@pytest.fixture
def redis_cli(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "redis-cli").write_text(REDIS_CLI)
    (bin_dir / "redis-cli").chmod(0o755)
    return bin_dir


CACHE_ENV = {
    "REDIS_HOST": "master.stagecraft-staging.abc123.use1.cache.amazonaws.com",
    "REDIS_PORT": "6379",
    "REDIS_USERNAME": "stagecraft-staging-app",
    "REDIS_TLS": "true",
    "REDISCLI_AUTH": "the-redis-password",
}


def test_the_cache_check_pings_over_tls_with_the_password_from_the_environment(tmp_path, redis_cli):
    result = _smoke("cache", tmp_path, {**CACHE_ENV, "FAKE_REPLY": "PONG"}, redis_cli)
    assert (result.returncode, result.stdout) == (
        0,
        "PASS cache: stagecraft-staging-app@master.stagecraft-staging.abc123.use1.cache."
        "amazonaws.com:6379: PING answered PONG over TLS\n",
    )
    argv = (tmp_path / "redis-cli.argv").read_text().splitlines()
    assert argv == ["--tls", "-h", CACHE_ENV["REDIS_HOST"], "-p", "6379",
                    "--user", "stagecraft-staging-app", "PING"]  # fmt: skip
    assert "the-redis-password" not in result.stdout + "".join(argv)


def test_the_cache_check_reads_the_reply_not_the_exit_status(tmp_path, redis_cli):
    # redis-cli exits 0 after a NOAUTH or WRONGPASS reply.
    wrong = _smoke("cache", tmp_path, {**CACHE_ENV, "REDISCLI_AUTH": "stale"}, redis_cli)
    assert wrong.returncode == 1
    assert wrong.stdout.endswith(": PING answered 'WRONGPASS'\n")
    assert "stale" not in wrong.stdout
    no_tls = _smoke("cache", tmp_path, {**CACHE_ENV, "REDIS_TLS": "false", "FAKE_REPLY": "PONG"},
                    redis_cli)  # fmt: skip
    assert no_tls.returncode == 1
    assert "REDIS_TLS is 'false', not true" in no_tls.stdout


def test_an_unknown_check_is_a_usage_error(tmp_path):
    assert _smoke("everything", tmp_path, {}).returncode == 2
