"""The weekly anonymised copy of production, end to end, on real services.

A real PostgreSQL server (Debian's binaries, started here) holds a
production-like database full of personal data in many forms; the export job's
script (`export.sh dump`, as the read-only export role) masks it, `export.sh
publish` uploads it with the real AWS CLI to S3 on a moto server, and the import
job's script (`import.sh fetch` / `load`) loads it into a second database.
Then every text value of the target and every published file is searched for
every personal value of the source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml

import infra.config
from infra.components.account.policies import Account, environment_boundary
from infra.components.data_sync.exporter import EXPORT_ROLE
from infra.config import ConfigError
from infra.data_sync import (
    RULES_FILE,
    Rules,
    RulesError,
    job_files,
    load_rules,
    parse_rules,
)
from infra.sql import SQL_DIR
from policy.harness import CONFIG_DIR, Verdict, evaluate_rule, load_policy_config
from policy.rules import RULES_BY_NAME
from stagecraft.offline.engine import Plan, PlannedResource
from tests.conftest import stack_config
from tests.iam_evaluation import decide
from tests.postgres import MASTER, create, drop, psql, reset, server

__all__ = ["server"]  # the fixture, imported for the tests below

RDS = "aws:rds/instance:Instance"
SOURCE_DB, SOURCE_ROLE = "production_app", "shop"
TARGET_DB, TARGET_ROLE = "staging_app", "staging_shop"
BUCKET = "stagecraft-production-data-sync"
MASK_KEY = "k" * 8 + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"[:40]  # 48 bytes

FIRST = ["Maria", "Jürgen", "Aoife", "Oluwaseun", "Sébastien", "Priya", "Mateus", "Ingrid"]
LAST = ["Garcia-Lopez", "Okonkwo", "Fitzgerald", "Nakamura", "Lindqvist", "Brennan", "Haddad"]
STREETS = ["Calle de Alcalá", "Baker Street", "Rue de Rivoli", "Unter den Linden", "Via Roma"]


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    phone: str
    date_of_birth: str
    national_id: str
    loyalty_number: str
    external_ref: str
    line1: str
    postcode: str
    card: str


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 - 9 if digit * 2 > 9 else digit * 2
        total += doubled if position % 2 == 1 else digit
    return total % 10 == 0


def _card(seed: int) -> str:
    payload = f"5{seed:014d}"[-15:]
    for check in range(10):
        if _luhn_ok(payload + str(check)):
            return payload + str(check)
    raise AssertionError


def people() -> list[Person]:
    found = []
    for n in range(40):
        first, last = FIRST[n % len(FIRST)], LAST[n % len(LAST)]
        found.append(
            Person(
                email=f"{first.lower()}.{last.lower()}{n}@mail-{n % 3}.test",
                name=f"{first} {last}",
                # Letters in a phone field too: a mask that kept them would leak.
                phone=[
                    f"+34 6{n:02d} 123 {n:03d}",
                    f"(020) 7946-{n:04d} ask for {first}",
                    f"+4915{n:08d}",
                ][n % 3],
                # A year apart: a shift of at most 180 days cannot land on another's.
                date_of_birth=f"{1940 + n}-07-01",
                national_id=f"{12345678 + n * 7919}Z",
                loyalty_number=f"{912_345_678 + n * 104_729}",
                external_ref=f"3f2b8c1e-5d4a-4e6f-9a7b-{n:012d}",
                line1=f"{n + 10} {STREETS[n % len(STREETS)]}",
                postcode=f"{28001 + n * 13}",
                card=_card(4_000_000_000 + n * 7_654_321),
            )
        )
    return found


PEOPLE = people()
TWINS = ("Case.Twin@mail-9.test", "case.twin@mail-9.test")


def _populate(server_: dict[str, str]) -> None:
    rows = []
    for n, p in enumerate(PEOPLE):
        rows.append(
            "INSERT INTO customers (email, name, phone, date_of_birth, national_id, "
            f"loyalty_number, external_ref) VALUES ('{p.email}', '{p.name}', '{p.phone}', "
            f"'{p.date_of_birth}', '{p.national_id}', {p.loyalty_number}, '{p.external_ref}');"
        )
        rows.append(
            "INSERT INTO addresses (customer_id, line1, city, postcode, country) "
            f"SELECT id, '{p.line1}', 'Madrid', '{p.postcode}', 'ES' FROM customers "
            f"WHERE email = '{p.email}';"
        )
        rows.append(
            "INSERT INTO payment_cards (customer_id, card_number, cardholder_name, expires_on) "
            f"SELECT id, '{p.card}', name, '2031-01-31' FROM customers WHERE email = '{p.email}';"
        )
        rows.append(
            "INSERT INTO orders (customer_id, shipping_address_id, contact_email, total_cents, "
            "status) SELECT c.id, a.id, c.email, 1000 + c.id, 'paid' FROM customers c "
            f"JOIN addresses a ON a.customer_id = c.id WHERE c.email = '{p.email}';"
        )
        other = PEOPLE[(n + 1) % len(PEOPLE)]
        body = (
            f"Hi, I'm {p.name}. Please call {p.phone} or write to {p.email}; "
            f"my neighbour {other.name} ({other.email}) lives at {other.line1}. "
            f"Card {p.card} was charged twice. Born {p.date_of_birth}, ID {p.national_id}."
        ).replace("'", "''")
        rows.append(
            "INSERT INTO support_tickets (reporter_email, subject, body) VALUES "
            f"('{p.email}', 'Refund for {p.name}', '{body}');"
        )
    # Two addresses that differ only in case: UNIQUE holds in the source, and
    # must in the copy.
    rows += [
        f"INSERT INTO customers (email, name) VALUES ('{twin}', 'Twin Case')" for twin in TWINS
    ]
    psql(server_, "-c", ";\n".join(r.rstrip(";") for r in rows), database=SOURCE_DB,
         user=SOURCE_ROLE)  # fmt: skip


def personal_values() -> set[str]:
    """Every personal value as the source holds it."""
    values: set[str] = set()
    for p in PEOPLE:
        values |= {p.email, p.name, p.phone, p.date_of_birth, p.national_id}
        values |= {p.loyalty_number, p.external_ref}
        values |= {p.line1, p.postcode, p.card}
        values |= set(p.name.split(" "))
        values.add(p.line1.split(" ", 1)[1])  # the street without its number
    # The seed's own fake people are in the source too.
    values |= set(TWINS)
    values |= {"ada@example.com", "Ada Lovelace", "Grace Hopper", "+44 20 7946 0018", "1815-12-10"}
    values |= {"1 Example Street", "EX1 1AA", "4242424242424242"}
    return values


def _all_text(server_: dict[str, str], database: str) -> str:
    """Every value of every column of every public table, as text."""
    tables = psql(
        server_,
        "-c",
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        database=database,
    ).stdout.split()
    return "\n".join(
        psql(server_, "-c", f"SELECT t::text FROM public.{table} t", database=database).stdout
        for table in tables
    )


def derived_values() -> set[str]:
    """The same values written differently: digits only, upper case."""
    values: set[str] = set()
    for p in PEOPLE:
        values |= {re.sub(r"\D", "", p.phone), p.email.upper(), p.name.upper()}
    return values


def _leaks(haystack: str, values: set[str] | None = None) -> list[str]:
    lowered = haystack.lower()
    searched = values if values is not None else personal_values() | derived_values()
    return sorted(v for v in searched if v.lower() in lowered)


def _run(
    script: str, *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """One of the jobs' scripts, from the ConfigMap's files, as the pod runs it."""
    run = subprocess.run(
        ["sh", f"{env['SYNC_DIR']}/{script}", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and run.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} failed:\n{run.stderr}")
    return run


@dataclass
class Pipeline:
    server: dict[str, str]
    sync_dir: Path
    work: Path
    env: dict[str, str]
    export_env: dict[str, str]
    import_env: dict[str, str]
    exported: Path
    fetched: Path
    rules: Rules

    def objects(self) -> dict[str, bytes]:
        s3 = _s3(self.env["AWS_ENDPOINT_URL"])
        listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}

    def export(
        self, directory: Path, *, check: bool = True, key_file: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.export_env}
        if key_file is not None:
            env["MASK_KEY_FILE"] = str(key_file)
        return _run("export.sh", "dump", str(directory), env=env, check=check)


def _s3(endpoint: str) -> Any:
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _write_sync_dir(directory: Path, rules: Rules) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in job_files(rules).items():
        (directory / name).write_text(content, encoding="utf-8")


@pytest.fixture(scope="module")
def pipeline(
    server: dict[str, str], moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    work = tmp_path_factory.mktemp("data-sync")
    for database, role in ((SOURCE_DB, SOURCE_ROLE), (TARGET_DB, TARGET_ROLE)):
        create(server, database, role, "pw")
        reset(server, database, role)
    _populate(server)
    # The export role, made as the setup Job makes it: by the master user.
    psql(
        server,
        "-v",
        f"export_role={EXPORT_ROLE}",
        "-v",
        f"dbname={SOURCE_DB}",
        "-v",
        f"owner={SOURCE_ROLE}",
        "-v",
        "app_role=",  # the source database has no application role of its own here
        "-f",
        str(SQL_DIR / "export_role.sql"),
        database=SOURCE_DB,
    )

    rules = load_rules()
    sync_dir = work / "sync"
    _write_sync_dir(sync_dir, rules)
    key_file = work / "mask-key"
    key_file.write_text(MASK_KEY)
    admin_secret = work / "admin.json"
    admin_secret.write_text(json.dumps({"username": MASTER, "password": "master-pw"}))

    base = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(work),
        "SYNC_DIR": str(sync_dir),
        "PGHOST": server["host"],
        "PGPORT": server["port"],
        "PGCONNECT_TIMEOUT": "5",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        # As the import job runs: the dumps' region named apart from its own.
        "DUMPS_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    export_env = {
        **base,
        "PGUSER": EXPORT_ROLE,
        "PGDATABASE": SOURCE_DB,
        "MASK_KEY_FILE": str(key_file),
        "SOURCE_ENVIRONMENT": "production",
    }
    import_env = {
        **base,
        "ADMIN_SECRET_FILE": str(admin_secret),
        "DBNAME": TARGET_DB,
        "ROLE": TARGET_ROLE,
    }
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=5
    ).close()
    _s3(moto_endpoint).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )

    exported, fetched = work / "export", work / "import"
    _run("export.sh", "dump", str(exported), env=export_env)
    _run("export.sh", "publish", str(exported), f"s3://{BUCKET}/dumps", env=base)
    _run("import.sh", "fetch", f"s3://{BUCKET}/dumps", str(fetched), env=base)
    _run("import.sh", "load", str(fetched), env=import_env)
    return Pipeline(server, sync_dir, work, base, export_env, import_env, exported, fetched, rules)


def _rows(server_: dict[str, str], database: str, query: str) -> list[list[str]]:
    out = psql(server_, "-F", "\t", "-c", query, database=database).stdout
    return [line.split("\t") for line in out.splitlines() if line]


# --- nothing personal leaves production ---------------------------------------


def test_the_scan_finds_every_personal_value_in_the_source(pipeline):
    # The search below can fail: on the source it finds everything.
    source = _all_text(pipeline.server, SOURCE_DB)
    assert _leaks(source, personal_values()) == sorted(personal_values())


def test_no_personal_value_reaches_the_staging_database(pipeline):
    assert _leaks(_all_text(pipeline.server, TARGET_DB)) == []


def test_no_personal_value_is_in_any_published_file(pipeline):
    objects = pipeline.objects()
    assert any(key.endswith("/data/customers.csv") for key in objects)
    published = "\n".join(body.decode("utf-8") for body in objects.values())
    assert _leaks(published) == []


def test_row_counts_and_foreign_keys_hold(pipeline):
    count = (
        "SELECT string_agg(format('%s=%s', t, n), ',' ORDER BY t) FROM (VALUES "
        "('customers', (SELECT count(*) FROM customers)), ('addresses', (SELECT count(*) FROM "
        "addresses)), ('payment_cards', (SELECT count(*) FROM payment_cards)), ('orders', "
        "(SELECT count(*) FROM orders)), ('support_tickets', (SELECT count(*) FROM "
        "support_tickets))) AS v (t, n)"
    )
    source = psql(pipeline.server, "-c", count, database=SOURCE_DB).stdout.strip()
    target = psql(pipeline.server, "-c", count, database=TARGET_DB).stdout.strip()
    assert source == target
    assert "customers=45" in target
    # The constraints came back after the rows: every reference resolves.
    foreign_keys = psql(
        pipeline.server,
        "-c",
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
        "AND connamespace = 'public'::regnamespace",
        database=TARGET_DB,
    ).stdout.strip()
    assert foreign_keys == "5"
    orphans = psql(
        pipeline.server,
        "-c",
        "SELECT count(*) FROM support_tickets t LEFT JOIN customers c "
        "ON c.email = t.reporter_email WHERE c.id IS NULL",
        database=TARGET_DB,
    ).stdout.strip()
    assert orphans == "0"


def test_a_pseudonym_is_the_same_wherever_its_original_was(pipeline):
    # orders.contact_email held the customer's address; the cardholder's name
    # was the customer's name.
    mismatches = _rows(
        pipeline.server,
        TARGET_DB,
        "SELECT c.email, o.contact_email FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.contact_email IS DISTINCT FROM c.email",
    )
    assert mismatches == []
    names = _rows(
        pipeline.server,
        TARGET_DB,
        "SELECT c.name, p.cardholder_name FROM payment_cards p JOIN customers c "
        "ON c.id = p.customer_id WHERE p.cardholder_name IS DISTINCT FROM c.name",
    )
    assert names == []


def test_the_mask_key_never_travels_in_statement_text(pipeline):
    # The server logs every statement (tests/postgres.py), as a production
    # server logs its slow ones: neither the key nor its HMAC pads are there.
    log = Path(pipeline.server["log"]).read_text(errors="replace")
    assert "COPY (SELECT" in log  # the export's statements are in it
    padded = MASK_KEY.encode().ljust(64, b"\0")
    pads = [bytes(b ^ pad for b in padded).hex() for pad in (0x36, 0x5C)]
    assert MASK_KEY not in log
    assert not [pad for pad in pads if pad in log]


def test_masks_are_an_hmac_under_the_key(pipeline):
    first = PEOPLE[0]
    expected = hmac.new(
        MASK_KEY.encode(), f"email:{first.email}".encode(), hashlib.sha256
    ).hexdigest()[:20]
    emails = _rows(
        pipeline.server,
        TARGET_DB,
        "SELECT email FROM customers WHERE id = (SELECT id FROM customers ORDER BY id "
        "OFFSET 3 LIMIT 1)",
    )
    assert emails == [[f"user-{expected}@example.com"]]


def test_masked_values_keep_the_shape_applications_validate(pipeline):
    customers = _rows(
        pipeline.server,
        TARGET_DB,
        "SELECT email, name, phone, date_of_birth::text FROM customers "
        "WHERE id > 3 AND phone IS NOT NULL ORDER BY id",
    )
    source = _rows(
        pipeline.server,
        SOURCE_DB,
        "SELECT email, name, phone, date_of_birth::text FROM customers "
        "WHERE id > 3 AND phone IS NOT NULL ORDER BY id",
    )
    emails = [row[0] for row in _rows(pipeline.server, TARGET_DB, "SELECT email FROM customers")]
    assert all(re.fullmatch(r"user-[0-9a-f]{20}@example\.com", e) for e in emails)
    assert len(set(emails)) == len(emails) == 45  # still unique, the case twins too
    for (_, name, phone, born), (_, _, old_phone, old_born) in zip(customers, source, strict=True):
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", name)
        # Same length, separators where they were, everything else a digit
        # (the letters of "ask for Maria" too).
        assert re.fullmatch(r"[0-9 +\-()./]+", phone)
        assert re.sub(r"\d", "9", phone) == re.sub(r"[^ +\-()./]", "9", old_phone)
        shift = abs(
            int(born[:4]) * 366
            + int(born[5:7]) * 31
            + int(born[8:])
            - (int(old_born[:4]) * 366 + int(old_born[5:7]) * 31 + int(old_born[8:]))
        )
        assert 0 < shift <= 190
    cards = [
        row[0] for row in _rows(pipeline.server, TARGET_DB, "SELECT card_number FROM payment_cards")
    ]
    assert all(len(card) == 16 and _luhn_ok(card) for card in cards)
    ids = [
        row[0]
        for row in _rows(
            pipeline.server,
            TARGET_DB,
            "SELECT national_id FROM customers WHERE national_id IS NOT NULL",
        )
    ]
    assert all(re.fullmatch(r"[0-9a-f]{16,}", i) for i in ids)
    loyalty = _rows(pipeline.server, TARGET_DB, "SELECT loyalty_number, external_ref::text "
                    "FROM customers WHERE loyalty_number IS NOT NULL")  # fmt: skip
    numbers = [int(row[0]) for row in loyalty]
    assert len(set(numbers)) == len(numbers) == 40  # UNIQUE, of the column's type
    assert all(0 <= number < 2**31 for number in numbers)
    assert all(
        re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", row[1]) for row in loyalty
    )


def test_the_manifest_describes_the_dump(pipeline):
    manifests = {k: v for k, v in pipeline.objects().items() if k.endswith("manifest.json")}
    assert len(manifests) == 1
    manifest = json.loads(next(iter(manifests.values())))
    assert manifest["rows"] == {
        "customers": 45,
        "addresses": 42,
        "payment_cards": 41,
        "orders": 44,
        "support_tickets": 41,
    }
    assert manifest["rulesSha256"] == hashlib.sha256(RULES_FILE.read_bytes()).hexdigest()
    assert manifest["source"] == "production"
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["schemaSha256"])


# --- fail closed --------------------------------------------------------------


def test_an_unclassified_column_stops_the_export_before_anything_is_written(pipeline):
    before = sorted(pipeline.objects())
    psql(
        pipeline.server,
        "-c",
        "ALTER TABLE customers ADD COLUMN loyalty_notes text",
        database=SOURCE_DB,
        user=SOURCE_ROLE,
    )
    try:
        target = pipeline.work / "blocked"
        run = pipeline.export(target, check=False)
        assert run.returncode != 0
        assert "Columns without a rule: public.customers.loyalty_notes" in run.stderr
        assert "rules.yaml" in run.stderr
        assert not list((target / "data").iterdir())
        assert not (target / "manifest.json").exists()
        publish = _run(
            "export.sh",
            "publish",
            str(target),
            f"s3://{BUCKET}/dumps",
            env=pipeline.env,
            check=False,
        )
        assert publish.returncode != 0
        assert "has no manifest.json" in publish.stderr
        assert sorted(pipeline.objects()) == before
    finally:
        psql(
            pipeline.server,
            "-c",
            "ALTER TABLE customers DROP COLUMN loyalty_notes",
            database=SOURCE_DB,
            user=SOURCE_ROLE,
        )


def test_a_rule_for_a_dropped_column_stops_the_export_too(pipeline, tmp_path):
    text = RULES_FILE.read_text().replace(
        "    priority: keep\n", "    priority: keep\n    mood: keep\n"
    )
    rules = parse_rules(yaml.safe_load(text), raw=text.encode())
    _write_sync_dir(tmp_path / "sync", rules)
    run = _run(
        "export.sh",
        "dump",
        str(tmp_path / "out"),
        env={**pipeline.export_env, "SYNC_DIR": str(tmp_path / "sync")},
        check=False,
    )
    assert run.returncode != 0
    assert "Rules for columns the database does not have: public.support_tickets.mood" in run.stderr


def test_a_generated_column_must_be_classified_as_generated(pipeline, tmp_path):
    text = RULES_FILE.read_text().replace("    total_eur: generated\n", "    total_eur: keep\n")
    rules = parse_rules(yaml.safe_load(text), raw=text.encode())
    _write_sync_dir(tmp_path / "sync", rules)
    env = {**pipeline.export_env, "SYNC_DIR": str(tmp_path / "sync")}
    run = _run("export.sh", "dump", str(tmp_path / "out"), env=env, check=False)
    assert run.returncode != 0
    assert (
        "Generated columns without the rule generated, or the reverse: public.orders.total_eur"
        in run.stderr
    )
    # Classified as generated, the import computed it from the copied column.
    wrong = _rows(pipeline.server, TARGET_DB,
                  "SELECT count(*) FROM orders WHERE total_eur <> total_cents / 100.0")  # fmt: skip
    assert wrong == [["0"]]


def test_a_short_mask_key_is_refused(pipeline, tmp_path):
    short = tmp_path / "short-key"
    short.write_text("too-short")
    run = pipeline.export(tmp_path / "out", key_file=short, check=False)
    assert run.returncode != 0
    assert "is 9 bytes; it must be 32 to 64" in run.stderr


def test_the_export_role_reads_but_cannot_write(pipeline):
    wrote = psql(
        pipeline.server,
        "-c",
        "INSERT INTO orders (customer_id, total_cents, status) VALUES (1, 1, 'paid')",
        database=SOURCE_DB,
        user=EXPORT_ROLE,
        check=False,
    )
    assert wrote.returncode != 0
    assert "read-only transaction" in wrote.stderr
    # Even switching the session back to read-write: no privilege to write.
    forced = psql(
        pipeline.server,
        "-c",
        "SET default_transaction_read_only = off",
        "-c",
        "DELETE FROM orders",
        database=SOURCE_DB,
        user=EXPORT_ROLE,
        check=False,
    )
    assert "permission denied for table orders" in forced.stderr


# --- the import ----------------------------------------------------------------


def test_importing_twice_gives_the_same_database(pipeline):
    def snapshot() -> str:
        dumped = subprocess.run(
            [
                "pg_dump",
                "-h",
                pipeline.server["host"],
                "-p",
                pipeline.server["port"],
                "-U",
                MASTER,
                "--no-owner",
                TARGET_DB,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        # pg_dump's \restrict lines carry a fresh random key each run.
        return "\n".join(line for line in dumped.splitlines() if "restrict " not in line)

    first = snapshot()
    _run("import.sh", "load", str(pipeline.fetched), env=pipeline.import_env)
    assert snapshot() == first


def test_the_application_owns_the_imported_tables_and_sequences_continue(pipeline):
    owners = _rows(
        pipeline.server,
        TARGET_DB,
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
    )
    assert owners == [[TARGET_ROLE]]
    new_id = psql(
        pipeline.server,
        "-c",
        "INSERT INTO customers (email, name) VALUES ('new@example.org', 'New') RETURNING id",
        database=TARGET_DB,
        user=TARGET_ROLE,
        password="pw",
    ).stdout.strip()
    try:
        assert new_id == str(
            int(_rows(pipeline.server, SOURCE_DB, "SELECT max(id) FROM customers")[0][0]) + 1
        )
    finally:
        psql(
            pipeline.server,
            "-c",
            "DELETE FROM customers WHERE email = 'new@example.org'",
            database=TARGET_DB,
        )


def test_a_tampered_dump_is_not_loaded(pipeline, tmp_path):
    copy = tmp_path / "dump"
    subprocess.run(["cp", "-r", str(pipeline.fetched), str(copy)], check=True)
    with (copy / "data" / "orders.csv").open("a") as extra:
        extra.write("999,1,,x@y.z,1,paid,2026-01-01 00:00:00+00\n")
    run = _run("import.sh", "load", str(copy), env=pipeline.import_env, check=False)
    assert run.returncode != 0
    assert "does not match SHA256SUMS" in run.stderr


def test_a_dump_whose_schema_runs_commands_is_not_loaded(pipeline, tmp_path):
    copy = tmp_path / "dump"
    subprocess.run(["cp", "-r", str(pipeline.fetched), str(copy)], check=True)
    with (copy / "pre-data.sql").open("a") as schema:
        schema.write("\\! touch /tmp/owned\n")
    # Checksums re-made, as whoever could write the bucket would.
    files = ["pre-data.sql", "post-data.sql", "rows.json"] + [
        f"data/{p.name}" for p in sorted((copy / "data").iterdir())
    ]
    sums = subprocess.run(["sha256sum", *files], cwd=copy, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    (copy / "SHA256SUMS").write_text(sums)
    manifest = (copy / "manifest.json").read_text()
    digest = hashlib.sha256(sums.encode()).hexdigest()
    (copy / "manifest.json").write_text(
        re.sub(r'"sha256sums": "[0-9a-f]+"', f'"sha256sums": "{digest}"', manifest)
    )
    run = _run("import.sh", "load", str(copy), env=pipeline.import_env, check=False)
    assert run.returncode != 0
    assert "pre-data.sql holds psql meta-commands pg_dump never writes" in run.stderr
    assert "\\! touch /tmp/owned" in run.stderr


def test_productions_replica_keeps_the_rows_the_export_reads(production, staging):
    def settings(plan: Plan) -> dict[str, str]:
        (group,) = plan.of_type("aws:rds/parameterGroup:ParameterGroup")
        return {p["name"]: p["value"] for p in group.inputs["parameters"]}

    assert settings(production)["hot_standby_feedback"] == "1"
    assert "hot_standby_feedback" not in settings(staging)  # no replica, no export


def test_fetch_takes_the_newest_complete_dump(pipeline, tmp_path):
    s3 = _s3(pipeline.env["AWS_ENDPOINT_URL"])
    # A newer export that never finished: files, no manifest.
    s3.put_object(Bucket=BUCKET, Key="dumps/2999-01-01T000000Z/data/customers.csv", Body=b"x")
    try:
        _run("import.sh", "fetch", f"s3://{BUCKET}/dumps", str(tmp_path / "f"), env=pipeline.env)
        assert not (tmp_path / "f" / "data" / "customers.csv").read_text().startswith("x")
    finally:
        s3.delete_object(Bucket=BUCKET, Key="dumps/2999-01-01T000000Z/data/customers.csv")
    empty = _run(
        "import.sh",
        "fetch",
        f"s3://{BUCKET}/nothing-here",
        str(tmp_path / "g"),
        env=pipeline.env,
        check=False,
    )
    assert empty.returncode != 0
    assert "no complete dump under" in empty.stderr


# --- the rules file ------------------------------------------------------------


def test_every_column_of_the_application_schema_has_a_rule(pipeline):
    live = _rows(
        pipeline.server,
        TARGET_DB,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY 1, 2",
    )
    assert sorted([r.table, r.column] for r in load_rules().columns) == live


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            {"tables": {"customers": {"email": "emial"}}},
            "tables.customers.email: unknown strategy 'emial' (did you mean 'email'?)",
        ),
        (
            {"tables": {"customers": {"email": "fixed"}}},
            "'fixed' needs a value: write {fixed: <value>}",
        ),
        ({"tables": {"Customers": {"email": "email"}}}, "lower-case SQL identifiers"),
        ({"tables": {"customers": {"email": {"fixd": 1}}}}, "a mapping must be {fixed: <value>}"),
        ({"columns": {}}, "must be a mapping with one key, 'tables'"),
    ],
)
def test_a_malformed_rule_is_refused_naming_it(rules, message):
    with pytest.raises(RulesError, match=re.escape(message)):
        parse_rules(rules)


def test_the_job_files_are_what_the_configmap_needs():
    files = job_files(load_rules())
    assert files["rules.yaml"] == RULES_FILE.read_text()
    assert set(files) == {
        "export.sh",
        "import.sh",
        "import.sql",
        "rules.yaml",
        "export.sql",
        "fingerprint.sql",
    }
    assert 'public."support_tickets"' in files["export.sql"]


# --- the stacks: what `pulumi up` creates ---------------------------------------

CRON_JOB = "kubernetes:batch/v1:CronJob"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
STAGING_IMPORT_ROLE = "arn:aws:iam::123456789012:role/stagecraft-staging-data-import"


def _job(plan: Plan, name: str) -> dict[str, Any]:
    (job,) = [j for j in plan.of_type(CRON_JOB) if j.inputs["metadata"]["name"] == name]
    return job.inputs


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def _policy(plan: Plan, type_token: str, name_part: str) -> list[dict[str, Any]]:
    (resource,) = [r for r in plan.of_type(type_token) if name_part in r.name]
    return json.loads(resource.inputs["policy"])["Statement"]


def test_production_exports_weekly_from_its_replica_as_the_read_only_role(production):
    job = _job(production, "data-export")
    assert job["spec"]["schedule"] == "0 2 * * 6"
    assert job["spec"]["timeZone"] == "Etc/UTC"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = _pod(job)
    assert [c["name"] for c in pod["initContainers"]] == ["credentials", "dump"]
    assert [c["name"] for c in pod["containers"]] == ["publish"]
    dump = _env(pod["initContainers"][1])
    (replica,) = [r for r in production.of_type(RDS) if "replicateSourceDb" in r.inputs]
    assert dump["PGHOST"].startswith(f"{replica.inputs['identifier']}.")
    assert dump["PGUSER"] == EXPORT_ROLE
    assert dump["MASK_KEY_FILE"].startswith("/secrets/")
    # The credentials live on a memory-backed volume, never on the node's disk.
    (secrets,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
    assert secrets["emptyDir"]["medium"] == "Memory"
    connect = [s for s in _policy(production, ROLE_POLICY, "data-export") if s["Sid"] ==
               "LogInAsTheExportRole"]  # fmt: skip
    assert re.fullmatch(
        rf"arn:aws:rds-db:us-east-1:123456789012:dbuser:db-[A-Z0-9]+/{EXPORT_ROLE}",
        connect[0]["Resource"],
    )
    publish = _env(pod["containers"][0])
    assert publish["DESTINATION"] == "s3://stagecraft-production-data-sync-123456789012/dumps"


def test_the_export_role_only_writes_and_the_bucket_admits_only_staging_to_read(production):
    statements = _policy(production, ROLE_POLICY, "data-export")
    s3 = {a for s in statements for a in [s["Action"]] if str(a).startswith("s3:")}
    assert s3 == {"s3:PutObject"}
    bucket = {s["Sid"]: s for s in _policy(production, BUCKET_POLICY, "data-export")}
    assert bucket["DenyWithoutTls"]["Effect"] == "Deny"
    read = bucket["OnlyTheImportJobsRead"]
    assert (read["Effect"], read["Principal"]) == ("Deny", "*")
    assert read["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [STAGING_IMPORT_ROLE]
    write = bucket["OnlyTheExportJobWrites"]
    assert (
        write["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        .rsplit("/", 1)[-1]
        .startswith("stagecraft-production-data-export")
    )


def test_the_dumps_bucket_is_versioned_encrypted_and_expires_dumps(production):
    (lifecycle,) = [
        r for r in production.of_type("aws:s3/bucketLifecycleConfiguration:"
                                      "BucketLifecycleConfiguration") if "data-export" in r.name
    ]  # fmt: skip
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    assert rules["expire-all"]["expiration"]["days"] == 35
    assert rules["expire-all"]["filter"] == {}
    assert rules["abandoned-uploads-and-old-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": 1
    }
    (key,) = [k for k in production.of_type("aws:kms/key:Key") if "data-export" in k.name]
    decrypt = [s for s in json.loads(key.inputs["policy"])["Statement"] if s["Sid"] ==
               "ImportJobsDecryptDumpsThroughS3"]  # fmt: skip
    assert decrypt[0]["Principal"]["AWS"] == [STAGING_IMPORT_ROLE]
    assert decrypt[0]["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"


def test_staging_imports_with_a_read_only_role_named_for_production(staging):
    job = _job(staging, "data-import")
    assert job["spec"]["schedule"] == "0 6 * * 6"
    pod = _pod(job)
    assert _env(pod["initContainers"][0])["SOURCE"] == (
        "s3://stagecraft-production-data-sync-123456789012/dumps"
    )
    (role,) = [r for r in staging.of_type(ROLE) if "data-import" in r.name]
    assert role.inputs["name"] == "stagecraft-staging-data-import"
    s3 = {a for s in _policy(staging, ROLE_POLICY, "data-import") for a in [s["Action"]]
          if str(a).startswith("s3:")}  # fmt: skip
    assert s3 == {"s3:GetObject", "s3:ListBucket"}
    assert not [
        j for j in staging.of_type(CRON_JOB) if j.inputs["metadata"]["name"] == "data-export"
    ]


def test_nothing_in_dev_or_the_previews_can_reach_production_data(plans):
    for stack, plan in plans.items():
        if stack in ("production", "staging"):
            continue
        text = json.dumps([r.inputs for r in plan.resources], default=str)
        assert "data-sync" not in text, stack
        assert "data-import" not in text, stack


# --- the policy pack, both ways -------------------------------------------------


Statements = list[dict[str, Any]]


def _mutated(
    plan: Plan, type_token: str, name_part: str, change: Callable[[Statements], Statements]
) -> Plan:
    def edit(resource: PlannedResource) -> PlannedResource:
        if resource.type != type_token or name_part not in resource.name:
            return resource
        document = json.loads(resource.inputs["policy"])
        document["Statement"] = change(document["Statement"])
        return dataclasses.replace(
            resource, inputs={**resource.inputs, "policy": json.dumps(document)}
        )

    return dataclasses.replace(plan, resources=[edit(r) for r in plan.resources])


STAGING_POLICY = load_policy_config(CONFIG_DIR / "staging.json")


def _verdict(rule: str, plan: Plan, config: dict[str, Any]) -> Verdict:
    return evaluate_rule(RULES_BY_NAME[rule], plan, config)


def test_staging_passes_the_data_sync_rules(staging):
    assert _verdict("data-sync-confined", staging, STAGING_POLICY).status == "pass"
    assert _verdict("environment-isolation", staging, STAGING_POLICY).status == "pass"


def test_an_import_role_that_writes_fails(staging):
    def writes(statements):
        statements[1]["Action"] = ["s3:GetObject", "s3:PutObject"]
        return statements

    verdict = _verdict(
        "data-sync-confined", _mutated(staging, ROLE_POLICY, "data-import", writes), STAGING_POLICY
    )
    assert verdict.status == "fail"
    assert any("may s3:PutObject on production's dumps" in v.message for v in verdict.violations)


def test_an_import_from_a_bucket_the_config_does_not_name_fails(staging):
    def elsewhere(statements):
        statements[1]["Resource"] = "arn:aws:s3:::stagecraft-dev-data-sync-123456789012/dumps/*"
        return statements

    verdict = _verdict(
        "data-sync-confined",
        _mutated(staging, ROLE_POLICY, "data-import", elsewhere),
        STAGING_POLICY,
    )
    assert any("reads stagecraft-dev-data-sync-123456789012/dumps/*" in v.message
               for v in verdict.violations)  # fmt: skip


def test_the_crossing_is_allowed_only_where_policy_config_says(staging):
    config = {**STAGING_POLICY, "environment-isolation": {}}
    verdict = _verdict("environment-isolation", staging, config)
    assert verdict.status == "fail"
    assert any("refers to environment 'production'" in v.message for v in verdict.violations)


def test_the_data_sync_rule_is_not_applicable_elsewhere(dev):
    verdict = _verdict("data-sync-confined", dev, STAGING_POLICY)
    assert verdict.status == "not applicable"


# --- the stack files: refused up front -------------------------------------------


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        ("staging", {"dataImport": False, "dataImportBucket": "", "dataImportKmsKeyArn": "",
                     "dataExport": True},
         "stagecraft:dataExport = true: only a production-tier stack exports ('staging' is "
         "non-production)"),
        ("production", {"dataExport": False, "dataExportReaderRoleArns": [], "dataImport": True,
                        "dataImportBucket": "b-data-sync", "dataImportKmsKeyArn":
                        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
         "stagecraft:dataImport = true: a production-tier stack never loads a dump"),
        ("production", {"dbIamAuthentication": False},
         "stagecraft:dataExport = true: the export logs in with an IAM token"),
        ("staging", {"dataImportBucket": ""},
         "stagecraft:dataImportBucket = \"\": is needed with dataImport: true"),
        ("dev", {"dataImportSchedule": "0 7 * * 6"},
         "stagecraft:dataImportSchedule = \"0 7 * * 6\": applies only with dataImport: true"),
        ("production", {"dataExportReaderRoleArns": ["arn:aws:iam::123456789012:role/developer"]},
         "is not an import role's ARN such as"),
        ("production", {"dataExportSchedule": "every saturday"},
         "must be a five-field cron schedule such as '0 2 * * 6'"),
        ("staging", {"dataSyncTimeZone": "Europe/Madird"}, "did you mean 'Europe/Madrid'?"),
        ("dev", {"dataImport": True, "dataImportBucket": "stagecraft-production-data-sync-1",
                 "dataImportKmsKeyArn":
                 "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
         "stagecraft:dataImportSchedule = \"0 6 * * 6\": fires outside workingHours"),
    ],
)  # fmt: skip
def test_a_stack_file_asking_for_the_wrong_direction_is_refused(project, stack, overrides, message):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, stack, **overrides)
    assert any(message in str(p) for p in caught.value.problems), caught.value.problems


# --- a preview starting from the anonymised copy -------------------------------


SNAPSHOT_DB = "anonymised_snapshot"


def test_the_import_keeps_an_untouched_snapshot_closed_to_other_roles(pipeline):
    # As staging's import does after loading its own database.
    env = {**pipeline.import_env, "DBNAME": SNAPSHOT_DB, "ROLE": MASTER, "CREATE_DATABASE": "1"}
    _run("import.sh", "load", str(pipeline.fetched), env=env)
    _run("import.sh", "load", str(pipeline.fetched), env=env)  # exists already: no error
    counted = "SELECT count(*) FROM orders"
    assert (
        psql(pipeline.server, "-c", counted, database=SNAPSHOT_DB).stdout
        == psql(pipeline.server, "-c", counted, database=TARGET_DB).stdout
    )
    assert _leaks(_all_text(pipeline.server, SNAPSHOT_DB)) == []
    entered = psql(pipeline.server, "-c", "SELECT 1", database=SNAPSHOT_DB, user=TARGET_ROLE,
                   password="pw", check=False)  # fmt: skip
    assert "permission denied for database" in entered.stderr


def test_a_preview_can_start_from_the_anonymised_copy(pipeline, tmp_path):
    snapshot = {
        **pipeline.import_env,
        "DBNAME": SNAPSHOT_DB,
        "ROLE": MASTER,
        "CREATE_DATABASE": "1",
    }
    _run("import.sh", "load", str(pipeline.fetched), env=snapshot)
    admin = tmp_path / "admin.json"
    admin.write_text(json.dumps({"username": MASTER, "password": "master-pw"}))
    preview = "pr-77"
    env = {
        **os.environ,
        "PGHOST": pipeline.server["host"],
        "PGPORT": pipeline.server["port"],
        "ADMIN_SECRET_FILE": str(admin),
        "SQL_DIR": str(SQL_DIR),
        "WORK_DIR": str(tmp_path),
        "DBNAME": preview,
        "ROLE": preview,
        "ROLE_PASSWORD": "preview-pw",
        "SEED_FROM_DATABASE": SNAPSHOT_DB,
    }
    run = subprocess.run(["sh", str(SQL_DIR / "run.sh"), "create"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    try:
        counted = "SELECT count(*) FROM customers"
        assert (
            psql(pipeline.server, "-c", counted, database=preview).stdout
            == psql(pipeline.server, "-c", counted, database=TARGET_DB).stdout
        )
        assert _leaks(_all_text(pipeline.server, preview)) == []
        owners = _rows(
            pipeline.server,
            preview,
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
        )
        assert owners == [[preview]]
        # The preview's own role works on its copy; the copy file is gone.
        wrote = psql(pipeline.server, "-c", "UPDATE orders SET status = 'shipped'",
                     database=preview, user=preview, password="preview-pw")  # fmt: skip
        assert wrote.returncode == 0
        assert not (tmp_path / "initial-data.sql").exists()
    finally:
        drop(pipeline.server, preview, preview)


# --- the permissions boundary the bootstrap puts on every environment role -----

ACCOUNT = Account(
    partition="aws",
    account_id="123456789012",
    region="us-east-1",
    project="stagecraft",
    state_bucket="stagecraft-state-123456789012",
    state_key_arn="arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000001",
)
PRODUCTION_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PRODUCTION_TAGS = {"aws:ResourceTag/environment": "production"}


def test_stagings_boundary_lets_its_import_decrypt_productions_dumps_and_nothing_else():
    boundary = environment_boundary(ACCOUNT, "staging", imports_dumps_of="production")
    bucket = "arn:aws:s3:::stagecraft-production-data-sync-123456789012"
    via_s3 = {**PRODUCTION_TAGS, "kms:ViaService": "s3.us-east-1.amazonaws.com"}
    # With the bucket key S3 names the bucket; without it, the object.
    for context in (bucket, f"{bucket}/dumps/x/data/orders.csv"):
        through_s3 = {**via_s3, "kms:EncryptionContext:aws:s3:arn": context}
        assert decide(boundary, "kms:Decrypt", PRODUCTION_KEY, through_s3) == "allowed"
        assert decide(boundary, "kms:GenerateDataKey", PRODUCTION_KEY, through_s3) == "denied"
        # The same context named in a direct call, not S3's: denied.
        direct = {**PRODUCTION_TAGS, "kms:EncryptionContext:aws:s3:arn": context}
        assert decide(boundary, "kms:Decrypt", PRODUCTION_KEY, direct) == "denied"
    # The key with no context, or another of production's buckets: denied.
    assert decide(boundary, "kms:Decrypt", PRODUCTION_KEY, via_s3) == "denied"
    logs = {**via_s3, "kms:EncryptionContext:aws:s3:arn":
            "arn:aws:s3:::stagecraft-production-logs-123456789012"}  # fmt: skip
    assert decide(boundary, "kms:Decrypt", PRODUCTION_KEY, logs) == "denied"
    # An environment that imports nothing gets no exception at all.
    dev = environment_boundary(ACCOUNT, "dev")
    through_s3 = {**via_s3, "kms:EncryptionContext:aws:s3:arn": bucket}
    assert decide(dev, "kms:Decrypt", PRODUCTION_KEY, through_s3) == "denied"


def test_every_boundary_lets_a_role_log_in_to_its_database_with_iam():
    user = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/stagecraft_export"
    assert decide(environment_boundary(ACCOUNT, "production"), "rds-db:connect", user) == "allowed"


def test_a_runs_dump_lives_on_a_volume_deleted_with_its_pod(production, staging):
    for plan, name in ((production, "data-export"), (staging, "data-import")):
        job = _job(plan, name)["spec"]["jobTemplate"]["spec"]
        (work,) = [v for v in job["template"]["spec"]["volumes"] if v["name"] == "work"]
        claim = work["ephemeral"]["volumeClaimTemplate"]["spec"]
        assert claim["storageClassName"] == "gp3-scratch"
        assert claim["resources"]["requests"]["storage"] == "100Gi"
        # The pod, and with it the claim, goes six hours after the run ends.
        assert job["ttlSecondsAfterFinished"] == 6 * 3600
        (scratch,) = [
            c for c in plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
            if c.inputs["metadata"]["name"] == "gp3-scratch"
        ]  # fmt: skip
        # Deleted with its claim even where the environment's own class retains.
        assert scratch.inputs["reclaimPolicy"] == "Delete"


def test_a_malformed_rules_file_is_refused_before_anything_is_created(
    project, tmp_path, monkeypatch
):
    broken = tmp_path / "rules.yaml"
    broken.write_text(RULES_FILE.read_text().replace("body: free_text", "body: frees_text"))
    monkeypatch.setattr(infra.config, "load_rules", lambda: load_rules(broken))
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "staging")
    assert [str(p) for p in caught.value.problems] == [
        'infra/data_sync/rules.yaml: tables.support_tickets.body = "frees_text": unknown '
        "strategy 'frees_text' (did you mean 'free_text'?); allowed: keep, email, phone, "
        "person_name, address, free_text, card_number, date_shift, hashed_id, null, fixed, "
        "generated"
    ]
    # A stack that neither exports nor imports does not read the rules at all.
    assert stack_config(project, "dev").data_sync.data_import is False


def test_an_environment_database_gets_its_roles_grants_back_after_the_import(pipeline):
    """Staging's own database: owned by the master user, read by IAM-authenticated
    roles whose grants the schema replacement drops; the load gives them back."""
    from infra.sql import script

    (pipeline.sync_dir / "access_roles.sql").write_text(script("access_roles.sql"))
    created = psql(pipeline.server, "-c", "CREATE DATABASE staging_environment", check=False)
    assert created.returncode == 0, created.stderr
    roles = {
        "APP_ROLE": "stagecraft_app",
        "READONLY_ROLE": "stagecraft_readonly",
        "WANT_READONLY": "true",
        "READWRITE_ROLE": "stagecraft_readwrite",
        "WANT_READWRITE": "false",
    }
    env = {**pipeline.import_env, "DBNAME": "staging_environment", "ROLE": MASTER, **roles}
    for _ in range(2):  # the first import and the next week's
        _run("import.sh", "load", str(pipeline.fetched), env=env)
        query = "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        owners = _rows(pipeline.server, "staging_environment", query)
        assert owners == [["stagecraft_app"]]
        read = psql(pipeline.server, "-c", "SELECT count(*) > 0 FROM customers",
                    user="stagecraft_readonly", database="staging_environment")  # fmt: skip
        assert read.stdout.strip() == "t"
