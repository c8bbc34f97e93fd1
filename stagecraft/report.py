"""The auditor's report: every environment side by side, deviations from production marked.

Built from the stack files (through the same rows the README table shows) and
from each stack's offline plan (what the program really creates: encryption,
public access, protection), plus each stack's cost estimate.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from infra.aws_types import PROTECTED_TYPES
from infra.config import StackConfig
from stagecraft.cost import StackCost, money
from stagecraft.docs import environment_rows
from stagecraft.offline.engine import Plan


@dataclass(frozen=True)
class EnvironmentFacts:
    """One column of the report."""

    stack: str
    rows: dict[str, str]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _days(days: int) -> str:
    return "off" if days == 0 else f"{days} day" if days == 1 else f"{days} days"


def plan_rows(plan: Plan, config: StackConfig, cost: StackCost) -> dict[str, str]:
    """The rows only the plan can answer: what the program actually builds."""
    cluster = plan.one("aws:eks/cluster:Cluster").inputs
    databases = plan.of_type("aws:rds/instance:Instance")
    cache = plan.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    rds_parameters = {
        p["name"]: p["value"]
        for group in plan.of_type("aws:rds/parameterGroup:ParameterGroup")
        for p in group.inputs.get("parameters", [])
    }
    secrets = plan.of_type("aws:secretsmanager/secret:Secret")
    log_groups = plan.of_type("aws:cloudwatch/logGroup:LogGroup")

    encrypted = {
        "RDS": all(d.inputs.get("storageEncrypted") for d in databases),
        "Redis": bool(cache.get("atRestEncryptionEnabled")) and bool(cache.get("kmsKeyId")),
        "EKS secrets": "secrets" in (cluster.get("encryptionConfig") or {}).get("resources", []),
        "Secrets Manager": all(s.inputs.get("kmsKeyId") for s in secrets),
        "logs": all(g.inputs.get("kmsKeyId") for g in log_groups),
    }
    missing = [name for name, ok in encrypted.items() if not ok]
    at_rest = "KMS, all" if not missing else f"missing: {', '.join(missing)}"

    in_transit = []
    if rds_parameters.get("rds.force_ssl") == "1":
        in_transit.append("PostgreSQL")
    if cache.get("transitEncryptionEnabled"):
        in_transit.append("Redis")

    vpc = cluster.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess"):
        api = f"public from {', '.join(vpc.get('publicAccessCidrs') or ['0.0.0.0/0'])}"
    else:
        api = "private only"
    public_data = [d.name for d in databases if d.inputs.get("publiclyAccessible")]
    open_rules = [
        r.name
        for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs.get("cidrIpv4") == "0.0.0.0/0"
    ]
    data_access = (
        "cluster nodes only"
        if not public_data and not open_rules
        else f"OPEN: {', '.join(public_data + open_rules)}"
    )

    stateful = [r for r in plan.resources if r.type in PROTECTED_TYPES]
    protected = sum(1 for r in stateful if r.protect)
    primary = next(d for d in databases if "replicateSourceDb" not in d.inputs)
    within = "within budget" if not cost.over_budget else "OVER BUDGET"

    return {
        "Kubernetes version": str(cluster.get("version")),
        "API endpoint": api,
        "Database and cache reachable from": data_access,
        "Encryption at rest": at_rest,
        "TLS enforced": ", ".join(in_transit) or "none",
        "Protected stateful resources (`protect`)": f"{protected} of {len(stateful)}",
        "RDS deletion protection": _yes(bool(primary.inputs.get("deletionProtection"))),
        "RDS backup retention": _days(int(primary.inputs.get("backupRetentionPeriod") or 0)),
        "Redis snapshots": _days(int(cache.get("snapshotRetentionLimit") or 0)),
        "VPC flow logs": _yes(bool(plan.of_type("aws:ec2/flowLog:FlowLog"))),
        "IAM database authentication": _yes(
            bool(primary.inputs.get("iamDatabaseAuthenticationEnabled"))
        ),
        "Developer access": config.cluster.developer_access,
        "Estimated monthly cost (desired / max nodes)": (
            f"{money(cost.total)} / {money(cost.total_at_max)}"
        ),
        "Budget check": within,
    }


def environment_facts(plan: Plan, config: StackConfig, cost: StackCost) -> EnvironmentFacts:
    return EnvironmentFacts(
        stack=plan.stack, rows={**environment_rows(config), **plan_rows(plan, config, cost)}
    )


@dataclass(frozen=True)
class Report:
    columns: list[EnvironmentFacts]
    baseline: str
    generated_at: str
    prices_read_on: str

    @property
    def row_names(self) -> list[str]:
        return list(self.columns[0].rows) if self.columns else []

    def value(self, stack: str, row: str) -> str:
        return next(c.rows[row] for c in self.columns if c.stack == stack)

    def deviates(self, stack: str, row: str) -> bool:
        if stack == self.baseline or self.baseline not in {c.stack for c in self.columns}:
            return False
        return self.value(stack, row) != self.value(self.baseline, row)

    def deviations(self) -> list[tuple[str, str]]:
        return [
            (c.stack, row)
            for c in self.columns
            for row in self.row_names
            if self.deviates(c.stack, row)
        ]


class MissingBaselineError(Exception):
    """The stack deviations are measured against is not in the report."""


def build_report(
    facts: Sequence[EnvironmentFacts], *, baseline: str = "production", prices_read_on: str = ""
) -> Report:
    stacks = [f.stack for f in facts]
    if baseline not in stacks:
        raise MissingBaselineError(
            f"the baseline stack '{baseline}' is not among the reported stacks "
            f"({', '.join(stacks)}); add it with --stack or choose --baseline"
        )
    return Report(
        columns=list(facts),
        baseline=baseline,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        prices_read_on=prices_read_on,
    )


def render_markdown(report: Report) -> str:
    stacks = [c.stack for c in report.columns]
    lines = [
        "# stagecraft environment report",
        "",
        f"Generated {report.generated_at} from the stack files and their offline plans. "
        f"Cells marked ⚠ differ from **{report.baseline}**. Prices: AWS us-east-1 list "
        f"prices read {report.prices_read_on}.",
        "",
        "| | " + " | ".join(stacks) + " |",
        "|---" * (len(stacks) + 1) + "|",
    ]
    for row in report.row_names:
        cells = []
        for stack in stacks:
            value = report.value(stack, row).replace("|", "\\|")
            cells.append(f"⚠ **{value}**" if report.deviates(stack, row) else value)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    deviations = report.deviations()
    lines += ["", f"## Deviations from {report.baseline}", ""]
    if not deviations:
        lines.append("None.")
    for stack, row in deviations:
        lines.append(
            f"- **{stack}**, {row}: {report.value(stack, row)} "
            f"({report.baseline}: {report.value(report.baseline, row)})"
        )
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .4rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.deviation { background: #fff8c5; font-weight: 600; }
td.deviation::before { content: "\\26A0\\FE0E  "; }
caption { text-align: left; margin-bottom: .5rem; color: #57606a; }
"""


def render_html(report: Report) -> str:
    """A single self-contained page: no scripts, no external stylesheets."""
    stacks = [c.stack for c in report.columns]
    esc = html.escape
    head = "".join(f"<th>{esc(s)}</th>" for s in stacks)
    body = []
    for row in report.row_names:
        cells = "".join(
            f'<td class="deviation" title="differs from {esc(report.baseline)}">'
            f"{esc(report.value(s, row))}</td>"
            if report.deviates(s, row)
            else f"<td>{esc(report.value(s, row))}</td>"
            for s in stacks
        )
        body.append(f"<tr><th>{esc(row.replace('`', ''))}</th>{cells}</tr>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>stagecraft environment report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>stagecraft environment report</h1>"
        f"<table><caption>Generated {esc(report.generated_at)}. Highlighted cells differ from "
        f"{esc(report.baseline)}. Prices: AWS us-east-1 list prices read "
        f"{esc(report.prices_read_on)}.</caption>"
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</body></html>\n"
    )
