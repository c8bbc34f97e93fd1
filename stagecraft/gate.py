"""Gate a `pulumi preview --json` on replacements and deletions of stateful resources.

`pulumi preview --json` writes one document:
``{"config": ..., "steps": [{"op", "urn", "provider", "oldState", "newState",
"diffReasons", "replaceReasons", "detailedDiff"}], "diagnostics", "changeSummary"}``
where ``op`` is one of same, create, update, delete, replace,
create-replacement, delete-replaced, read, read-replacement, refresh,
discard, discard-replaced, remove-pending-replace, import, import-replacement.

A step that replaces or deletes a resource holding data (a database, a cache,
a cluster, a key, a secret, the Kubernetes provider or namespace, whose
replacement takes every object in the cluster with it) fails the gate unless
the pull request allows it by URN, by type, or with the allow-all label.

An update AWS refuses on a running environment (see stagecraft.transitions)
fails the gate too, and cannot be allowed: Kubernetes more than one minor
version up or any down, subnets added to a cluster (new zones), a
PostgreSQL or Redis major upgrade that is not applied at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STATEFUL_TYPES = frozenset(
    {
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:kms/key:Key",
        "aws:secretsmanager/secret:Secret",
        "pulumi:providers:kubernetes",
        "kubernetes:core/v1:Namespace",
        # AWS Backup: a vault takes its recovery points with it, and removing its
        # lock is what lets anyone delete them early.
        "aws:backup/vault:Vault",
        "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
    }
)

# Operations that destroy the existing resource (now or after its replacement).
DESTRUCTIVE_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced"})
KNOWN_OPS = frozenset(
    {
        "same",
        "create",
        "update",
        "delete",
        "replace",
        "create-replacement",
        "delete-replaced",
        "read",
        "read-replacement",
        "refresh",
        "discard",
        "discard-replaced",
        "remove-pending-replace",
        "import",
        "import-replacement",
    }
)

# The PR label that waives the gate for every offender (a deliberate, reviewed decision).
ALLOW_ALL_LABEL = "stagecraft:allow-data-loss"


class PreviewFormatError(Exception):
    """The input is not a `pulumi preview --json` document."""


@dataclass(frozen=True)
class Offender:
    urn: str
    type: str
    op: str
    replace_reasons: list[str]
    allowed_by: str | None = None

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "op": self.op,
            "replaceReasons": self.replace_reasons,
            "allowedBy": self.allowed_by,
        }


@dataclass(frozen=True)
class Refused:
    """An update AWS would reject; no label or --allow makes it possible."""

    urn: str
    rule: str

    def to_json(self) -> dict[str, str]:
        return {"urn": self.urn, "rule": self.rule}


@dataclass(frozen=True)
class GateResult:
    offenders: list[Offender]  # blocking
    allowed: list[Offender]  # would block, but the PR allows them
    steps_checked: int
    refused: list[Refused] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.offenders and not self.refused

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "stepsChecked": self.steps_checked,
            "offenders": [o.to_json() for o in self.offenders],
            "allowed": [o.to_json() for o in self.allowed],
            "refused": [r.to_json() for r in self.refused],
        }


_DIFF_OPS = {"create": "create", "update": "update", "replace": "replace", "delete": "delete"}


def parse_gate_input(text: str) -> tuple[list[Mapping[str, Any]], list[Refused]]:
    """The steps to judge, from `pulumi preview --json` or `stagecraft diff --format json`.

    A stagecraft diff says, per resource, what `pulumi up` would do to it
    (create, update, replace, delete) and which stack-file changes AWS
    would refuse; both become what the gate judges, so the gate works on
    the offline diff of every pull request, without cloud credentials.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PreviewFormatError(
            f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); pass the output of "
            "`pulumi preview --json` or `stagecraft diff --format json`"
        ) from None
    if isinstance(document, dict) and isinstance(document.get("stacks"), list):
        return _diff_steps(document["stacks"])
    return parse_preview(text), []


def _diff_steps(stacks: list[Any]) -> tuple[list[Mapping[str, Any]], list[Refused]]:
    steps: list[Mapping[str, Any]] = []
    refused: list[Refused] = []
    for index, stack in enumerate(stacks):
        if not isinstance(stack, dict) or not isinstance(stack.get("resources"), list):
            raise PreviewFormatError(f"stacks[{index}] has no `resources` list")
        for refusal in stack.get("refused") or []:
            refused.append(
                Refused(
                    str(stack.get("stack")),
                    f"{refusal.get('key')} {refusal.get('before')} -> {refusal.get('after')}: "
                    f"{refusal.get('rule')}",
                )
            )
        for position, resource in enumerate(stack["resources"]):
            action = resource.get("action") if isinstance(resource, dict) else None
            if action not in _DIFF_OPS or not isinstance(resource.get("urn"), str):
                raise PreviewFormatError(
                    f"stacks[{index}].resources[{position}] has no known `action` and `urn`"
                )
            steps.append(
                {
                    "op": _DIFF_OPS[action],
                    "urn": resource["urn"],
                    "type": resource.get("type"),
                    "replaceReasons": list(resource.get("replaceReasons") or []),
                }
            )
    return steps, refused


def parse_preview(text: str) -> list[Mapping[str, Any]]:
    """The steps of a preview document, with every problem named."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PreviewFormatError(
            f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "pass the output of `pulumi preview --json`"
        ) from None
    if not isinstance(document, dict):
        raise PreviewFormatError("expected a JSON object with a `steps` list")
    if "steps" not in document and "changeSummary" not in document:
        # An empty preview still has a changeSummary; a document with neither
        # is something else, and passing it would let anything through.
        raise PreviewFormatError(
            "has neither `steps` nor `changeSummary`: not a `pulumi preview --json` document"
        )
    steps = document.get("steps", [])
    if not isinstance(steps, list):
        raise PreviewFormatError("`steps` must be a list")
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise PreviewFormatError(f"steps[{index}] is not an object")
        for key in ("op", "urn"):
            if not isinstance(step.get(key), str):
                raise PreviewFormatError(f"steps[{index}] has no `{key}` string")
        for key in ("oldState", "newState"):
            if step.get(key) is not None and not isinstance(step[key], dict):
                raise PreviewFormatError(f"steps[{index}].{key} must be an object")
        for key in ("replaceReasons", "diffReasons"):
            reasons = step.get(key)
            if reasons is not None and not (
                isinstance(reasons, list) and all(isinstance(r, str) for r in reasons)
            ):
                raise PreviewFormatError(f"steps[{index}].{key} must be a list of strings")
        if step["op"] not in KNOWN_OPS:
            known = ", ".join(sorted(KNOWN_OPS))
            raise PreviewFormatError(
                f"steps[{index}] has unknown op '{step['op']}'; known: {known}"
            )
    return steps


def step_type(step: Mapping[str, Any]) -> str:
    """The resource type of a step: explicit, from its states, or from its URN."""
    for candidate in (
        step.get("type"),
        (step.get("newState") or {}).get("type"),
        (step.get("oldState") or {}).get("type"),
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    # urn:pulumi:<stack>::<project>::<parent$...$type>::<name>
    parts = str(step["urn"]).split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


def evaluate_gate(
    steps: Iterable[Mapping[str, Any]],
    *,
    allow: Iterable[str] = (),
    labels: Iterable[str] = (),
    refused: Iterable[Refused] = (),
) -> GateResult:
    allowances = set(allow)
    allow_all = ALLOW_ALL_LABEL in set(labels)
    offenders: list[Offender] = []
    allowed: list[Offender] = []
    seen: set[tuple[str, str]] = set()
    count = 0
    refused = list(refused)
    for step in steps:
        count += 1
        op, urn = str(step["op"]), str(step["urn"])
        type_token = step_type(step)
        if op == "update":
            refused += [Refused(urn, rule) for rule in refused_update(type_token, step)]
        if op not in DESTRUCTIVE_OPS or type_token not in STATEFUL_TYPES:
            continue
        # One replacement shows up as several steps (create-replacement, replace,
        # delete-replaced); report the resource once, under its first step.
        if (urn, "replacement" if op != "delete" else "delete") in seen:
            continue
        seen.add((urn, "replacement" if op != "delete" else "delete"))
        reasons = [str(r) for r in step.get("replaceReasons") or []]
        reason = (
            "label " + ALLOW_ALL_LABEL
            if allow_all
            else f"--allow {urn}"
            if urn in allowances
            else f"--allow {type_token}"
            if type_token in allowances
            else None
        )
        offender = Offender(urn, type_token, op, reasons, reason)
        (allowed if reason else offenders).append(offender)
    return GateResult(offenders=offenders, allowed=allowed, steps_checked=count, refused=refused)


def _inputs(step: Mapping[str, Any], side: str) -> Mapping[str, Any]:
    state = step.get(side) or {}
    inputs = state.get("inputs") or {}
    return inputs if isinstance(inputs, Mapping) else {}


def _minor(version: object) -> tuple[int, int] | None:
    parts = str(version or "").split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def refused_update(type_token: str, step: Mapping[str, Any]) -> list[str]:
    """Why AWS would reject this in-place update of a running resource, if it would."""
    old, new = _inputs(step, "oldState"), _inputs(step, "newState")
    if type_token == "aws:eks/cluster:Cluster":
        problems = []
        old_minor, new_minor = _minor(old.get("version")), _minor(new.get("version"))
        if old_minor and new_minor and new_minor < old_minor:
            problems.append(
                f"Kubernetes {old['version']} -> {new['version']}: EKS never downgrades"
            )
        elif old_minor and new_minor and new_minor[1] - old_minor[1] > 1:
            problems.append(
                f"Kubernetes {old['version']} -> {new['version']}: EKS upgrades one minor "
                "version at a time"
            )
        old_subnets = set((old.get("vpcConfig") or {}).get("subnetIds") or [])
        new_subnets = set((new.get("vpcConfig") or {}).get("subnetIds") or [])
        if len(new_subnets) > len(old_subnets):
            problems.append(
                f"adds {len(new_subnets - old_subnets)} subnet(s) to the cluster: EKS accepts "
                "subnets only in the zones it was created with (a new zone needs a new cluster)"
            )
        return problems
    if type_token == "aws:rds/instance:Instance":
        before, after = str(old.get("engineVersion") or ""), str(new.get("engineVersion") or "")
        old_major, new_major = before.split(".", maxsplit=1)[0], after.split(".", maxsplit=1)[0]
        upgraded = old_major.isdigit() and new_major.isdigit() and int(new_major) > int(old_major)
        if upgraded and not new.get("applyImmediately"):
            return [
                f"PostgreSQL {before} -> {after} without applyImmediately: RDS takes the "
                "new parameter group family only with the new engine, at once"
            ]
    if type_token == "aws:elasticache/replicationGroup:ReplicationGroup":
        before, after = str(old.get("engineVersion") or ""), str(new.get("engineVersion") or "")
        if before[:1] != after[:1] and before and after and not new.get("applyImmediately"):
            return [
                f"Redis {before} -> {after} without applyImmediately: ElastiCache takes the new "
                "parameter group family only with the new engine, at once"
            ]
    return []


def _restore_note(offender: Offender) -> str:
    """Says so when the replacement is a point-in-time restore (still to be approved)."""
    if any(r.startswith("restoreToPointInTime") for r in offender.replace_reasons):
        return (
            "\n      a point-in-time restore (dbRestoreTime): a NEW instance replaces this one; "
            "the old one is retained if the stack protects it (README 'Restoring a database "
            "to a point in time')"
        )
    if "replicateSourceDb" in offender.replace_reasons:
        return "\n      a read replica following its restored primary"
    return ""


def render_text(result: GateResult) -> str:
    lines = [f"gate FAILED: AWS would refuse {r.urn}: {r.rule}" for r in result.refused]
    if result.passed:
        lines.append(
            f"gate passed: {result.steps_checked} steps, no unapproved replacement or deletion "
            "of a stateful resource"
        )
    elif result.offenders:
        lines.append(
            f"gate FAILED: {len(result.offenders)} stateful resource(s) would be replaced or "
            "deleted:"
        )
        for o in result.offenders:
            why = f" (replace reasons: {', '.join(o.replace_reasons)})" if o.replace_reasons else ""
            lines.append(f"  {o.op}  {o.type}  {o.urn}{why}{_restore_note(o)}")
        lines.append(
            f"To proceed on purpose: --allow <urn-or-type> for each, or the PR label "
            f"'{ALLOW_ALL_LABEL}'."
        )
    for o in result.allowed:
        lines.append(f"  allowed ({o.allowed_by}): {o.op}  {o.type}  {o.urn}")
    return "\n".join(lines) + "\n"
