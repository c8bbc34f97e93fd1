"""Evaluate the policy pack against an offline plan, as the Pulumi engine would.

The engine hands each resource policy a ``ResourceValidationArgs`` (type,
camelCase input properties, URN, name, the resource's options and its
provider) and each stack policy a ``StackValidationArgs`` (every resource,
with parent and dependencies linked), plus the policy's config: the schema
defaults overlaid with the environment's policy config file.  This module
builds exactly those objects from a :class:`~stagecraft.offline.engine.Plan` and
calls the same validate functions ``pulumi preview --policy-pack`` would.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policy.rules import RULES, RULES_BY_NAME, Rule, Threshold
from stagecraft.offline.engine import Plan, PlannedResource

POLICY_DIR = Path(__file__).resolve().parent
CONFIG_DIR = POLICY_DIR / "config"
ENFORCEMENT_LEVELS = ("mandatory", "advisory", "disabled")

Enforcement = Literal["mandatory", "advisory", "disabled"]
Status = Literal["pass", "fail", "not applicable", "disabled"]


class PolicyConfigError(Exception):
    """A policy config file names an unknown policy or level."""


@dataclass(frozen=True)
class Violation:
    message: str
    urn: str | None


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    enforcement: Enforcement
    status: Status
    violations: list[Violation] = field(default_factory=list)
    checked: int = 0  # resources the policy applied to
    # What the verdict was judged against, beside the control's own values.
    thresholds: list[Threshold] = field(default_factory=list)

    @property
    def weaker_than_control(self) -> bool:
        return any(t.weaker for t in self.thresholds)

    @property
    def blocking(self) -> bool:
        return self.status == "fail" and self.enforcement == "mandatory"

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.rule.name,
            "description": self.rule.description,
            "severity": self.rule.severity.value,
            "securityHub": self.rule.security_hub,
            "checkov": list(self.rule.checkov),
            "enforcement": self.enforcement,
            "status": self.status,
            "checked": self.checked,
            "remediation": self.rule.remediation,
            "thresholds": [t.to_json() for t in self.thresholds],
            "weakerThanControl": self.weaker_than_control,
            "violations": [{"message": v.message, "urn": v.urn} for v in self.violations],
        }


@dataclass(frozen=True)
class AuditResult:
    stack: str
    config_source: str
    verdicts: list[Verdict]

    @property
    def passed(self) -> bool:
        return not any(v.blocking for v in self.verdicts)

    def failed(self, enforcement: Enforcement | None = None) -> list[Verdict]:
        return [
            v
            for v in self.verdicts
            if v.status == "fail" and (enforcement is None or v.enforcement == enforcement)
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "policyConfig": self.config_source,
            "passed": self.passed,
            "verdicts": [v.to_json() for v in self.verdicts],
        }


# --------------------------------------------------------------------------- #
# Policy config (the file given to --policy-pack-config)
# --------------------------------------------------------------------------- #


def config_path_for(stack: str) -> Path | None:
    """The stack's own policy config, else its kind's (preview.json, developer.json)."""
    from infra.config import stack_kind

    for name in (stack, stack_kind(stack) or ""):
        path = CONFIG_DIR / f"{name}.json"
        if name and path.is_file():
            return path
    return None


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each written once (json keeps the last silently)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKeyError(f"'{key}' is set twice in one object; keep one")
        seen[key] = value
    return seen


def load_policy_config(path: Path | None) -> dict[str, Any]:
    """Read and check a policy config file; none means every policy advisory."""
    if path is None:
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except OSError as exc:
        raise PolicyConfigError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    except _DuplicateKeyError as exc:
        raise PolicyConfigError(f"{path}: {exc}") from None
    if not isinstance(config, dict):
        raise PolicyConfigError(f"{path}: must be an object of policy name: settings")
    for key, value in config.items():
        if key != "all" and key not in RULES_BY_NAME:
            raise PolicyConfigError(
                f"{path}: '{key}' is not a policy of this pack; policies: "
                + ", ".join(RULES_BY_NAME)
            )
        level = value.get("enforcementLevel") if isinstance(value, dict) else value
        if level is not None and level not in ENFORCEMENT_LEVELS:
            raise PolicyConfigError(
                f"{path}: {key} has enforcement level {level!r}; allowed: "
                + ", ".join(ENFORCEMENT_LEVELS)
            )
        if isinstance(value, dict) and key != "all":
            unknown = set(value) - {"enforcementLevel"} - set(RULES_BY_NAME[key].config)
            if unknown:
                raise PolicyConfigError(
                    f"{path}: {key} has no setting {', '.join(sorted(unknown))}; settings: "
                    + (", ".join(RULES_BY_NAME[key].config) or "(none)")
                )
    return config


def resolve(rule: Rule, config: Mapping[str, Any]) -> tuple[Enforcement, dict[str, Any]]:
    """A rule's enforcement level and settings under ``config``, as the engine merges them."""
    level: Any = "advisory"
    everything = config.get("all")
    if isinstance(everything, str):
        level = everything
    elif isinstance(everything, dict):
        level = everything.get("enforcementLevel", level)
    own = config.get(rule.name)
    settings = dict(rule.defaults)
    if isinstance(own, str):
        level = own
    elif isinstance(own, dict):
        level = own.get("enforcementLevel", level)
        settings.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    return level, settings


# --------------------------------------------------------------------------- #
# Arguments, the way the engine builds them
# --------------------------------------------------------------------------- #


def _options(resource: PlannedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _provider(plan: Plan, resource: PlannedResource) -> PolicyProviderResource | None:
    if not resource.provider:
        return None
    provider = next((r for r in plan.resources if r.urn == resource.provider), None)
    if provider is None:
        return None
    return PolicyProviderResource(
        provider.type, unknown_checking_proxy(provider.inputs), provider.urn, provider.name
    )


def resource_args(
    plan: Plan, resource: PlannedResource, settings: Mapping[str, Any]
) -> ResourceValidationArgs:
    # As the engine does: read-only Mapping/Sequence proxies that raise on a
    # value not known yet, not plain dicts a policy could get away with.
    return ResourceValidationArgs(
        resource_type=resource.type,
        props=unknown_checking_proxy(resource.inputs),
        urn=resource.urn,
        name=resource.name,
        opts=_options(resource),
        provider=_provider(plan, resource),
        config=dict(settings),
    )


def stack_args(plan: Plan, settings: Mapping[str, Any]) -> StackValidationArgs:
    custom = [r for r in plan.resources if r.custom]
    built: dict[str, PolicyResource] = {}
    for resource in custom:
        built[resource.urn] = PolicyResource(
            resource_type=resource.type,
            props=unknown_checking_proxy(resource.inputs),
            urn=resource.urn,
            name=resource.name,
            opts=_options(resource),
            provider=_provider(plan, resource),
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
    for resource in custom:
        policy_resource = built[resource.urn]
        policy_resource.parent = built.get(resource.parent or "")
        policy_resource.dependencies = [built[d] for d in resource.dependencies if d in built]
    return StackValidationArgs(resources=list(built.values()), config=dict(settings))


# --------------------------------------------------------------------------- #
# Running
# --------------------------------------------------------------------------- #


def evaluate_rule(rule: Rule, plan: Plan, config: Mapping[str, Any]) -> Verdict:
    enforcement, settings = resolve(rule, config)
    verdict = _judge(rule, plan, enforcement, settings)
    return dataclasses.replace(verdict, thresholds=rule.thresholds(settings))


def _judge(
    rule: Rule, plan: Plan, enforcement: Enforcement, settings: Mapping[str, Any]
) -> Verdict:
    if enforcement == "disabled":
        return Verdict(rule, enforcement, "disabled")
    violations: list[Violation] = []

    def report(message: str, urn: str | None = None) -> None:
        violations.append(Violation(message, urn))

    checked = 0
    if rule.validate_stack is not None:
        try:
            rule.validate_stack(stack_args(plan, settings), report)
            checked = 1
        except _NotApplicableError:
            return Verdict(rule, enforcement, "not applicable")
        except UnknownValueError as exc:
            # The engine reports these as advisory "could not run" notes at
            # preview; a plan with a value it cannot know shows the same.
            report(f"could not be checked: {exc}", None)
            return Verdict(rule, "advisory", "not applicable", violations, checked)
    else:
        assert rule.validate is not None
        for resource in plan.resources:
            if not resource.custom or resource.type not in rule.resource_types:
                continue
            try:
                rule.validate(resource_args(plan, resource, settings), report)
                checked += 1
            except (_NotApplicableError, UnknownValueError):
                continue
    if violations:
        return Verdict(rule, enforcement, "fail", violations, checked)
    return Verdict(rule, enforcement, "pass" if checked else "not applicable", [], checked)


def audit(plan: Plan, config: Mapping[str, Any], *, config_source: str = "(none)") -> AuditResult:
    return AuditResult(
        stack=plan.stack,
        config_source=config_source,
        verdicts=[evaluate_rule(rule, plan, config) for rule in RULES],
    )


# --------------------------------------------------------------------------- #
# Rendering
# --------------------------------------------------------------------------- #


def _controls(rule: Rule) -> str:
    return ", ".join(rule.controls) or "-"


def render_markdown(results: list[AuditResult], *, compact: bool = False) -> str:
    """The audit for a PR comment; ``compact`` lists only the failed verdicts (size limit)."""
    lines = ["### stagecraft: policy audit", ""]
    if compact:
        lines += [
            "_Only the failed verdicts, to stay under GitHub's comment limit; every verdict "
            "with its threshold is in the JSON artifact._",
            "",
        ]
    for result in results:
        verdict = "passes" if result.passed else "**FAILS**"
        lines += [
            f"**{result.stack}** {verdict} every mandatory policy "
            f"({len(result.failed('mandatory'))} mandatory and "
            f"{len(result.failed('advisory'))} advisory failures; config "
            f"`{result.config_source}`)",
            "",
            "<details><summary>verdicts</summary>",
            "",
            "| policy | controls | severity | enforcement | verdict | judged against | detail |",
            "|---|---|---|---|---|---|---|",
        ]
        for v in result.verdicts:
            if compact and v.status != "fail":
                continue
            shown = {"fail": "❌ fail", "pass": "✅ pass"}.get(v.status, v.status)
            if v.status == "pass" and v.weaker_than_control:
                shown = "✅ pass (weaker threshold)"
            detail = "; ".join(x.message for x in v.violations[:3]).replace("|", "\\|")
            judged = "; ".join(str(t) for t in v.thresholds) or "-"
            lines.append(
                f"| {v.rule.name} | {_controls(v.rule)} | {v.rule.severity.value} | "
                f"{v.enforcement} | {shown} | {judged} | {detail} |"
            )
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def render_json(results: list[AuditResult]) -> str:
    return json.dumps({"stacks": [r.to_json() for r in results]}, indent=2) + "\n"
