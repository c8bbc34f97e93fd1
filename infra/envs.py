"""`stagecraft env`: create, list and garbage-collect the small environments.

`pr-<n>` and `dev-<name>` stacks live in the `ephemeral/` project, one stack
file each, written from `ephemeral/Pulumi.stack.yaml.template`.  Each records
when it was created and its TTL; `gc` finds the expired ones and prints (or,
with the Pulumi CLI and kubectl at hand, runs) what removes them: the
in-cluster drop Job first (only the cluster reaches the database), then
`pulumi destroy` and `pulumi stack rm`.
"""

from __future__ import annotations

import json
import shlex
import shutil
import string
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.config import (
    ALLOWED_PARENT,
    FULL_ENVIRONMENTS,
    STACK_NAME_RULE,
    parse_timestamp,
    parse_ttl,
    stack_kind,
)
from infra.offline.stackfiles import Project, StackFileError, load_project

EPHEMERAL_DIR = "ephemeral"
TEMPLATE = "Pulumi.stack.yaml.template"
DEFAULT_ORGANIZATION = "organization"  # what self-managed backends call every org
DEFAULT_BUDGETS = {"preview": 50, "developer": 100}
DESCRIPTIONS = {
    "preview": "Preview environment of pull request #{number}, on the shared staging cluster.",
    "developer": "{name}'s environment on the shared dev cluster.",
}


class EnvError(Exception):
    """A request `stagecraft env` refuses; printed as one line."""


@dataclass(frozen=True)
class EnvironmentEntry:
    stack: str
    kind: str
    parent: str | None
    created_at: datetime | None
    ttl: str | None
    path: Path

    @property
    def expires_at(self) -> datetime | None:
        if self.created_at is None or self.ttl is None:
            return None
        return self.created_at + parse_ttl(self.ttl)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def age(self, now: datetime) -> str:
        if self.created_at is None:
            return "-"
        delta = now - self.created_at
        days, hours = delta.days, delta.seconds // 3600
        return f"{days}d{hours}h" if days else f"{hours}h"


def ephemeral_project(root: Project) -> Project:
    return load_project(root.directory / EPHEMERAL_DIR)


def _format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(
    root: Project,
    stack: str,
    *,
    ttl: str = "7d",
    own_database: bool = False,
    organization: str = DEFAULT_ORGANIZATION,
    now: datetime | None = None,
) -> Path:
    """Write ``ephemeral/Pulumi.<stack>.yaml``; rewriting an existing one restarts its TTL."""
    kind = stack_kind(stack)
    if kind is None:
        raise EnvError(f"'{stack}' {STACK_NAME_RULE}")
    if kind == "environment":
        raise EnvError(
            f"'{stack}' is a full environment ({', '.join(FULL_ENVIRONMENTS)}): edit "
            f"Pulumi.{stack}.yaml by hand; `env create` makes pr-<n> and dev-<name> stacks"
        )
    try:
        parse_ttl(ttl)
    except ValueError as exc:
        raise EnvError(f"--ttl {ttl}: {exc}") from None
    parent = ALLOWED_PARENT[kind]
    try:
        parent_config = root.read_stack(parent)
    except StackFileError as exc:
        raise EnvError(f"the shared stack '{parent}' has no stack file: {exc}") from None
    moment = now or datetime.now(UTC)
    number_or_name = stack.split("-", 1)[1]
    values = {
        "description": DESCRIPTIONS[kind].format(number=number_or_name, name=number_or_name),
        "stack": stack,
        "created_at": _format_timestamp(moment),
        "ttl": ttl,
        "region": parent_config.get("aws:region", "us-east-1"),
        "shared_stack": f"{organization}/{root.name}/{parent}",
        "own_database": "true" if own_database else "false",
        "owner": parent_config.get(f"{root.name}:owner", "platform-team"),
        "cost_center": parent_config.get(f"{root.name}:costCenter", "engineering"),
        "monthly_budget": str(DEFAULT_BUDGETS[kind]),
    }
    project = ephemeral_project(root)
    template = string.Template((project.directory / TEMPLATE).read_text(encoding="utf-8"))
    path = project.directory / f"Pulumi.{stack}.yaml"
    path.write_text(template.substitute(values), encoding="utf-8")
    # Validate what was written, with the same rules `pulumi up` will apply.
    from infra.config import ConfigError, parse_ephemeral_config

    try:
        config = project.config_map(stack)
        parse_ephemeral_config(config.values, project=project.name, stack=stack)
    except ConfigError:
        path.unlink()
        raise
    return path


def entries(root: Project) -> list[EnvironmentEntry]:
    """Every stack file of both projects, the small environments with their TTL."""
    found = [
        EnvironmentEntry(stack, "environment", None, None, None, root.stack_file(stack))
        for stack in root.stacks()
    ]
    project = ephemeral_project(root)
    prefix = f"{project.name}:"
    for stack in project.stacks():
        raw = project.read_stack(stack)
        created = raw.get(f"{prefix}createdAt")
        try:
            created_at = parse_timestamp(str(created)) if created else None
        except ValueError:
            created_at = None
        shared = str(raw.get(f"{prefix}sharedStack", ""))
        found.append(
            EnvironmentEntry(
                stack=stack,
                kind=stack_kind(stack) or "invalid name",
                parent=shared.rsplit("/", 1)[-1] if shared else None,
                created_at=created_at,
                ttl=str(raw.get(f"{prefix}ttl", "7d")),
                path=project.stack_file(stack),
            )
        )
    return found


def expired(root: Project, now: datetime) -> list[EnvironmentEntry]:
    return [e for e in entries(root) if e.kind in ("preview", "developer") and e.expired(now)]


def teardown_commands(root: Project, entry: EnvironmentEntry, region: str) -> list[list[str]]:
    """What removes one small environment, in order."""
    assert entry.parent is not None
    cluster = f"{root.name}-{entry.parent}"
    kubeconfig = f".stagecraft-kubeconfig-{entry.parent}"
    job = "database-drop-gc"
    cwd = ["--cwd", EPHEMERAL_DIR]
    return [
        ["aws", "eks", "update-kubeconfig", "--name", cluster, "--region", region,
         "--kubeconfig", kubeconfig],
        ["kubectl", "--kubeconfig", kubeconfig, "-n", entry.stack, "create", "job", job,
         "--from=cronjob/database-drop"],
        ["kubectl", "--kubeconfig", kubeconfig, "-n", entry.stack, "wait",
         "--for=condition=complete", f"job/{job}", "--timeout=10m"],
        ["pulumi", "destroy", "--stack", entry.stack, "--yes", "--skip-preview", *cwd],
        ["pulumi", "stack", "rm", entry.stack, "--yes", *cwd],
    ]  # fmt: skip


def entry_from_backend(stack: str, root: Project) -> EnvironmentEntry:
    kind = stack_kind(stack)
    if kind not in ("preview", "developer"):
        raise EnvError(f"'{stack}' is not a pr-<n> or dev-<name> stack")
    return EnvironmentEntry(stack, kind, ALLOWED_PARENT[kind], None, None, root.directory)


def render_commands(commands: Sequence[Sequence[str]]) -> list[str]:
    return [shlex.join(command) for command in commands]


def execute(commands: Sequence[Sequence[str]], *, cwd: Path) -> None:
    for tool in sorted({command[0] for command in commands}):
        if shutil.which(tool) is None:
            raise EnvError(f"--execute needs `{tool}` on PATH; run the printed commands instead")
    for command in commands:
        result = subprocess.run(list(command), cwd=cwd, check=False)
        if result.returncode != 0:
            raise EnvError(f"`{shlex.join(command)}` failed (exit {result.returncode}); stopped")


def backend_expired(now: datetime, *, cwd: Path) -> list[str]:
    """Expired small stacks according to the state backend (where no stack files are).

    CI has no pr-<n> stack files (they are written per run), so the daily
    garbage collection asks the backend for each stack's `expiresAt` output.
    """
    if shutil.which("pulumi") is None:
        raise EnvError("--from-backend needs the Pulumi CLI on PATH")
    listing = subprocess.run(
        ["pulumi", "stack", "ls", "--json", "--cwd", EPHEMERAL_DIR],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listing.returncode != 0:
        raise EnvError(f"`pulumi stack ls` failed: {listing.stderr.strip()}")
    found = []
    for stack in json.loads(listing.stdout or "[]"):
        name = str(stack.get("name", "")).rsplit("/", 1)[-1]
        if stack_kind(name) not in ("preview", "developer"):
            continue
        output = subprocess.run(
            ["pulumi", "stack", "output", "expiresAt", "--stack", name, "--cwd", EPHEMERAL_DIR],
            cwd=cwd, capture_output=True, text=True, check=False,
        )  # fmt: skip
        expires = output.stdout.strip() if output.returncode == 0 else ""
        if expires and parse_timestamp(expires) <= now:
            found.append(name)
    return found
