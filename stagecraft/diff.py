"""Compare two offline plans: a stack at two git revisions, or two stacks.

Resources are matched by URN.  Between two stacks the stack's own name and
resource prefix are neutralised first (``stagecraft-staging-database`` and
``stagecraft-production-database`` are the same resource), so the diff shows
how the environments differ, not that their names do.  Properties are
compared leaf by leaf; JSON documents inside strings (IAM policies, provider
tags) are compared inside.  A secret is never shown: where its fingerprint
differs the property is reported as "(secret changed)".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from stagecraft.cost import StackCost, money, signed_money
from stagecraft.offline.engine import SECRET, Plan, PlannedResource
from stagecraft.transitions import Refusal

if TYPE_CHECKING:
    from policy.harness import AuditResult

Action = Literal["add", "change", "remove"]
SYMBOLS: dict[Action, str] = {"add": "+", "change": "~", "remove": "-"}

# GitHub refuses issue and PR comments longer than this many characters.
GITHUB_COMMENT_LIMIT = 65536
# Room kept for the note that says details were trimmed.
_TRIM_NOTE_RESERVE = 600
_MAX_VALUE_CHARS = 160


@dataclass(frozen=True)
class PropertyChange:
    path: str
    before: Any
    after: Any
    secret: bool = False

    @property
    def kind(self) -> Literal["added", "removed", "changed"]:
        if self.before is _MISSING:
            return "added"
        if self.after is _MISSING:
            return "removed"
        return "changed"

    def to_json(self) -> dict[str, Any]:
        if self.secret:
            return {"path": self.path, "change": "changed", "secret": True}
        # A property that appears or disappears has no value on one side: the
        # key is left out there rather than given a made-up one.
        document: dict[str, Any] = {"path": self.path, "change": self.kind}
        if self.before is not _MISSING:
            document["before"] = self.before
        if self.after is not _MISSING:
            document["after"] = self.after
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

    @property
    def cost_delta(self) -> float:
        return self.cost_after - self.cost_before

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "monthlyBefore": round(self.cost_before, 2),
            "monthlyAfter": round(self.cost_after, 2),
            "monthlyDelta": round(self.cost_delta, 2),
            "properties": [p.to_json() for p in self.properties],
        }


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
    def monthly_before(self) -> float:
        return self.cost_before.total if self.cost_before else 0.0

    @property
    def monthly_after(self) -> float:
        return self.cost_after.total if self.cost_after else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "title": self.title,
            "before": self.before_label,
            "after": self.after_label,
            "summary": {
                "add": self.count("add"),
                "change": self.count("change"),
                "remove": self.count("remove"),
                "monthlyBefore": round(self.monthly_before, 2),
                "monthlyAfter": round(self.monthly_after, 2),
                "monthlyDelta": round(self.monthly_after - self.monthly_before, 2),
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


def _neutralise(value: Any, project: str, stack: str | None) -> Any:
    if isinstance(value, str):
        return _neutral(value, project, stack)
    if isinstance(value, list):
        return [_neutralise(v, project, stack) for v in value]
    if isinstance(value, dict):
        # Keys too: subnet tags are named after the cluster.
        return {
            _neutral(k, project, stack): _neutralise(v, project, stack) for k, v in value.items()
        }
    return value


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
    before: PlannedResource, after: PlannedResource, neutral: tuple[str, str | None, str | None]
) -> list[PropertyChange]:
    """Changed properties; those `pulumi up` ignores (ignoreChanges) are left out."""
    project, before_stack, after_stack = neutral
    old = dict(flatten(_neutralise(before.inputs, project, before_stack)))
    new = dict(flatten(_neutralise(after.inputs, project, after_stack)))
    changes: list[PropertyChange] = []
    reported_secrets: set[str] = set()
    for path in sorted(set(old) | set(new)):
        secret_path = _secret_root(path, before.secret_fingerprints) or _secret_root(
            path, after.secret_fingerprints
        )
        if secret_path is not None:
            if secret_path in reported_secrets:
                continue
            reported_secrets.add(secret_path)
            if before.secret_fingerprints.get(secret_path) != after.secret_fingerprints.get(
                secret_path
            ):
                changes.append(PropertyChange(secret_path, SECRET, SECRET, secret=True))
            continue
        if _ignored(path, after.ignore_changes):
            continue
        was, now = old.get(path, _MISSING), new.get(path, _MISSING)
        if was in (None, _MISSING) and now in (None, _MISSING):
            continue  # unset and null are the same to the engine
        if was != now:
            changes.append(PropertyChange(path, was, now))
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
    """Every resource added, removed or changed from ``before`` to ``after``.

    Either side may be None (the stack does not exist there): everything is
    then added or removed.
    """
    either = after or before
    project = either.project if either else "stagecraft"
    cross_stack = bool(before and after and before.stack != after.stack)
    before_stack = before.stack if before and cross_stack else None
    after_stack = after.stack if after and cross_stack else None

    def keyed(plan: Plan | None, stack: str | None) -> dict[str, PlannedResource]:
        if plan is None:
            return {}
        stack_part = f"urn:pulumi:{plan.stack}::"
        return {
            _neutral(r.urn.removeprefix(stack_part), project, stack): r
            for r in plan.resources
            if r.custom
        }

    old, new = keyed(before, before_stack), keyed(after, after_stack)
    old_costs = cost_before.by_urn() if cost_before else {}
    new_costs = cost_after.by_urn() if cost_after else {}
    changes: list[ResourceChange] = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key), new.get(key)
        if was is None and now is not None:
            changes.append(
                ResourceChange(
                    "add", key, now.urn, now.type, now.name, [], 0.0, new_costs.get(now.urn, 0.0)
                )
            )
        elif now is None and was is not None:
            changes.append(
                ResourceChange(
                    "remove", key, was.urn, was.type, was.name, [], old_costs.get(was.urn, 0.0), 0.0
                )
            )
        elif was is not None and now is not None:
            properties = compare_properties(was, now, (project, before_stack, after_stack))
            cost_was, cost_now = old_costs.get(was.urn, 0.0), new_costs.get(now.urn, 0.0)
            if not properties:
                # Only ignored properties (the node group's desired size, owned by
                # the autoscaler) changed: `pulumi up` changes nothing, so the
                # estimate's difference is not this change's cost either.
                cost_now = cost_was
            if properties or abs(cost_now - cost_was) > 0.005:
                changes.append(
                    ResourceChange(
                        "change", key, now.urn, now.type, now.name, properties, cost_was, cost_now
                    )
                )
    stack = either.stack if either else title
    return StackDiff(
        stack, title, before_label, after_label, changes, cost_before, cost_after, list(refusals)
    )


# --------------------------------------------------------------------------- #
# Plans read back from `stagecraft plan --json` (a revision's, see revision.py)
# --------------------------------------------------------------------------- #


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
    if change.secret:
        return f"{change.path}: (secret changed)"
    return f"{change.path}: {_show(change.before)} -> {_show(change.after)}"


def _cost_suffix(change: ResourceChange) -> str:
    return f"  ({signed_money(change.cost_delta)}/mo)" if abs(change.cost_delta) > 0.005 else ""


def render_text(diffs: list[StackDiff]) -> str:
    lines: list[str] = []
    for diff in diffs:
        delta = signed_money(diff.monthly_after - diff.monthly_before)
        lines.append(
            f"{diff.title}: {diff.count('add')} to add, {diff.count('change')} to change, "
            f"{diff.count('remove')} to remove; monthly {money(diff.monthly_before)} -> "
            f"{money(diff.monthly_after)} ({delta})"
        )
        lines.extend(f"  REFUSED {refusal}" for refusal in diff.refusals)
        for change in diff.changes:
            lines.append(
                f"  {SYMBOLS[change.action]} {change.type} {change.name}{_cost_suffix(change)}"
            )
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


def _markdown_summary(diffs: list[StackDiff]) -> str:
    rows = [
        "| stack | + add | ~ change | - remove | monthly before | monthly after | delta |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for diff in diffs:
        delta = diff.monthly_after - diff.monthly_before
        rows.append(
            f"| {_md_cell(diff.title)} | {diff.count('add')} | {diff.count('change')} | "
            f"{diff.count('remove')} | {money(diff.monthly_before)} | "
            f"{money(diff.monthly_after)} | **{signed_money(delta)}** |"
        )
    refused = [(d.stack, r) for d in diffs for r in d.refusals]
    if refused:
        rows += ["", "**⛔ Refused: AWS would reject these changes to a running environment**", ""]
        rows += [
            f"- **{_md_cell(stack)}** `{r.key}` {_md_cell(r.before)} → {_md_cell(r.after)}: "
            f"{_md_cell(r.rule)}"
            for stack, r in refused
        ]
    return "\n".join(["### stagecraft: infrastructure diff", "", *rows])


def _markdown_details(diff: StackDiff, change: ResourceChange) -> str:
    summary = f"{SYMBOLS[change.action]} <code>{change.type}</code> {change.name}"
    if abs(change.cost_delta) > 0.005:
        summary += (
            f" ({money(change.cost_before)} → {money(change.cost_after)}, "
            f"{signed_money(change.cost_delta)}/mo)"
        )
    body = [f"<details><summary>[{_md_cell(diff.stack)}] {summary}</summary>", ""]
    if change.properties:
        body += ["| property | before | after |", "|---|---|---|"]
        for p in change.properties:
            if p.secret:
                body.append(f"| `{_md_cell(p.path)}` | (secret) | (secret changed) |")
            else:
                body.append(
                    f"| `{_md_cell(p.path)}` | `{_md_cell(_show(p.before))}` | "
                    f"`{_md_cell(_show(p.after))}` |"
                )
    else:
        body.append(
            f"_{'created' if change.action == 'add' else 'removed'} with all its inputs_"
            if change.action != "change"
            else "_cost only_"
        )
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
    summary = _markdown_summary(diffs)
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
