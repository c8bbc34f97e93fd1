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
import os
import shlex
import shutil
import string
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.config import (
    ALLOWED_PARENT,
    FULL_ENVIRONMENTS,
    STACK_NAME_RULE,
    database_admin_namespace,
    parse_timestamp,
    parse_ttl,
    stack_kind,
)
from stagecraft.offline.stackfiles import Project, StackFileError, load_project

EPHEMERAL_DIR = "ephemeral"
TEMPLATE = "Pulumi.stack.yaml.template"
DEFAULT_TTL = "7d"
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
    ttl: str | None = None,
    own_database: bool | None = None,
    initial_data: str | None = None,
    organization: str = DEFAULT_ORGANIZATION,
    now: datetime | None = None,
) -> Path:
    """Write ``ephemeral/Pulumi.<stack>.yaml``; rewriting an existing one restarts its TTL.

    ``ttl``, ``own_database`` and ``initial_data`` left as None keep what an
    existing file says (a CI run on every push must not turn a PR's own
    database off), else 7d, shared and seed.
    """
    kind = stack_kind(stack)
    if kind is None:
        raise EnvError(f"'{stack}' {STACK_NAME_RULE}")
    if kind == "environment":
        raise EnvError(
            f"'{stack}' is a full environment ({', '.join(FULL_ENVIRONMENTS)}): edit "
            f"Pulumi.{stack}.yaml by hand; `env create` makes pr-<n> and dev-<name> stacks"
        )
    project = ephemeral_project(root)
    path = project.directory / f"Pulumi.{stack}.yaml"
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    existing = project.read_stack(stack) if previous is not None else {}
    if ttl is None:
        ttl = str(existing.get(f"{project.name}:ttl", DEFAULT_TTL))
    if own_database is None:
        own_database = str(existing.get(f"{project.name}:ownDatabase", "false")).lower() == "true"
    if initial_data is None:
        initial_data = str(existing.get(f"{project.name}:initialData", "seed"))
    try:
        parse_ttl(ttl)
    except ValueError as exc:
        raise EnvError(f"--ttl {ttl}: {exc}") from None
    parent = ALLOWED_PARENT[kind]
    try:
        parent_config = root.read_stack(parent)
    except StackFileError as exc:
        raise EnvError(f"the shared stack '{parent}' has no stack file: {exc}") from None
    if initial_data == "anonymised" and (
        str(parent_config.get(f"{root.name}:dataImport", "false")).lower() != "true"
    ):
        raise EnvError(
            f"--initial-data anonymised: the shared stack '{parent}' keeps no anonymised copy "
            "of production (only a stack with dataImport does: staging, for pr-<n>); use "
            "--initial-data seed"
        )
    moment = now or datetime.now(UTC)
    number_or_name = stack.split("-", 1)[1]
    values = {
        "description": DESCRIPTIONS[kind].format(number=number_or_name, name=number_or_name),
        "stack": stack,
        "created_at": _format_timestamp(moment),
        "ttl": ttl,
        "region": parent_config.get("aws:region", "us-east-1"),
        # Same account as the cluster it shares; the parent's file must say which.
        "aws_account_id": str(parent_config.get(f"{root.name}:awsAccountId", "")),
        "shared_stack": f"{organization}/{root.name}/{parent}",
        "own_database": "true" if own_database else "false",
        "initial_data": initial_data,
        "owner": parent_config.get(f"{root.name}:owner", "platform-team"),
        "cost_center": parent_config.get(f"{root.name}:costCenter", "engineering"),
        "monthly_budget": str(DEFAULT_BUDGETS[kind]),
    }
    template = string.Template((project.directory / TEMPLATE).read_text(encoding="utf-8"))
    path.write_text(template.substitute(values), encoding="utf-8")
    # Validate what was written, with the same rules `pulumi up` will apply.
    from infra.config import ConfigError, parse_ephemeral_config

    try:
        config = project.config_map(stack)
        parse_ephemeral_config(config.values, project=project.name, stack=stack)
    except ConfigError:
        # Leave things as they were: the earlier, valid file back, or none.
        if previous is None:
            path.unlink()
        else:
            path.write_text(previous, encoding="utf-8")
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


@dataclass(frozen=True)
class Step:
    """One teardown command, run only where its probe (if any) succeeds."""

    command: list[str]
    only_if: list[str] | None = None  # a probe: the step is skipped when it fails
    why: str = ""


def teardown_steps(root: Project, entry: EnvironmentEntry, region: str) -> list[Step]:
    """What removes one small environment, in order: its database first."""
    assert entry.parent is not None
    cluster = f"{root.name}-{entry.parent}"
    kubeconfig = f".stagecraft-kubeconfig-{entry.parent}"
    job = "database-drop-gc"
    kubectl = ["kubectl", "--kubeconfig", kubeconfig, "-n", database_admin_namespace(entry.stack)]
    has_drop_job = [*kubectl, "get", "cronjob/database-drop"]
    cwd = ["--cwd", EPHEMERAL_DIR]
    has_stack = ["pulumi", "stack", "select", entry.stack, *cwd]
    never = "skipped where the environment was never deployed"
    return [
        Step(["aws", "eks", "update-kubeconfig", "--name", cluster, "--region", region,
              "--kubeconfig", kubeconfig]),
        # A job left by an earlier, interrupted attempt would block the next.
        Step([*kubectl, "delete", "job", job, "--ignore-not-found"], has_drop_job, never),
        Step([*kubectl, "create", "job", job, "--from=cronjob/database-drop"], has_drop_job, never),
        Step([*kubectl, "wait", "--for=condition=complete", f"job/{job}", "--timeout=10m"],
             has_drop_job, never),
        Step(["pulumi", "destroy", "--stack", entry.stack, "--yes", "--skip-preview", *cwd],
             has_stack, never),
        Step(["pulumi", "stack", "rm", entry.stack, "--yes", *cwd], has_stack, never),
    ]  # fmt: skip


def entry_from_backend(stack: str, root: Project) -> EnvironmentEntry:
    kind = stack_kind(stack)
    if kind not in ("preview", "developer"):
        raise EnvError(f"'{stack}' is not a pr-<n> or dev-<name> stack")
    return EnvironmentEntry(stack, kind, ALLOWED_PARENT[kind], None, None, root.directory)


def render_steps(steps: Sequence[Step]) -> list[str]:
    return [
        shlex.join(step.command)
        + (f"    # only if `{shlex.join(step.only_if)}`" if step.only_if else "")
        for step in steps
    ]


def execute(steps: Sequence[Step], *, cwd: Path) -> None:
    for tool in sorted({step.command[0] for step in steps}):
        if shutil.which(tool) is None:
            raise EnvError(f"--execute needs `{tool}` on PATH; run the printed commands instead")
    for step in steps:
        if step.only_if is not None:
            probe = subprocess.run(step.only_if, cwd=cwd, capture_output=True, check=False)
            if probe.returncode != 0:
                print(f"skipped ({step.why}): {shlex.join(step.command)}")
                continue
        result = subprocess.run(step.command, cwd=cwd, check=False)
        if result.returncode != 0:
            raise EnvError(
                f"`{shlex.join(step.command)}` failed (exit {result.returncode}); stopped"
            )


def backend_expired(
    now: datetime, *, root: Project, kind: str | None = None, backend_url: str | None = None
) -> list[str]:
    """Expired small stacks according to the state backend (where no stack files are).

    CI has no pr-<n> stack files (they are written per run), so the daily
    garbage collection asks the backend for each stack's `expiresAt` output.
    An S3 or local backend is read directly, opening only the checkpoints of
    the stacks asked for (CI's role may read no other); any other backend
    (Pulumi Cloud) through the CLI.
    """
    from stagecraft import backend_state

    def wanted(name: str) -> bool:
        found = stack_kind(name)
        return found in ("preview", "developer") and (kind is None or found == kind)

    url = backend_url if backend_url is not None else os.environ.get("PULUMI_BACKEND_URL", "")
    if backend_state.is_diy(url):
        try:
            states = backend_state.stacks(url, ephemeral_project(root).name, wanted)
        except backend_state.BackendError as error:
            raise EnvError(f"cannot list the stacks in the state backend: {error}") from None
        return [s.name for s in states if _expires(s.outputs.get("expiresAt"), s.last_update, now)]
    return _expired_via_cli(now, cwd=root.directory, wanted=wanted)


def _expires(expires_at: object, last_update: datetime | None, now: datetime) -> bool:
    if isinstance(expires_at, str) and expires_at:
        try:
            return parse_timestamp(expires_at) <= now
        except ValueError:
            pass  # not ours to trust: fall back to the last update
    if last_update is None:
        return False
    # A stack whose first `up` failed has no outputs: count the default TTL
    # from its last update, so it is not kept for ever.
    return last_update + parse_ttl(DEFAULT_TTL) <= now


def _expired_via_cli(now: datetime, *, cwd: Path, wanted: Callable[[str], bool]) -> list[str]:
    if shutil.which("pulumi") is None:
        raise EnvError("--from-backend needs the Pulumi CLI on PATH for this backend")
    listing = subprocess.run(
        ["pulumi", "stack", "ls", "--json", "--cwd", EPHEMERAL_DIR],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listing.returncode != 0:
        raise EnvError(f"`pulumi stack ls` failed: {listing.stderr.strip()}")
    found = []
    for stack in json.loads(listing.stdout or "[]"):
        name = str(stack.get("name", "")).rsplit("/", 1)[-1]
        if not wanted(name):
            continue
        output = subprocess.run(
            ["pulumi", "stack", "output", "expiresAt", "--stack", name, "--cwd", EPHEMERAL_DIR],
            cwd=cwd, capture_output=True, text=True, check=False,
        )  # fmt: skip
        expires = output.stdout.strip() if output.returncode == 0 else ""
        last = parse_timestamp(str(stack["lastUpdate"])) if stack.get("lastUpdate") else None
        if _expires(expires, last, now):
            found.append(name)
    return found
