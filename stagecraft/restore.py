"""`stagecraft restore`: bring a stack's database back to a point in time, as a new instance.

The command does not touch AWS.  It checks the request, writes (or prints)
the three config keys of infra/config.py DatabaseSpec that make `pulumi up`
build a new primary with RDS's `RestoreDBInstanceToPointInTime` and switch
the environment to it, plans the stack with them offline (so a bad value is
one clear error, and the steps name the real URNs), and prints the exact
procedure: preview, unprotect, deploy, verify, what is left behind, how to
switch back, how to delete the old instance later (README "Restoring a
database to a point in time").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.config import PROJECT_NAME
from infra.restore import (
    LATEST,
    default_restore_name,
    parse_restore_time,
    rds_identifier_problem,
    restore_identifier,
    restore_name_problem,
    restore_time_problem,
)
from stagecraft.offline.stackfiles import Project

TIME_KEY = f"{PROJECT_NAME}:dbRestoreTime"
SOURCE_KEY = f"{PROJECT_NAME}:dbRestoreSourceIdentifier"
NAME_KEY = f"{PROJECT_NAME}:dbRestoreName"
RESTORE_KEYS = (TIME_KEY, SOURCE_KEY, NAME_KEY)

DB_INSTANCE = "aws:rds/instance:Instance"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

# The comment written above the keys in the stack file (and recognised when
# a later restore rewrites them).
_COMMENT = "  # Point-in-time restore (`stagecraft restore`, README 'Restoring a database"
_COMMENT_LINES = (
    _COMMENT + " to a point in time'):",
    "  # the primary is a new instance built from the source's backups. Keep these",
    "  # while it lives: without them `pulumi up` would replace it with an empty one.",
)
_RESTORE_LINE = re.compile(
    rf"^\s+{re.escape(PROJECT_NAME)}:(dbRestoreTime|dbRestoreSourceIdentifier|dbRestoreName):"
)
_DB_LINE = re.compile(rf"^\s+{re.escape(PROJECT_NAME)}:db\w+:")


class RestoreError(Exception):
    """The restore asked for cannot be done; one line, no traceback."""


@dataclass(frozen=True)
class RestoreRequest:
    stack: str
    restore_time: str  # RFC 3339 UTC, or "latest"
    source: str  # the instance whose backups are read
    name: str  # dbRestoreName: the new identifier's suffix
    current: str  # the primary running now
    new: str  # the restored primary's identifier
    read_replicas: int
    protected: bool

    @property
    def overrides(self) -> dict[str, str]:
        return {TIME_KEY: self.restore_time, SOURCE_KEY: self.source, NAME_KEY: self.name}


def _value(config: dict[str, Any], key: str, default: Any = "") -> Any:
    short = key.removeprefix(f"{PROJECT_NAME}:")
    return config.get(key, config.get(short, default))


def _is_true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def prepare(
    project: Project,
    stack: str,
    *,
    to: str,
    source: str | None,
    name: str | None,
    now: datetime,
) -> RestoreRequest:
    """Check a restore of ``stack`` to ``to`` and say what it would write."""
    config = project.read_stack(stack)  # UnknownStackError names the stacks there are
    prefix = f"{project.name}-{stack}"
    current = restore_identifier(prefix, str(_value(config, NAME_KEY) or ""))
    to = to.strip()
    if problem := restore_time_problem(to, now):
        raise RestoreError(f"--to {to}: {problem}")
    source = (source or current).strip()
    if problem := rds_identifier_problem(source):
        raise RestoreError(f"--from {source}: {problem}")
    retention = int(_value(config, f"{PROJECT_NAME}:dbBackupRetentionDays", 0) or 0)
    if source == current:
        # The stack file knows this instance's retention; another instance's
        # (an older, retained primary) only AWS knows.
        if retention == 0:
            raise RestoreError(
                f"{stack} keeps no automated backups (dbBackupRetentionDays: 0), so "
                f"{current} has no point in time to restore to"
            )
        if to != LATEST and parse_restore_time(to) < now - timedelta(days=retention):
            raise RestoreError(
                f"--to {to}: older than {current}'s backup retention ({retention} days, "
                f"earliest {(now - timedelta(days=retention)):%Y-%m-%dT%H:%M:%SZ}); RDS restores "
                "only within it"
            )
    moment = now if to == LATEST else parse_restore_time(to)
    name = (name or default_restore_name(moment)).strip()
    if problem := restore_name_problem(name):
        raise RestoreError(f"--name {name}: {problem}")
    new = restore_identifier(prefix, name)
    if new in (current, source):
        raise RestoreError(
            f"--name {name}: the restored instance would be '{new}', the identifier of "
            f"{'the instance running now' if new == current else 'its source'}; a restore "
            "builds a NEW instance: choose another name"
        )
    return RestoreRequest(
        stack=stack,
        restore_time=to,
        source=source,
        name=name,
        current=current,
        new=new,
        read_replicas=int(_value(config, f"{PROJECT_NAME}:dbReadReplicas", 0) or 0),
        protected=_is_true(_value(config, f"{PROJECT_NAME}:protectStatefulResources", False)),
    )


def edited_stack_file(text: str, request: RestoreRequest) -> str:
    """``text`` (a stack file) with the restore keys set, comments and order kept.

    Earlier restore keys and their comment are replaced; the keys go after the
    last `db*` key (the Database section), else at the end of `config:`.
    """
    lines = text.splitlines()
    kept = [line for line in lines if not _RESTORE_LINE.match(line) and line not in _COMMENT_LINES]
    block = [
        *_COMMENT_LINES,
        f'  {TIME_KEY}: "{request.restore_time}"',
        f"  {SOURCE_KEY}: {request.source}",
        f"  {NAME_KEY}: {request.name}",
    ]
    anchor = max((i for i, line in enumerate(kept) if _DB_LINE.match(line)), default=None)
    if anchor is None:
        anchor = max((i for i, line in enumerate(kept) if line.strip()), default=len(kept) - 1)
    else:
        # Past a list value of that key (indented deeper than the keys).
        while anchor + 1 < len(kept) and kept[anchor + 1].startswith(("    ", "  -")):
            anchor += 1
    result = kept[: anchor + 1] + block + kept[anchor + 1 :]
    return "\n".join(result) + "\n"


def write(project: Project, request: RestoreRequest) -> Path:
    path = project.stack_file(request.stack)
    path.write_text(edited_stack_file(path.read_text(encoding="utf-8"), request), encoding="utf-8")
    return path


def _urns(plan: Any, type_token: str, identifiers: set[str], key: str) -> list[str]:
    return [
        r.urn
        for r in plan.resources
        if r.type == type_token and any(i in str(r.inputs.get(key, "")) for i in identifiers)
    ]


def steps(request: RequestPlan) -> list[str]:
    """The procedure, as numbered lines of text with the exact commands."""
    r, plan = request.request, request.plan
    stack = r.stack
    old_replicas = [f"{r.current}-replica-{n}" for n in range(1, r.read_replicas + 1)]
    databases = _urns(plan, DB_INSTANCE, {r.new}, "identifier")
    what = "the primary" + (f" and its {r.read_replicas} replica(s)" if r.read_replicas else "")
    time_words = "its latest restorable time" if r.restore_time == LATEST else f"{r.restore_time}"
    lines = [
        f"Restore of {stack}'s database: {r.source} at {time_words} -> NEW instance {r.new}",
        f"(running now: {r.current}; it is not changed by the restore).",
        "",
        "1. Review the change offline (the stack file edit is part of it):",
        f"     stagecraft diff --stack {stack} --base HEAD",
        f"   Expect: {what} REPLACED (restoreToPointInTime, identifier {r.new}); their log",
        "   groups replaced (new names); the database alarms UPDATED in place (dimension);",
        "   the connection secrets and the app's Secret rewritten with the new address; the",
        "   roles job run again. Nothing else stateful (cache, buckets, keys, cluster).",
        "   The gate fails it as a replacement of a database: approve it on purpose",
        "   (PR label stagecraft:allow-data-loss, or `stagecraft gate --allow <urn>`).",
    ]
    step = 2
    if r.protected:
        lines += [
            f"{step}. {stack} protects its stateful resources, and Pulumi refuses to replace a",
            "   protected resource. Lift the flag in the STATE only (the program sets it",
            "   again on the new instance); the old instance is never deleted: the program",
            "   marks it retainOnDelete, so Pulumi only lets go of it, and RDS deletion",
            "   protection stays on it. retainOnDelete is read from the state, so a `pulumi",
            "   up` of this program must have run since it set it; check that before:",
            f"     pulumi stack export --stack {stack} | grep -c retainOnDelete",
            "   and then:",
            *(f"     pulumi state unprotect --stack {stack} '{urn}'" for urn in databases),
        ]
        step += 1
    lines += [
        f"{step}. Preview against the real stack, then deploy through the usual workflow:",
        f"     pulumi preview --stack {stack} --diff",
        f"     pulumi up --stack {stack}",
        f"   RDS builds {r.new} (minutes to hours, with the database size), then the",
        "   replicas; applications switch when the connection secrets and the app's Secret",
        "   carry the new address (restart the deployments to reconnect at once).",
        f"{step + 1}. Verify: the smoke job and `stagecraft check-outputs` pass; `pulumi preview",
        f"   --stack {stack}` shows no change (else run `pulumi up` once more: RDS's restore",
        "   call does not take every setting, the provider applies the rest in place).",
        f"{step + 2}. Left behind, still running and billed (both databases cost while they",
        f"   coexist): {', '.join([r.current, *old_replicas])}"
        + (
            ", and their log groups (retained)."
            if r.protected
            else " (NOT retained: this stack does not protect stateful resources, so "
            "`pulumi up` deletes them, with a final snapshot if dbFinalSnapshot)."
        ),
        f"{step + 3}. Switch back, if the restore was the wrong call: the old instance has not",
        "   changed since the switch, so restore from it, at its latest time:",
        f"     stagecraft restore --stack {stack} --from {r.current} --to latest --write",
        f"{step + 4}. Delete the old instance once it is no longer needed (outside Pulumi):",
        *(
            f"     aws rds delete-db-instance --db-instance-identifier {replica} "
            "--skip-final-snapshot"
            for replica in old_replicas
        ),
        f"     aws rds modify-db-instance --db-instance-identifier {r.current} "
        "--no-deletion-protection --apply-immediately",
        f"     aws rds delete-db-instance --db-instance-identifier {r.current} "
        f"--final-db-snapshot-identifier {r.current}-final-{r.name}",
        *(
            f"     aws logs delete-log-group --log-group-name /aws/rds/instance/{i}/{export}"
            for i in [r.current, *old_replicas]
            for export in ("postgresql", "upgrade")
        ),
        f"   Keep {TIME_KEY.split(':')[1]}, {SOURCE_KEY.split(':')[1]} and "
        f"{NAME_KEY.split(':')[1]} in Pulumi.{stack}.yaml while {r.new} lives.",
    ]
    return lines


@dataclass(frozen=True)
class RequestPlan:
    """A checked request and the stack's offline plan with it applied."""

    request: RestoreRequest
    plan: Any


def now_utc() -> datetime:
    return datetime.now(UTC)
