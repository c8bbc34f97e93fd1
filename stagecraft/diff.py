"""Compare two offline plans: a stack at two git revisions, or two stacks.

Resources are matched by URN.  Between two stacks the stack's own name and
resource prefix are neutralised first (``stagecraft-staging-database`` and
``stagecraft-production-database`` are the same resource), and so are the
ids the (mock) cloud gave each side's resources, so the diff shows how the
environments differ, not that their names and ids do.  Properties are
compared leaf by leaf; JSON documents inside strings (IAM policies, provider
tags) are compared inside.  A secret is never shown: where its fingerprint
differs the property is reported as "(secret changed)".

Each resource is created, updated, **replaced** or deleted, as `pulumi up`
would do it: a change to an input the provider marks as forcing a new
resource replaces it (see stagecraft/replacements), and so does a change to
the provider it is created through when that provider is itself replaced.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from stagecraft.cost import StackCost, money, signed_money
from stagecraft.offline.engine import SECRET, Plan, PlannedResource
from stagecraft.replacements import ReplacementTable
from stagecraft.replacements import load as load_replacements
from stagecraft.transitions import Refusal

if TYPE_CHECKING:
    from policy.harness import AuditResult

Action = Literal["create", "update", "replace", "delete"]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete")
# The marks `pulumi preview` uses.
SYMBOLS: dict[Action, str] = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}

# GitHub refuses issue and PR comments longer than this many characters.
GITHUB_COMMENT_LIMIT = 65536
# Room kept for the note that says details were trimmed.
_TRIM_NOTE_RESERVE = 600
_MAX_VALUE_CHARS = 160
_CENT = 0.005
# AWS services with no region: a provider's new region does not move them.
GLOBAL_AWS_PREFIXES = ("aws:iam/", "aws:route53/", "aws:cloudfront/", "aws:organizations/")


@dataclass(frozen=True)
class PropertyChange:
    path: str
    before: Any
    after: Any
    secret: bool = False
    # The replacement table's entry this change matches, if it forces one.
    forces_replacement: str | None = None

    @property
    def kind(self) -> Literal["added", "removed", "changed"]:
        if self.before is _MISSING:
            return "added"
        if self.after is _MISSING:
            return "removed"
        return "changed"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"path": self.path, "change": self.kind}
        if self.secret:
            document = {"path": self.path, "change": "changed", "secret": True}
        else:
            # A property that appears or disappears has no value on one side:
            # the key is left out there rather than given a made-up one.
            if self.before is not _MISSING:
                document["before"] = self.before
            if self.after is not _MISSING:
                document["after"] = self.after
        if self.forces_replacement:
            document["forcesReplacement"] = True
        return document


@dataclass(frozen=True)
class ResourceChange:
    action: Action
    key: str
    urn: str
    type: str
    name: str
    properties: list[PropertyChange] = field(default_factory=list)
    cost_before: float = 0.0
    cost_after: float = 0.0
    cost_max_before: float = 0.0
    cost_max_after: float = 0.0
    # Why `pulumi up` replaces it: the inputs that force it, or its provider.
    replace_reasons: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    # Deleted first because it keeps an explicit name two resources cannot share.
    fixed_name: bool = False
    protect: bool = False

    @property
    def cost_delta(self) -> float:
        return self.cost_after - self.cost_before

    @property
    def cost_max_delta(self) -> float:
        return self.cost_max_after - self.cost_max_before

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "action": self.action,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "monthlyBefore": round(self.cost_before, 2),
            "monthlyAfter": round(self.cost_after, 2),
            "monthlyDelta": round(self.cost_delta, 2),
            "monthlyAtMaxBefore": round(self.cost_max_before, 2),
            "monthlyAtMaxAfter": round(self.cost_max_after, 2),
            "monthlyAtMaxDelta": round(self.cost_max_delta, 2),
            "properties": [p.to_json() for p in self.properties],
        }
        if self.action == "replace":
            document["replaceReasons"] = self.replace_reasons
            document["deleteBeforeReplace"] = self.delete_before_replace
        return document


@dataclass(frozen=True)
class Budget:
    """One side's monthly estimate against that side's budget."""

    desired: float
    at_max: float
    budget: int | None
    # Resources the price table cannot price: the totals are then a floor,
    # and "within budget" cannot be claimed.
    unpriced: int = 0

    @classmethod
    def of(cls, cost: StackCost | None) -> Budget:
        if cost is None:
            return cls(0.0, 0.0, None)
        return cls(cost.total, cost.total_at_max, cost.budget, len(cost.unpriced))

    @property
    def known(self) -> bool:
        return self.unpriced == 0

    @property
    def over(self) -> bool:
        return self.budget is not None and self.desired > self.budget

    @property
    def over_at_max(self) -> bool:
        return self.budget is not None and self.at_max > self.budget

    def to_json(self) -> dict[str, Any]:
        return {
            "monthly": round(self.desired, 2),
            "monthlyAtMax": round(self.at_max, 2),
            "budget": self.budget,
            "overBudget": self.over,
            "overBudgetAtMax": self.over_at_max,
            "unpriced": self.unpriced,
        }


@dataclass(frozen=True)
class BudgetFinding:
    """One budget fact about the stack after the change."""

    kind: Literal["desired", "max", "unknown"]
    message: str
    crossed: bool  # true only after this change

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "crossedByThisChange": self.crossed}


@dataclass(frozen=True)
class StackDiff:
    stack: str  # the stack the changes are reported under
    title: str  # "staging: HEAD~1 (abc1234) -> working tree", "staging -> production"
    before_label: str
    after_label: str
    changes: list[ResourceChange]
    cost_before: StackCost | None
    cost_after: StackCost | None
    # Changes to the stack file AWS refuses on a running environment.
    refusals: list[Refusal] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def before(self) -> Budget:
        return Budget.of(self.cost_before)

    @property
    def after(self) -> Budget:
        return Budget.of(self.cost_after)

    @property
    def monthly_before(self) -> float:
        return self.before.desired

    @property
    def monthly_after(self) -> float:
        return self.after.desired

    @property
    def budget_findings(self) -> list[BudgetFinding]:
        """What a reviewer must know about the budget after this change."""
        before, after = self.before, self.after
        if after.budget is None:
            return []
        found = []
        if after.over:
            found.append(
                BudgetFinding(
                    "desired",
                    f"over its budget at desired size: {money(after.desired)} > "
                    f"{money(after.budget)}",
                    crossed=not before.over,
                )
            )
        if after.over_at_max and not after.over:
            found.append(
                BudgetFinding(
                    "max",
                    f"over its budget if every node group reaches its max size: "
                    f"{money(after.at_max)} > {money(after.budget)}",
                    crossed=not before.over_at_max,
                )
            )
        if not after.known and not after.over:
            found.append(
                BudgetFinding(
                    "unknown",
                    f"budget {money(after.budget)} cannot be checked: {after.unpriced} "
                    "resources are unpriced (another region than the price table's, or a "
                    "type it lacks); the totals are a floor",
                    crossed=before.known,
                )
            )
        return found

    @property
    def budget_flags(self) -> list[str]:
        return [
            f.message + (" (crossed by this change)" if f.crossed and f.kind != "unknown" else "")
            for f in self.budget_findings
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "title": self.title,
            "before": self.before_label,
            "after": self.after_label,
            "summary": {
                **{action: self.count(action) for action in ACTIONS},
                "monthlyBefore": round(self.monthly_before, 2),
                "monthlyAfter": round(self.monthly_after, 2),
                "monthlyDelta": round(self.monthly_after - self.monthly_before, 2),
                "monthlyAtMaxBefore": round(self.before.at_max, 2),
                "monthlyAtMaxAfter": round(self.after.at_max, 2),
                "monthlyAtMaxDelta": round(self.after.at_max - self.before.at_max, 2),
                "budgetBefore": self.before.budget,
                "budgetAfter": self.after.budget,
                "budgetFlags": self.budget_flags,
                "budgetFindings": [f.to_json() for f in self.budget_findings],
            },
            "refused": [r.to_json() for r in self.refusals],
            "resources": [c.to_json() for c in self.changes],
        }


# --------------------------------------------------------------------------- #
# Comparing
# --------------------------------------------------------------------------- #


def _neutral(text: str, project: str, stack: str | None) -> str:
    """``text`` with the stack's resource prefix ("stagecraft-staging") made generic."""
    return text.replace(f"{project}-{stack}", "{env}") if stack else text


@dataclass(frozen=True)
class _Neutraliser:
    """Makes one side of a cross-stack comparison stack-neutral: its names and its ids."""

    project: str
    stack: str | None
    # id -> "{id of <neutral key>}", longest first (an id can contain another).
    ids: tuple[tuple[str, str], ...] = ()

    def text(self, value: str) -> str:
        # Ids first: most hold the stack's prefix ("stagecraft-staging-nodes-
        # 1a2b3c4"), which would no longer be found once made generic.
        for resource_id, alias in self.ids:
            if resource_id in value:
                value = value.replace(resource_id, alias)
        return _neutral(value, self.project, self.stack)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            # Keys too: subnet tags are named after the cluster.
            return {self.text(k): self.value(v) for k, v in value.items()}
        return value


def _neutraliser(plan: Plan, project: str, stack: str | None) -> _Neutraliser:
    if stack is None:
        return _Neutraliser(project, None)
    stack_part = f"urn:pulumi:{plan.stack}::"
    aliases = {
        r.id: "{id of " + _neutral(r.urn.removeprefix(stack_part), project, stack) + "}"
        for r in plan.resources
        # Cloud ids only: Kubernetes ids are the objects' names, which are
        # compared as names; short ids ("none") would match inside other text.
        if r.custom and r.type.startswith("aws:") and r.id and len(r.id) >= 8
    }
    ordered = tuple(sorted(aliases.items(), key=lambda item: -len(item[0])))
    return _Neutraliser(project, stack, ordered)


def flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf values by property path; JSON documents held in strings are opened."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            document = json.loads(value)
        except ValueError:
            document = None
        if isinstance(document, (dict, list)):
            yield from flatten(document, path)
            return
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from flatten(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value and not all(_is_scalar(v) for v in value):
        for index, item in enumerate(value):
            yield from flatten(item, f"{path}[{index}]")
    elif isinstance(value, list):
        # A list of plain values (CIDRs, subnet ids, log types) is one value,
        # compared as a set: order is not a change, and a new first member
        # is not a replacement of the old one.
        yield path, sorted(value, key=lambda v: json.dumps(v, sort_keys=True)) or None
    else:
        yield path, value


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _secret_root(path: str, secret_paths: Mapping[str, str]) -> str | None:
    for secret_path in secret_paths:
        if path == secret_path or path.startswith((f"{secret_path}.", f"{secret_path}[")):
            return secret_path
    return None


def _ignored(path: str, ignore_changes: list[str]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in ignore_changes)


def compare_properties(
    before: PlannedResource,
    after: PlannedResource,
    sides: tuple[_Neutraliser, _Neutraliser],
    table: ReplacementTable | None = None,
    *,
    mark_replacements: bool = True,
) -> list[PropertyChange]:
    """Changed properties; those `pulumi up` ignores (ignoreChanges) are left out.

    ``mark_replacements`` False (two different stacks compared) names no
    property as forcing a replacement: nothing is replaced between stacks.
    """
    old = dict(flatten(sides[0].value(before.inputs)))
    new = dict(flatten(sides[1].value(after.inputs)))
    replacing = (table or load_replacements()).of(after.type) if mark_replacements else None
    changes: list[PropertyChange] = []
    reported_secrets: set[str] = set()
    for path in sorted(set(old) | set(new)):
        secret_path = _secret_root(path, before.secret_fingerprints) or _secret_root(
            path, after.secret_fingerprints
        )
        forcing = replacing.forcing(secret_path or path) if replacing else None
        if forcing is None and mark_replacements:
            # The program's own `replaceOnChanges` (a replica that must follow
            # a restored primary) forces it just as the provider's schema does.
            forcing = next(
                (p for p in after.replace_on_changes if _ignored(secret_path or path, [p])), None
            )
        if secret_path is not None:
            if secret_path in reported_secrets:
                continue
            reported_secrets.add(secret_path)
            if before.secret_fingerprints.get(secret_path) != after.secret_fingerprints.get(
                secret_path
            ):
                changes.append(PropertyChange(secret_path, SECRET, SECRET, True, forcing))
            continue
        if _ignored(path, after.ignore_changes):
            continue
        was, now = old.get(path, _MISSING), new.get(path, _MISSING)
        if was in (None, _MISSING) and now in (None, _MISSING):
            continue  # unset and null are the same to the engine
        if was != now:
            changes.append(PropertyChange(path, was, now, False, forcing))
    return changes


class _Missing:
    def __repr__(self) -> str:
        return "(none)"


_MISSING: Any = _Missing()


def compare_plans(
    before: Plan | None,
    after: Plan | None,
    *,
    title: str,
    before_label: str,
    after_label: str,
    cost_before: StackCost | None = None,
    cost_after: StackCost | None = None,
    refusals: Sequence[Refusal] = (),
) -> StackDiff:
    """Every resource created, updated, replaced or deleted from ``before`` to ``after``.

    Either side may be None (the stack does not exist there): everything is
    then created or deleted.  Between two different stacks nothing is
    "replaced" (they are different resources anyway): resources only differ.
    """
    either = after or before
    project = either.project if either else "stagecraft"
    cross_stack = bool(before and after and before.stack != after.stack)
    sides = (
        _neutraliser(before, project, before.stack if cross_stack else None)
        if before
        else _Neutraliser(project, None),
        _neutraliser(after, project, after.stack if cross_stack else None)
        if after
        else _Neutraliser(project, None),
    )
    table = load_replacements()

    def keyed(plan: Plan | None, side: _Neutraliser) -> dict[str, PlannedResource]:
        if plan is None:
            return {}
        stack_part = f"urn:pulumi:{plan.stack}::"
        return {side.text(r.urn.removeprefix(stack_part)): r for r in plan.resources if r.custom}

    def key_of(plan: Plan, urn: str, side: _Neutraliser) -> str:
        return side.text(urn.removeprefix(f"urn:pulumi:{plan.stack}::"))

    old, new = keyed(before, sides[0]), keyed(after, sides[1])
    costs = (
        cost_before.by_urn() if cost_before else {},
        cost_after.by_urn() if cost_after else {},
    )
    costs_max = (
        cost_before.by_urn(at_max=True) if cost_before else {},
        cost_after.by_urn(at_max=True) if cost_after else {},
    )
    changes: list[ResourceChange] = []
    for key in sorted(set(new) - set(old)):
        now = new[key]
        cost = (0.0, costs[1].get(now.urn, 0.0))
        cost_max = (0.0, costs_max[1].get(now.urn, 0.0))
        changes.append(_change("create", key, now, cost, cost_max))
    for key in sorted(set(old) - set(new)):
        was = old[key]
        cost = (costs[0].get(was.urn, 0.0), 0.0)
        cost_max = (costs_max[0].get(was.urn, 0.0), 0.0)
        changes.append(_change("delete", key, was, cost, cost_max))

    both = sorted(set(old) & set(new))
    properties = {
        key: compare_properties(old[key], new[key], sides, table, mark_replacements=not cross_stack)
        for key in both
    }
    reasons: dict[str, list[str]] = {
        key: [] if cross_stack else _replace_reasons(properties[key]) for key in both
    }
    if not cross_stack:
        _cascade(both, old, new, properties, reasons, table, key_of_provider=lambda r: (
            key_of(after, r.provider, sides[1]) if after and r.provider else None
        ))  # fmt: skip
    for key in both:
        was, now = old[key], new[key]
        cost = (costs[0].get(was.urn, 0.0), costs[1].get(now.urn, 0.0))
        cost_max = (costs_max[0].get(was.urn, 0.0), costs_max[1].get(now.urn, 0.0))
        if not properties[key] and not reasons[key]:
            # Only ignored properties (the node group's desired size, owned by
            # the autoscaler) changed: `pulumi up` changes nothing, so the
            # estimate's difference is not this change's cost either.
            cost, cost_max = (cost[0], cost[0]), (cost_max[0], cost_max[0])
        if reasons[key]:
            change = _change("replace", key, now, cost, cost_max, properties[key], reasons[key])
            if not change.delete_before_replace and _fixed_name(now, was, table):
                change = dataclasses.replace(change, delete_before_replace=True, fixed_name=True)
            changes.append(change)
        elif properties[key]:
            changes.append(_change("update", key, now, cost, cost_max, properties[key]))
    changes.sort(key=lambda c: c.key)
    stack = either.stack if either else title
    return StackDiff(
        stack, title, before_label, after_label, changes, cost_before, cost_after, list(refusals)
    )


def _cascade(
    keys: Sequence[str],
    old: Mapping[str, PlannedResource],
    new: Mapping[str, PlannedResource],
    properties: dict[str, list[PropertyChange]],
    reasons: dict[str, list[str]],
    table: ReplacementTable,
    *,
    key_of_provider: Callable[[PlannedResource], str | None],
) -> None:
    """Carry replacements on, as a real preview does, until nothing more is replaced.

    A replaced resource gets a new id, unknown until it exists: every input
    that holds it changes too (a subnet's ``vpcId`` when the VPC is
    replaced), and where that input forces a new resource, the dependent is
    replaced as well.  Everything created through a replaced provider is
    replaced with it.
    """
    # A provider moved to another region moves every regional resource made
    # through it: each takes the provider's region as an input (pulumi-aws 7).
    moved = {
        key
        for key in keys
        if (entry := table.of(new[key].type)) is not None
        and entry.region_replaces_dependents
        and any(p.path == "region" for p in properties[key])
    }
    for key in keys:
        provider = key_of_provider(new[key])
        if provider in moved and not new[key].type.startswith(GLOBAL_AWS_PREFIXES):
            reasons[key].append(f"its provider {provider.rsplit('::', 1)[-1]} moves region")
    replaced = {key for key in keys if reasons[key]}
    handled: set[str] = set()
    while replaced - handled:
        current = replaced - handled
        handled |= current
        # Ids short enough to occur by chance ("none") are not followed.
        new_ids: dict[str, tuple[str, str]] = {}  # id -> (urn, name)
        for key in current:
            resource_id = new[key].id
            if resource_id and len(resource_id) >= 8:
                new_ids[resource_id] = (new[key].urn, new[key].name)
        for key in keys:
            if key in replaced:
                continue
            resource = new[key]
            provider = key_of_provider(resource)
            if provider in current:
                reasons[key].append(f"its provider {provider.rsplit('::', 1)[-1]} is replaced")
            # Only what the resource takes from a replaced one: its inputs
            # depend on it (names alike by chance, such as an RDS identifier
            # and the cluster's name, are not references).
            held = {
                rid: name for rid, (urn, name) in new_ids.items() if urn in resource.dependencies
            }
            if not held:
                continue
            replacing = table.of(resource.type)
            known = {p.path for p in properties[key]}
            for path, value in flatten(resource.inputs):
                holders = sorted(name for rid, name in held.items() if _holds(value, rid))
                if not holders or path in known:
                    continue
                forcing = replacing.forcing(path) if replacing else None
                after = (
                    f"(new id of {holders[0]})"
                    if len(holders) == 1
                    else f"(new ids of {', '.join(holders)})"
                )
                properties[key].append(PropertyChange(path, value, after, False, forcing))
                if forcing and path not in reasons[key]:
                    reasons[key].append(f"{path} (the new {', '.join(holders)})")
            properties[key].sort(key=lambda p: p.path)
            if reasons[key]:
                replaced.add(key)


def _holds(value: Any, resource_id: str) -> bool:
    """Does ``value`` carry ``resource_id`` as a whole id (alone, or inside an ARN)?"""
    if isinstance(value, str):
        return re.search(rf"(?<![\w.-]){re.escape(resource_id)}(?![\w.-])", value) is not None
    if isinstance(value, list):
        return any(_holds(item, resource_id) for item in value)
    return False


def _fixed_name(
    resource: PlannedResource, before: PlannedResource, table: ReplacementTable
) -> bool:
    """A replacement under an unchanged, explicitly set name must delete the old one first.

    Two resources cannot hold one name, so the bridge (pulumi-terraform-bridge,
    nameRequiresDeleteBeforeReplace) deletes before it creates: downtime.
    """
    entry = table.of(resource.type)
    if entry is None:
        return False
    for path in entry.name_like:
        if path.endswith("Prefix"):
            continue
        value, was = _at(resource.inputs, path), _at(before.inputs, path)
        if value not in (None, "") and value == was:
            return True
    return False


def _at(inputs: Mapping[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _is_provider(key: str) -> bool:
    return "pulumi:providers:" in key.split("::")[-2] if "::" in key else False


def _replace_reasons(properties: Sequence[PropertyChange]) -> list[str]:
    reasons: list[str] = []
    for change in properties:
        if change.forces_replacement and change.path not in reasons:
            reasons.append(change.path)
    return reasons


def _change(
    action: Action,
    key: str,
    resource: PlannedResource,
    cost: tuple[float, float],
    cost_max: tuple[float, float],
    properties: list[PropertyChange] | None = None,
    reasons: list[str] | None = None,
) -> ResourceChange:
    return ResourceChange(
        action=action,
        key=key,
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        properties=properties or [],
        cost_before=cost[0],
        cost_after=cost[1],
        cost_max_before=cost_max[0],
        cost_max_after=cost_max[1],
        replace_reasons=reasons or [],
        delete_before_replace=resource.delete_before_replace,
        protect=resource.protect,
    )


# --------------------------------------------------------------------------- #
# Plans read back from `stagecraft plan --json` (a revision's, see revision.py)
# --------------------------------------------------------------------------- #


def as_applied(before: Plan | None, after: Plan) -> Plan:
    """``after`` as `pulumi up` leaves a stack that ``before`` describes.

    Properties a resource ignores after creation (``ignoreChanges``: the node
    group's desired size, which the autoscaler owns) keep the running
    stack's value, so a cost estimate of the result prices what will run,
    not what the file says.
    """
    if before is None:
        return after
    running = {r.urn: r for r in before.resources}
    applied = []
    for resource in after.resources:
        was = running.get(resource.urn)
        if was is None or not resource.ignore_changes:
            applied.append(resource)
            continue
        inputs = json.loads(json.dumps(resource.inputs))
        for path in resource.ignore_changes:
            old = _at(was.inputs, path)
            if old is not None:
                _set_at(inputs, path, old)
        applied.append(dataclasses.replace(resource, inputs=inputs))
    return dataclasses.replace(after, resources=applied)


def _set_at(inputs: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = inputs
    for part in parts[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        node = node[part]
    if isinstance(node, dict):
        node[parts[-1]] = value


def plan_from_json(document: Mapping[str, Any]) -> Plan:
    resources = [
        PlannedResource(
            urn=r["urn"],
            type=r["type"],
            name=r["name"],
            parent=r.get("parent"),
            custom=bool(r.get("custom")),
            protect=bool(r.get("protect")),
            provider=r.get("provider"),
            inputs=r.get("inputs") or {},
            ignore_changes=list(r.get("ignoreChanges") or []),
            dependencies=list(r.get("dependencies") or []),
            secret_fingerprints=dict(r.get("secretFingerprints") or {}),
            import_id=r.get("importId"),
            id=r.get("id"),
            delete_before_replace=bool(r.get("deleteBeforeReplace")),
            retain_on_delete=bool(r.get("retainOnDelete")),
            replace_on_changes=list(r.get("replaceOnChanges") or []),
        )
        for r in document.get("resources", [])
    ]
    return Plan(
        project=document["project"],
        stack=document["stack"],
        resources=resources,
        outputs=document.get("outputs") or {},
    )


# --------------------------------------------------------------------------- #
# Rendering
# --------------------------------------------------------------------------- #


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    text = json.dumps(value) if not isinstance(value, str) else f'"{value}"'
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "…"
    return text


def _property_line(change: PropertyChange) -> str:
    forces = "  [forces replacement]" if change.forces_replacement else ""
    if change.secret:
        return f"{change.path}: (secret changed){forces}"
    return f"{change.path}: {_show(change.before)} -> {_show(change.after)}{forces}"


def _costs(change: ResourceChange) -> str:
    """The monthly effect of one change: at desired size, and at max where it differs."""
    parts = []
    if abs(change.cost_delta) > _CENT:
        parts.append(f"{signed_money(change.cost_delta)}/mo")
    if abs(change.cost_max_delta - change.cost_delta) > _CENT:
        parts.append(f"{signed_money(change.cost_max_delta)}/mo at max size")
    return ", ".join(parts)


def _replaced_because(change: ResourceChange) -> str:
    if change.fixed_name:
        order = "deleted first, then created: its name is fixed, so it is down in between"
    elif change.delete_before_replace:
        order = "deleted first, then created"
    else:
        order = "created first"
    reasons = "; ".join(change.replace_reasons)
    return f"replaced ({order}); forced by: {reasons}"


def _amount(budget: Budget, value: float) -> str:
    """A total, marked as a floor while resources are unpriced."""
    return money(value) if budget.known else f"≥ {money(value)} ({budget.unpriced} unpriced)"


def _delta(before: Budget, after: Budget, was: float, now: float) -> str:
    if not (before.known and after.known):
        return "not comparable: resources unpriced"
    return signed_money(now - was)


def render_text(diffs: list[StackDiff]) -> str:
    lines: list[str] = []
    for diff in diffs:
        counts = ", ".join(f"{diff.count(a)} to {a}" for a in ACTIONS)
        before, after = diff.before, diff.after
        lines.append(
            f"{diff.title}: {counts}; monthly {_amount(before, before.desired)} -> "
            f"{_amount(after, after.desired)} "
            f"({_delta(before, after, before.desired, after.desired)}), at max size "
            f"{_amount(before, before.at_max)} -> {_amount(after, after.at_max)}"
            + (f"; budget {money(after.budget)}" if after.budget is not None else "")
        )
        lines.extend(f"  REFUSED {refusal}" for refusal in diff.refusals)
        lines.extend(f"  BUDGET {flag}" for flag in diff.budget_flags)
        for change in diff.changes:
            costs = _costs(change)
            word = "REPLACE" if change.action == "replace" else change.action
            lines.append(
                f"  {SYMBOLS[change.action]} {word} {change.type} {change.name}"
                + (f"  ({costs})" if costs else "")
            )
            if change.action == "replace":
                lines.append(f"      {_replaced_because(change)}")
            lines.extend(f"      {_property_line(p)}" for p in change.properties)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_json(diffs: list[StackDiff], *, audits: Sequence[AuditResult] | None = None) -> str:
    document: dict[str, Any] = {"stacks": [d.to_json() for d in diffs]}
    if audits is not None:
        document["audit"] = [a.to_json() for a in audits]
    return json.dumps(document, indent=2) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _budget_cell(diff: StackDiff) -> str:
    if diff.after.budget is None:
        return "-"
    if diff.after.over:
        return f"⚠ **over** {money(diff.after.budget)}"
    if diff.after.over_at_max:
        return f"⚠ over {money(diff.after.budget)} at max"
    if not diff.after.known:
        return f"⚠ not known ({money(diff.after.budget)}; {diff.after.unpriced} unpriced)"
    return f"within {money(diff.after.budget)}"


def _replaced_lines(diffs: list[StackDiff], *, grouped: bool) -> list[str]:
    """One line per replaced resource, or (``grouped``, for the size limit) per stack and type."""
    replacements = [(d.stack, c) for d in diffs for c in d.changes if c.action == "replace"]
    if not grouped:
        return [
            f"- **{_md_cell(stack)}** <code>{c.type}</code> {c.name}"
            + (" **(protected)**" if c.protect else "")
            + f": {_md_cell(_replaced_because(c))}"
            for stack, c in replacements
        ]
    groups: dict[tuple[str, str], list[ResourceChange]] = {}
    for stack, change in replacements:
        groups.setdefault((stack, change.type), []).append(change)
    lines = []
    for (stack, type_), changes in groups.items():
        reasons = sorted({r.split(" (")[0] for c in changes for r in c.replace_reasons})
        protected = sum(1 for c in changes if c.protect)
        first = sum(1 for c in changes if c.delete_before_replace)
        lines.append(
            f"- **{_md_cell(stack)}** {len(changes)} x <code>{type_}</code>"
            + (f" (**{protected} protected**)" if protected else "")
            + (f", {first} deleted first" if first else "")
            + f": {_md_cell(', '.join(reasons))}"
        )
    return lines


def _markdown_summary(diffs: list[StackDiff], *, grouped: bool = False) -> str:
    rows = [
        "| stack | + create | ~ update | +- replace | - delete | monthly (desired) | "
        "monthly (max nodes) | budget |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for diff in diffs:
        before, after = diff.before, diff.after
        delta = _delta(before, after, before.desired, after.desired)
        delta_max = _delta(before, after, before.at_max, after.at_max)
        replace = diff.count("replace")
        rows.append(
            f"| {_md_cell(diff.title)} | {diff.count('create')} | {diff.count('update')} | "
            f"{f'**{replace}**' if replace else 0} | {diff.count('delete')} | "
            f"{_amount(before, before.desired)} → {_amount(after, after.desired)} "
            f"(**{delta}**) | {_amount(before, before.at_max)} → "
            f"{_amount(after, after.at_max)} ({delta_max}) | {_budget_cell(diff)} |"
        )
    refused = [(d.stack, r) for d in diffs for r in d.refusals]
    if refused:
        rows += ["", "**⛔ Refused: AWS would reject these changes to a running environment**", ""]
        rows += [
            f"- **{_md_cell(stack)}** `{r.key}` {_md_cell(r.before)} → {_md_cell(r.after)}: "
            f"{_md_cell(r.rule)}"
            for stack, r in refused
        ]
    replaced = _replaced_lines(diffs, grouped=grouped)
    if replaced:
        rows += ["", "**⚠ Replaced: deleted and created again, with everything they hold**", ""]
        rows += replaced
    flags = [(d.stack, f) for d in diffs for f in d.budget_flags]
    if flags:
        rows += ["", "**⚠ Budget**", ""]
        rows += [f"- **{_md_cell(stack)}** {_md_cell(flag)}" for stack, flag in flags]
    return "\n".join(["### stagecraft: infrastructure diff", "", *rows])


_ACTION_WORDS: dict[Action, str] = {
    "create": "create",
    "update": "update",
    "replace": "**REPLACE**",
    "delete": "**delete**",
}


def _markdown_details(diff: StackDiff, change: ResourceChange) -> str:
    summary = (
        f"{SYMBOLS[change.action]} {_ACTION_WORDS[change.action]} "
        f"<code>{change.type}</code> {change.name}"
    )
    costs = _costs(change)
    if costs:
        summary += f" ({costs})"
    body = [f"<details><summary>[{_md_cell(diff.stack)}] {summary}</summary>", ""]
    if change.action == "replace":
        body += [f"_{_md_cell(_replaced_because(change))}_", ""]
    if change.properties:
        body += ["| property | before | after | |", "|---|---|---|---|"]
        for p in change.properties:
            forces = "forces replacement" if p.forces_replacement else ""
            if p.secret:
                body.append(f"| `{_md_cell(p.path)}` | (secret) | (secret changed) | {forces} |")
            else:
                body.append(
                    f"| `{_md_cell(p.path)}` | `{_md_cell(_show(p.before))}` | "
                    f"`{_md_cell(_show(p.after))}` | {forces} |"
                )
    elif change.action in ("create", "delete"):
        body.append(
            f"_{'created' if change.action == 'create' else 'deleted'} with all its inputs_"
        )
    else:
        body.append("_cost only_")
    body += ["", "</details>"]
    return "\n".join(body)


def render_markdown(
    diffs: list[StackDiff],
    *,
    limit: int = GITHUB_COMMENT_LIMIT,
    audits: Sequence[AuditResult] | None = None,
) -> str:
    """A PR comment: the summary always, then details until the size limit, then the audit.

    Every block ends with a blank line, so a heading after a `</details>`
    (the audit's) is read as a heading, not as text of the HTML block.
    """
    audit = ""
    if audits is not None:
        from policy.harness import render_markdown as render_audit

        audit = render_audit(list(audits))
        if len(audit) > limit // 3:
            audit = render_audit(list(audits), compact=True)
    summary = _markdown_summary(diffs)
    if len(summary) + len(audit) + _TRIM_NOTE_RESERVE > limit:
        summary = _markdown_summary(diffs, grouped=True)
    if len(summary) + len(audit) + _TRIM_NOTE_RESERVE > limit:
        cut = max(0, limit - len(audit) - _TRIM_NOTE_RESERVE)
        summary = (
            summary[:cut].rsplit("\n", 1)[0]
            + "\n\n_The summary is cut here to stay under GitHub's comment limit; the JSON "
            "artifact holds every change._"
        )
    blocks = [_markdown_details(d, c) for d in diffs for c in d.changes]
    if not blocks:
        return "\n\n".join(p for p in (summary, "No infrastructure changes.", audit) if p) + "\n"
    budget = limit - len(summary) - len(audit) - _TRIM_NOTE_RESERVE
    kept: list[str] = []
    used = 0
    for block in blocks:
        if used + len(block) + 2 > budget:
            continue  # a huge block must not push out the small ones after it
        kept.append(block)
        used += len(block) + 2
    parts = [summary, *kept]
    omitted = len(blocks) - len(kept)
    if omitted:
        parts.append(
            f"_Details of {omitted} more resource change(s) omitted to stay under GitHub's "
            f"{GITHUB_COMMENT_LIMIT:,}-character comment limit; run `stagecraft diff "
            "--format json` for all of them._"
        )
    if audit:
        parts.append(audit.rstrip("\n"))
    return "\n\n".join(parts) + "\n"


def render(
    fmt: str,
    diffs: list[StackDiff],
    *,
    audits: Sequence[AuditResult] | None = None,
    limit: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """``diffs`` in one of the formats `stagecraft diff` writes."""
    if fmt == "markdown":
        return render_markdown(diffs, limit=limit, audits=audits)
    if fmt == "json":
        return render_json(diffs, audits=audits)
    return render_text(diffs)
