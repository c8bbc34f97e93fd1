"""Shared fixtures: each real stack is evaluated once per test session."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import StackConfig, parse_stack_config
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from stagecraft.offline.stackfiles import Project, load_project, scratch_copy

REPO = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "production")


def shipped_value(key: str, stack: str = "staging", subproject: str = "") -> Any:
    """A value of a shipped stack file, for tests whose expectation follows it.

    The shipped files hold documentation values (account 123456789012,
    octo-org, TEST-NET ranges); a fork holds its own (README "Deploy for
    real", step 6). Tests of what the program does with them read them here,
    so they hold in both.
    """
    path = REPO / subproject / f"Pulumi.{stack}.yaml"
    return yaml.safe_load(path.read_text())["config"][key]


ACCOUNT = str(shipped_value("stagecraft:awsAccountId"))
REPOSITORY = str(shipped_value("stagecraft:githubRepository", "bootstrap", "bootstrap"))


def _github_subject_prefix() -> str:
    """`repo:<owner>/<name>`, or GitHub's immutable form where the bootstrap sets the ids."""
    config = yaml.safe_load((REPO / "bootstrap" / "Pulumi.bootstrap.yaml").read_text())["config"]
    owner_id = config.get("stagecraft:githubOwnerId") or 0
    repository_id = config.get("stagecraft:githubRepositoryId") or 0
    owner, name = REPOSITORY.split("/", 1)
    if owner_id and repository_id:
        return f"repo:{owner}@{owner_id}/{name}@{repository_id}"
    return f"repo:{owner}/{name}"


# What the CI roles' trust pins in the token's `sub`, before `:<context>`.
SUBJECT = _github_subject_prefix()


@pytest.fixture(scope="session")
def project() -> Project:
    return load_project(REPO)


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    return {stack: evaluate(stack, project_dir=REPO) for stack in STACKS}


@pytest.fixture(scope="session")
def dev(plans: dict[str, Plan]) -> Plan:
    return plans["dev"]


@pytest.fixture(scope="session")
def staging(plans: dict[str, Plan]) -> Plan:
    return plans["staging"]


@pytest.fixture(scope="session")
def production(plans: dict[str, Plan]) -> Plan:
    return plans["production"]


@pytest.fixture
def scratch(tmp_path: Path, project: Project) -> Path:
    """A copy of the stack files (running the real program) to edit freely."""
    return scratch_copy(project, tmp_path / "project").directory


def edit_stack(directory: Path, stack: str, **changes: object) -> None:
    """Set keys (fully qualified, e.g. "stagecraft:dbMultiAz") in a copied stack file."""
    path = directory / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].update(changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def stack_config(project: Project, stack: str, **overrides: Any) -> StackConfig:
    """Parse a real stack file with some keys replaced (names without namespace)."""
    values = {f"stagecraft:{k}": v for k, v in overrides.items()}
    config = project.config_map(stack, values)
    return parse_stack_config(
        config.values, project=project.name, stack=stack, secret_keys=config.secret_keys
    )


def inside(plan: Plan, component_type: str) -> list[PlannedResource]:
    """Every resource below the one component of ``component_type``."""
    component = plan.one(component_type)
    return list(plan.descendants_of(component.urn))


@contextlib.contextmanager
def moto_server(**environment: str) -> Iterator[str]:
    """A moto server on loopback (AWS's APIs for botocore); yields its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per test worker. moto does not resolve ACM's validation
    records; it issues a requested certificate after MOTO_ACM_VALIDATION_WAIT
    seconds instead, here at once, as a validated one would be."""
    with moto_server(MOTO_ACM_VALIDATION_WAIT="-1") as endpoint:
        yield endpoint


@pytest.fixture
def aws_on_moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """botocore pointed at the moto server, with credentials that reach nothing else."""
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=5
    ).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_endpoint


def environment_key(plan: Plan) -> PlannedResource:
    """The environment's KMS key (Secrets'), not a component's own (the data-sync dumps')."""
    (key,) = [k for k in plan.of_type("aws:kms/key:Key") if k.name.endswith("-secrets-key")]
    return key
