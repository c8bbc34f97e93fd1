"""README sections generated from the stack files and the config model.

The README's environment table and config-key reference sit between marker
comments; `stagecraft docs --write` regenerates them and the test suite runs
`--check`, so neither can drift from what the stacks really say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from infra.config import (
    BOOTSTRAP_SECTIONS,
    EPHEMERAL_SECTIONS,
    SECTIONS,
    ConfigKey,
    Section,
    StackConfig,
    config_keys,
    parse_stack_config,
    project_config_schema,
)
from stagecraft.offline.stackfiles import Project

if TYPE_CHECKING:
    from stagecraft.offline.engine import Plan

DOCUMENTED_STACKS = ("dev", "staging", "production")
DEFAULT_MAXMEMORY_POLICY = "volatile-lru"


class MissingSectionError(Exception):
    def __init__(self, section: str) -> None:
        super().__init__(
            f"README.md has no '<!-- BEGIN GENERATED: {section} -->' ... "
            f"'<!-- END GENERATED: {section} -->' markers to fill"
        )


def load_stack(project: Project, stack: str) -> StackConfig:
    config = project.config_map(stack)
    return parse_stack_config(
        config.values, project=project.name, stack=stack, secret_keys=config.secret_keys
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def environment_rows(config: StackConfig) -> dict[str, str]:
    """One environment's column of the README table, as the stack file says it."""
    network, cluster, db, cache = config.network, config.cluster, config.database, config.cache
    nat = "1 shared" if network.nat_gateway_strategy == "single" else "one per AZ"

    database = [
        db.instance_class,
        f"{db.allocated_storage_gb} GB",
        "Multi-AZ" if db.multi_az else "single-AZ",
        f"backups {_plural(db.backup_retention_days, 'day')}",
    ]
    if db.read_replicas:
        database.append(_plural(db.read_replicas, "read replica"))
    if db.deletion_protection:
        database.append("deletion protection")
    if db.performance_insights:
        database.append("Performance Insights")
    if db.monitoring_interval_seconds:
        database.append("enhanced monitoring")

    if cache.replicated:
        replicas = cache.node_count - 1
        zones = min(cache.node_count, network.availability_zone_count)
        redis = [
            f"primary + {'replica' if replicas == 1 else f'{replicas} replicas'} in {zones} AZs",
            "automatic failover",
            cache.node_type,
        ]
    else:
        redis = ["1 node", cache.node_type]
    redis.append(f"`maxmemory-policy {cache.maxmemory_policy}`")

    return {
        "AZs / NAT gateways": f"{network.availability_zone_count} / {nat}",
        "EKS node group": (
            f"{cluster.node_instance_type}, min {cluster.node_min_size}, "
            f"max {cluster.node_max_size}, desired {cluster.node_desired_size}"
        ),
        "RDS PostgreSQL": ", ".join(database),
        "Redis": ", ".join(redis),
        "Tier": config.tier.tier,
        "Log retention: application and database logs": _plural(
            config.general.log_retention_days, "day"
        ),
        "Log retention: audit trail (EKS control plane, VPC flow logs)": _plural(
            config.tier.audit_log_retention_days, "day"
        ),
        "Monthly budget (USD)": f"{config.general.monthly_budget_usd:,}",
        "Off-hours (nodes at zero, database stopped)": (
            f"outside {config.cost.working_hours} {_days(config.cost.working_days)} "
            f"{config.cost.working_hours_time_zone}"
            if config.cost.working_hours
            else "none: always on"
        ),
        "Spot node group": (
            f"{', '.join(cluster.spot_instance_types)}; min {cluster.spot_min_size}, "
            f"max {cluster.spot_max_size}"
            if cluster.spot_instance_types
            else "none"
        ),
        "Add-ons": _addons(config),
    }


def _addons(config: StackConfig) -> str:
    """What runs beside the applications, as the stack file turns it on."""
    addons = config.addons
    running = [
        name
        for name, enabled in (
            ("Cluster Autoscaler", addons.cluster_autoscaler),
            ("metrics-server", addons.metrics_server),
            ("AWS Load Balancer Controller (one HTTPS ALB)", addons.load_balancer_controller),
            ("external-dns", addons.external_dns),
        )
        if enabled
    ]
    if addons.domain:
        running.append("Route 53 zone + ACM certificate")
    return ", ".join(running) or "none"


def environment_table(configs: Sequence[StackConfig]) -> str:
    columns = [environment_rows(c) for c in configs]
    lines = [
        "| | " + " | ".join(c.stack for c in configs) + " |",
        "|---" * (len(configs) + 1) + "|",
    ]
    for row in columns[0]:
        lines.append(f"| {row} | " + " | ".join(col[row] for col in columns) + " |")
    return "\n".join(lines)


def _format_default(key: ConfigKey) -> str:
    if key.required:
        return "required"
    if key.secret:
        return "unset"
    if isinstance(key.default, bool):
        return f"`{str(key.default).lower()}`"
    return f"`{key.default}`"


def config_reference(sections: tuple[type[Section], ...] = SECTIONS) -> str:
    lines: list[str] = []
    current_section = None
    for key in config_keys(sections):
        if key.section is not current_section:
            current_section = key.section
            if lines:
                lines.append("")
            lines += [
                f"**{key.section.title}**",
                "",
                "| key | type | default | meaning |",
                "|---|---|---|---|",
            ]
        kind = f"{key.pulumi_type} of {key.item_type}" if key.item_type else key.pulumi_type
        if key.secret:
            # Not declared in Pulumi.yaml (infra/config.py _secret_field says why).
            kind += " (**secret**: `pulumi config set --secret`)"
        allowed = key.allowed_values
        meaning = key.description.replace("|", "\\|")
        if allowed:
            meaning += " Allowed: " + ", ".join(f"`{v}`" for v in allowed) + "."
        lines.append(f"| `{key.namespaced}` | {kind} | {_format_default(key)} | {meaning} |")
    return "\n".join(lines)


# The components whose resources are "monitoring" in the cost column below.
MONITORING_COMPONENTS = (
    "stagecraft:index:Monitoring",
    "stagecraft:index:Alerting",
    "stagecraft:index:AuditTrail",
    "stagecraft:index:AccessLogs",
)


def _days(days: Sequence[str]) -> str:
    """['mon', ..., 'fri'] as 'mon-fri'."""
    from infra.off_hours import WEEKDAYS

    indexes = [WEEKDAYS.index(day) for day in days]
    if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{days[0]}-{days[-1]}"
    return ",".join(days)


# The seed documents' cost claims, per environment column.
SEED_CLAIMS = {
    "off-hours": "development: auto-shutdown nights/weekends, 60% savings",
    "spot": "production: Spot for non-critical workloads, 70% savings",
    "commitment": "production: Reserved Instances, 40% savings vs on-demand",
}


def savings_table(configs: Sequence[StackConfig], plans: Mapping[str, Plan]) -> str:
    """The seeds' savings claims beside what each stack's plan saves, priced by `stagecraft cost`.

    The percentages are of the whole stack's estimate, always on and on
    demand, and of the part the measure touches: a schedule cannot stop the
    EKS control plane, the NAT gateways, the load balancer or the cache.
    """
    from stagecraft.cost import commitment, estimate, load_prices, money, spot_discount

    prices = load_prices()
    lines = [
        "| stack | the seeds' claim | what the stack does | always on, on demand | estimate "
        "| saving: whole stack | saving: what the measure touches |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for config in configs:
        plan = plans[config.stack]
        cost = estimate(plan, budget=None, prices=prices)
        touched = [line for line in cost.lines if line.always_on is not None]
        touched_always_on = sum(line.monthly_always_on for line in touched)
        touched_now = sum(line.monthly for line in touched)
        cluster, hours = config.cluster, config.cost.schedule
        if hours is not None:
            lines.append(
                f"| {config.stack} | {SEED_CLAIMS['off-hours']} | nodes and database run "
                f"{hours.start}-{hours.end} {_days(hours.days)} "
                f"({hours.hours_per_week:g} of 168 h a week) | {money(cost.total_always_on)} | "
                f"{money(cost.total)} | {cost.saving_percent:.0f}% | "
                f"{_percent(touched_always_on - touched_now, touched_always_on)} |"
            )
        if cluster.spot_instance_types:
            first = cluster.spot_instance_types[0]
            discount = spot_discount(prices, first)
            per_node = "not in the price table" if discount is None else f"{100 * discount:.0f}%"
            lines.append(
                f"| {config.stack} | {SEED_CLAIMS['spot']} | a Spot group of "
                f"{', '.join(cluster.spot_instance_types)}, {cluster.spot_min_size} to "
                f"{cluster.spot_max_size} nodes; a {first} Spot node costs {per_node} less "
                f"| | | (idle at {cluster.spot_desired_size} nodes) | {per_node} per node |"
            )
        if config.tier.tier == "production":
            committed = commitment(plan, cost, prices)
            lines.append(
                f"| {config.stack} | {SEED_CLAIMS['commitment']} | a one-year, no-upfront "
                f"commitment on the nodes at their minimum, the databases and the cache "
                f"(`stagecraft cost --commitment`) | {money(cost.total)} | "
                f"{money(cost.total - committed.saving)} | "
                f"{committed.total_saving_percent:.0f}% | "
                f"{committed.steady_saving_percent:.0f}% |"
            )
            if not cluster.spot_instance_types:
                lines.append(
                    f"| {config.stack} | {SEED_CLAIMS['spot']} | no Spot group: no production "
                    "workload is marked interruptible yet | | | 0% | |"
                )
    return "\n".join(lines)


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def monitoring_table(plans: Sequence[Plan]) -> str:
    """Each environment's retention, alert routing, checks and trail, and what they cost.

    Read from the plans (the charts' values, the alarms and subscriptions the
    program creates), as the report reads them; the cost is every priced
    line of the monitoring, alerting, trail and access-log components.
    """
    from stagecraft.cost import estimate, money
    from stagecraft.report import monitoring_rows

    rows = [monitoring_rows(plan) for plan in plans]
    costs = []
    for plan in plans:
        below = {
            r.urn
            for r in plan.resources
            if any(f"{component}$" in r.urn for component in MONITORING_COMPONENTS)
        }
        priced = estimate(plan, budget=None).lines
        costs.append(sum(line.monthly for line in priced if line.urn in below))
    lines = [
        "| | " + " | ".join(plan.stack for plan in plans) + " |",
        "|---" * (len(plans) + 1) + "|",
    ]
    for row in rows[0]:
        lines.append(f"| {row} | " + " | ".join(r[row] for r in rows) + " |")
    lines.append(
        "| Monitoring's own cost (volumes, alarms, health check, Grafana's secret) | "
        + " | ".join(money(c) for c in costs)
        + " |"
    )
    return "\n".join(lines)


def generated_sections(project: Project) -> dict[str, str]:
    from stagecraft.offline.engine import evaluate

    configs = [load_stack(project, stack) for stack in DOCUMENTED_STACKS]
    # Each documented stack planned once, for every table that reads a plan.
    plans = {stack: evaluate(stack, project_dir=project.directory) for stack in DOCUMENTED_STACKS}
    return {
        "environment-table": environment_table(configs),
        "config-keys": config_reference(),
        "ephemeral-config-keys": config_reference(EPHEMERAL_SECTIONS),
        "bootstrap-config-keys": config_reference(BOOTSTRAP_SECTIONS),
        "preview-cost": preview_cost_table(project, plans),
        "monitoring": monitoring_table(list(plans.values())),
        "savings": savings_table(configs, plans),
        "drift-policy": drift_policy_block(),
    }


def drift_policy_block() -> str:
    """The least-privilege IAM policy of `stagecraft verify`, as the drift role has it."""
    from infra.components.account.policies import drift_policy

    return "```json\n" + json.dumps(drift_policy(), indent=2) + "\n```"


PREVIEW_COUNTS = (1, 5, 50)


def preview_cost_table(project: Project, plans: Mapping[str, Plan]) -> str:
    """What N concurrent pull-request environments cost: shared cluster vs one each.

    Priced from real plans: a pr-<n> stack made by `stagecraft env create` (in
    a scratch copy of the stack files) and the dev stack, the smallest full
    environment, standing for "a cluster per pull request".
    """
    import tempfile
    from datetime import UTC, datetime

    from stagecraft.cost import estimate, money
    from stagecraft.envs import EPHEMERAL_DIR, create
    from stagecraft.offline.engine import evaluate
    from stagecraft.offline.stackfiles import scratch_copy

    with tempfile.TemporaryDirectory(prefix="stagecraft-docs-") as scratch:
        root = Path(scratch)
        copy = scratch_copy(project, root)
        create(copy, "pr-1", now=datetime(2026, 1, 1, tzinfo=UTC))
        preview = estimate(
            evaluate("pr-1", project_dir=root / EPHEMERAL_DIR), budget=None, shared_database_gb=1
        ).total
    dev = load_stack(project, "dev")
    full = estimate(plans["dev"], budget=None).total
    staging = estimate(plans["staging"], budget=None).total
    lines = [
        "| concurrent PR environments | on the shared staging cluster | a dev-sized "
        "environment each |",
        "|---:|---:|---:|",
    ]
    for count in PREVIEW_COUNTS:
        lines.append(f"| {count} | {money(count * preview)} | {money(count * full)} |")
    lines.append("")
    lines.append(
        f"Per month, desired size, us-east-1 list prices. A shared-cluster preview pays "
        f"only its own secrets and its database's storage share ({money(preview)}); the "
        f"staging environment it runs on ({money(staging)}) is paid anyway. A dev-sized "
        f"environment ({money(full)}: EKS control plane, a "
        f"{dev.cluster.node_instance_type} node, NAT, {dev.database.instance_class}, "
        f"{dev.cache.node_type}) is the least a cluster per pull request costs."
    )
    return "\n".join(lines)


EPHEMERAL_DIR = "ephemeral"
BOOTSTRAP_DIR = "bootstrap"


def pulumi_yaml_files(project: Project) -> dict[Path, tuple[type[Section], ...]]:
    """Each Pulumi.yaml whose `config:` block the models define."""
    return {
        project.directory / "Pulumi.yaml": SECTIONS,
        project.directory / EPHEMERAL_DIR / "Pulumi.yaml": EPHEMERAL_SECTIONS,
        project.directory / BOOTSTRAP_DIR / "Pulumi.yaml": BOOTSTRAP_SECTIONS,
    }


def render_pulumi_yaml(text: str, sections: tuple[type[Section], ...]) -> str:
    """``text`` with its `config:` block regenerated; everything above it kept."""
    # Everything above the generated block; `config: {}` is a block too.
    head = re.split(r"\nconfig:(?: \{\})?\n", text, maxsplit=1)[0].rstrip("\n") + "\n"
    block = yaml.dump(
        {"config": project_config_schema(sections)},
        Dumper=yaml.SafeDumper,
        sort_keys=False,
        width=100,
    )
    return head + block


def stale_pulumi_yaml(project: Project) -> list[Path]:
    stale = []
    for path, sections in pulumi_yaml_files(project).items():
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if render_pulumi_yaml(text, sections) != text:
            stale.append(path)
    return stale


def write_pulumi_yaml(project: Project) -> list[Path]:
    written = []
    for path, sections in pulumi_yaml_files(project).items():
        text = path.read_text(encoding="utf-8")
        rendered = render_pulumi_yaml(text, sections)
        if rendered != text:
            path.write_text(rendered, encoding="utf-8")
            written.append(path)
    return written


def _marker_pattern(section: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN GENERATED: {section} -->\n)(.*?)(<!-- END GENERATED: {section} -->)",
        re.DOTALL,
    )


def render_readme(readme: str, sections: dict[str, str]) -> str:
    for name, body in sections.items():
        pattern = _marker_pattern(name)
        if not pattern.search(readme):
            raise MissingSectionError(name)
        readme = pattern.sub(_replacement(body), readme)
    return readme


def _replacement(body: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + body + "\n" + match.group(3)

    return replace


def stale_sections(readme_path: Path, project: Project) -> list[str]:
    current = readme_path.read_text(encoding="utf-8")
    sections = generated_sections(project)
    stale = []
    for name, body in sections.items():
        match = _marker_pattern(name).search(current)
        if match is None or match.group(2) != body + "\n":
            stale.append(name)
    return stale
