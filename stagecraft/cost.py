"""Monthly cost estimates from an offline plan, priced like Infracost prices AWS.

Every custom resource in the plan gets at least one line, in one of four kinds:

- ``priced``: a fixed monthly price (hourly price x 730, or a monthly fee);
- ``usage``: the price depends on volume (NAT data, log ingestion); shown as
  "depends on usage" unless a usage file gives the volume, then priced;
- ``free``: AWS charges nothing for it (VPCs, subnets, IAM, parameter groups,
  Kubernetes objects, which run on nodes priced elsewhere);
- ``unpriced``: a type or size the price table does not know.  Never
  silently $0: the estimate says how many lines it could not price.

Node groups are priced at their desired size (the total) and at their max
size (``monthly_at_max``), which is what the autoscaler could reach.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from infra.off_hours import on_fraction, runs_per_week
from stagecraft.offline.engine import Plan, PlannedResource
from stagecraft.offline.stackfiles import StackFileError, load_yaml

PRICE_TABLE = Path(__file__).parent / "pricing" / "aws-us-east-1.yaml"

LineKind = Literal["priced", "usage", "free", "unpriced"]

# Types AWS does not bill for (or that are billed through another line).
FREE_TYPES = frozenset(
    {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/route:Route",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
        "aws:ec2/launchTemplate:LaunchTemplate",  # the node volumes are priced on the node group
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        # Session Manager costs nothing for EC2 instances; the bastion itself is priced.
        "aws:ssm/document:Document",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:ec2/flowLog:FlowLog",  # billed as log ingestion on its log group
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:kms/alias:Alias",
        "aws:secretsmanager/secretVersion:SecretVersion",  # billed per secret
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:eks/addon:Addon",  # EKS add-ons cost nothing beyond the nodes they run on
        "pulumi:pulumi:StackReference",  # a read of another stack's outputs
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:elasticache/parameterGroup:ParameterGroup",
        "aws:elasticache/user:User",
        "aws:elasticache/userGroup:UserGroup",
        "aws:elasticache/userGroupAssociation:UserGroupAssociation",
        "aws:iam/policy:Policy",
        "aws:iam/serviceLinkedRole:ServiceLinkedRole",
        # Public ACM certificates used with an ALB cost nothing; records are
        # billed through their zone's queries.
        "aws:acm/certificate:Certificate",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:route53/record:Record",
        # A bucket's settings: the bucket's storage and requests are its cost.
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        # Notifications are billed on the topic; Chatbot has no charge of its own.
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration",
        # The node group's Auto Scaling metrics collection: "no charge".
        "pulumi-python:dynamic:Resource",
        # Budgets without actions cost nothing; Scheduler's first 14 million
        # invocations a month are free (an off-hours pair makes ~90).
        "aws:budgets/budget:Budget",
        "aws:scheduler/schedule:Schedule",
        "aws:scheduler/scheduleGroup:ScheduleGroup",
        # AWS Backup bills the recovery points (priced on the plan) and the
        # restore tests' instances (on their selection), not the containers.
        "aws:backup/vault:Vault",
        "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
        "aws:backup/selection:Selection",
        "aws:backup/restoreTestingPlan:RestoreTestingPlan",
    }
)
FREE_PREFIXES = ("random:", "kubernetes:", "pulumi:providers:")


class PricingError(Exception):
    """The price table or usage file cannot be used."""


# --------------------------------------------------------------------------- #
# Price table and usage
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class PriceTable:
    data: Mapping[str, Any]
    source: Path

    @property
    def hours(self) -> float:
        return float(self.data["hours_per_month"])

    @property
    def read_on(self) -> str:
        return str(self.data["read_on"])

    @property
    def region(self) -> str:
        return str(self.data.get("region", "us-east-1"))

    def price(self, *path: str) -> float | None:
        node: Any = self.data
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return float(node)


_REQUIRED_PRICES = (
    ("hours_per_month",),
    ("read_on",),
    ("eks", "cluster_per_hour"),
    ("ebs", "gp3_per_gb_month"),
    ("vpc", "nat_gateway_per_hour"),
    ("vpc", "nat_gateway_per_gb"),
    ("vpc", "public_ipv4_per_hour"),
    ("vpc", "transit_gateway_attachment_per_hour"),
    ("vpc", "transit_gateway_per_gb"),
    ("kms", "key_per_month"),
    ("secretsmanager", "secret_per_month"),
    ("cloudwatch", "log_ingestion_per_gb"),
    ("cloudwatch", "log_storage_per_gb_month"),
    ("rds", "gp3_per_gb_month"),
    ("rds", "gp3_multi_az_per_gb_month"),
    ("elb", "alb_per_hour"),
    ("elb", "alb_lcu_per_hour"),
    ("route53", "hosted_zone_per_month"),
    ("route53", "queries_per_million"),
    ("route53", "health_check_per_month"),
    ("route53", "health_check_feature_per_month"),
    ("cloudwatch", "alarm_metric_per_month"),
    ("sns", "https_per_100k"),
    ("sns", "email_per_100k"),
    ("cloudtrail", "management_events_first_copy"),
)


@cache
def load_prices(path: Path = PRICE_TABLE) -> PriceTable:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PricingError(f"cannot read price table {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PricingError(f"price table {path} is not a mapping")
    for keys in _REQUIRED_PRICES:
        node: Any = data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            raise PricingError(f"price table {path} lacks {'.'.join(keys)}")
    return PriceTable(data=data, source=path)


@dataclass(frozen=True)
class Usage:
    """Volumes for usage-priced lines; None means "not given"."""

    nat_gateway_gb_per_month: float | None = None  # per NAT gateway
    log_ingestion_gb_per_month: float | None = None  # per log group
    log_storage_gb: float | None = None  # per log group
    s3_storage_gb: float | None = None  # per bucket (state files are kilobytes)
    alb_lcu_per_hour: float | None = None  # average capacity units, per ALB
    dns_queries_millions_per_month: float | None = None  # non-alias queries, per zone
    # Alarm notifications the SNS topic delivers, per topic (the free tier not counted).
    sns_https_notifications_per_month: float | None = None
    sns_email_notifications_per_month: float | None = None

    @property
    def given(self) -> bool:
        return any(getattr(self, key) is not None for key in _USAGE_KEYS)


_USAGE_KEYS = (
    "nat_gateway_gb_per_month",
    "log_ingestion_gb_per_month",
    "log_storage_gb",
    "s3_storage_gb",
    "alb_lcu_per_hour",
    "dns_queries_millions_per_month",
    "sns_https_notifications_per_month",
    "sns_email_notifications_per_month",
)


def load_usage(path: Path, stack: str) -> Usage:
    """Read a usage file: top-level defaults, optionally overridden under `stacks.<name>`.

    ```yaml
    nat_gateway_gb_per_month: 50
    log_ingestion_gb_per_month: 2
    stacks:
      production:
        nat_gateway_gb_per_month: 400
    ```
    """
    try:
        data = load_yaml(path) or {}
    except StackFileError as exc:
        raise PricingError(f"cannot read usage file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PricingError(f"usage file {path} must be a mapping of volume: number")
    per_stack = data.pop("stacks", {}) or {}
    if not isinstance(per_stack, dict):
        raise PricingError(f"usage file {path}: `stacks` must map stack names to volumes")
    merged = {**data, **(per_stack.get(stack) or {})}
    unknown = sorted(set(merged) - set(_USAGE_KEYS))
    if unknown:
        raise PricingError(
            f"usage file {path}: unknown keys {', '.join(unknown)}; "
            f"allowed: {', '.join(_USAGE_KEYS)}"
        )
    values: dict[str, float] = {}
    for key, value in merged.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise PricingError(f"usage file {path}: {key} = {value!r} must be a number >= 0")
        values[key] = float(value)
    return Usage(**values)


# --------------------------------------------------------------------------- #
# Lines and estimates
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class CostLine:
    urn: str
    type: str
    name: str
    description: str
    kind: LineKind
    monthly: float = 0.0
    monthly_at_max: float = 0.0
    # What the line would cost running around the clock, on demand: no
    # off-hours schedule, no Spot discount (equal to `monthly` for the rest).
    always_on: float | None = None

    @property
    def monthly_always_on(self) -> float:
        return self.monthly if self.always_on is None else self.always_on

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "monthly": round(self.monthly, 2),
            "monthlyAtMax": round(self.monthly_at_max, 2),
            "monthlyAlwaysOn": round(self.monthly_always_on, 2),
        }


@dataclass(frozen=True)
class StackCost:
    stack: str
    lines: list[CostLine]
    budget: int | None
    prices_read_on: str
    usage_given: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def total_at_max(self) -> float:
        return sum(line.monthly_at_max for line in self.lines)

    @property
    def total_always_on(self) -> float:
        """Every resource around the clock and on demand: what the savings are measured from."""
        return sum(line.monthly_always_on for line in self.lines)

    @property
    def saving_percent(self) -> float:
        """How much less the estimate is than the always-on, on-demand figure."""
        always_on = self.total_always_on
        return 100 * (always_on - self.total) / always_on if always_on else 0.0

    @property
    def unpriced(self) -> list[CostLine]:
        return [line for line in self.lines if line.kind == "unpriced"]

    @property
    def usage_lines(self) -> list[CostLine]:
        return [line for line in self.lines if line.kind == "usage"]

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.total > self.budget

    @property
    def budget_status(self) -> str:
        """Over, within, or not known: unpriced resources make "within" unprovable."""
        if self.over_budget:
            return "OVER BUDGET"
        if self.budget is None:
            return "no budget set"
        if self.unpriced:
            count = len(self.unpriced)
            return f"not known: {count} resource{'s' if count != 1 else ''} unpriced"
        if self.over_budget_at_max:
            return "within budget at desired size; OVER at max size"
        return "within budget"

    @property
    def over_budget_at_max(self) -> bool:
        """The ceiling (every node group at its max size) is over the budget."""
        return self.budget is not None and self.total_at_max > self.budget

    def by_urn(self, *, at_max: bool = False) -> dict[str, float]:
        """Monthly cost per resource (several lines of one resource summed)."""
        totals: dict[str, float] = {}
        for line in self.lines:
            amount = line.monthly_at_max if at_max else line.monthly
            totals[line.urn] = totals.get(line.urn, 0.0) + amount
        return totals

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "currency": "USD",
            "pricesReadOn": self.prices_read_on,
            "monthly": round(self.total, 2),
            "monthlyAtMax": round(self.total_at_max, 2),
            "monthlyAlwaysOn": round(self.total_always_on, 2),
            "savingPercent": round(self.saving_percent, 1),
            "budget": self.budget,
            "overBudget": self.over_budget,
            "overBudgetAtMax": self.over_budget_at_max,
            "budgetStatus": self.budget_status,
            "unpriced": len(self.unpriced),
            "usagePriced": self.usage_given,
            "lines": [line.to_json() for line in self.lines],
            "notes": self.notes,
        }


Pricer = Callable[[PlannedResource, Plan, PriceTable, Usage], list[CostLine]]


def _line(
    resource: PlannedResource,
    description: str,
    kind: LineKind,
    monthly: float = 0.0,
    monthly_at_max: float | None = None,
    always_on: float | None = None,
) -> CostLine:
    return CostLine(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        description=description,
        kind=kind,
        monthly=monthly,
        monthly_at_max=monthly if monthly_at_max is None else monthly_at_max,
        always_on=always_on,
    )


SCHEDULE_TYPE = "aws:scheduler/schedule:Schedule"


def running_share(plan: Plan, resource: PlannedResource, target_key: str) -> float:
    """The share of the week ``resource`` runs: 1.0 unless the plan's off-hours schedules
    start and stop it. A schedule targets it when its request names it under
    ``target_key`` (by the resource's `identifier`, or, for a name the
    provider chooses, through the schedule's dependency on it).

    A start is a call that starts or scales up (`startDBInstance`, a node group
    scaled to more than 0), a stop the opposite.
    """
    starts: list[str] = []
    stops: list[str] = []
    for schedule in plan.of_type(SCHEDULE_TYPE):
        target = schedule.inputs.get("target") or {}
        try:
            request = json.loads(str(target.get("input") or "{}"))
        except ValueError:
            continue
        if not isinstance(request, dict) or target_key not in request:
            continue
        named = request[target_key] == resource.inputs.get("identifier")
        if not named and resource.urn not in schedule.dependencies:
            continue
        action = str(target.get("arn", "")).rsplit(":", 1)[-1]
        desired = (request.get("ScalingConfig") or {}).get("DesiredSize")
        stopping = action.startswith("stop") or desired == 0
        (stops if stopping else starts).append(str(schedule.inputs.get("scheduleExpression")))
    if not starts or not stops:
        return 1.0
    try:
        return on_fraction(starts, stops)
    except ValueError:
        return 1.0  # a schedule this tool cannot read: priced as always on, never less


def _running(share: float) -> str:
    return "" if share >= 1.0 else f", running {100 * share:.0f}% of the week (off-hours schedule)"


def _unpriced(resource: PlannedResource, what: str) -> list[CostLine]:
    return [_line(resource, f"{what}: not in the price table", "unpriced")]


def _unpriced_in(resource: PlannedResource, region: str, table_region: str) -> list[CostLine]:
    return [
        _line(
            resource,
            f"{resource.type} in {region}: the price table has {table_region} prices only",
            "unpriced",
        )
    ]


def plan_region(plan: Plan) -> str | None:
    """The region the plan's AWS provider deploys to, if it has one."""
    for resource in plan.resources:
        if resource.type == "pulumi:providers:aws":
            region = resource.inputs.get("region")
            return str(region) if region else None
    return None


def _eks_cluster(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    hourly = p.price("eks", "cluster_per_hour") or 0.0
    return [_line(r, f"EKS control plane, {p.hours:.0f} h x ${hourly}", "priced", hourly * p.hours)]


def _root_volume_gb(node_group: PlannedResource, plan: Plan) -> int:
    """The node root volume: from the group's launch template, else its diskSize (20 default)."""
    template_id = (node_group.inputs.get("launchTemplate") or {}).get("id")
    for template in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        if template.urn in node_group.dependencies or template.urn == template_id:
            for mapping in template.inputs.get("blockDeviceMappings") or []:
                size = (mapping.get("ebs") or {}).get("volumeSize")
                if size:
                    return int(size)
    return int(node_group.inputs.get("diskSize") or 20)


def spot_discount(p: PriceTable, instance_type: str) -> float | None:
    """The price table's Spot saving for a type (0.66 = Spot costs 34% of on demand)."""
    return p.price("ec2", "spot", "discount", instance_type)


def _node_group(r: PlannedResource, plan: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    instance_type = (r.inputs.get("instanceTypes") or ["?"])[0]
    scaling = r.inputs.get("scalingConfig") or {}
    desired, maximum = int(scaling.get("desiredSize", 0)), int(scaling.get("maxSize", 0))
    on_demand = p.price("ec2", "instance_per_hour", instance_type)
    if on_demand is None:
        return _unpriced(r, f"EC2 {instance_type}")
    hourly, capacity = on_demand, ""
    if r.inputs.get("capacityType") == "SPOT":
        # The Cluster Autoscaler sizes the group by its first type; so does the estimate.
        discount = spot_discount(p, instance_type)
        if discount is None:
            return _unpriced(r, f"Spot {instance_type} (no discount in the price table)")
        hourly = on_demand * (1 - discount)
        capacity = f" Spot, ${on_demand}/h on demand less {100 * discount:.0f}%, ~${hourly:.4f}/h"
    share = running_share(plan, r, "NodegroupName")
    per_node = hourly * p.hours * share
    disk_gb = _root_volume_gb(r, plan)
    disk_month = disk_gb * (p.price("ebs", "gp3_per_gb_month") or 0.0)
    disk = disk_month * share  # root volumes go with the nodes (delete on termination)
    return [
        _line(
            r,
            f"{desired} x {instance_type} (max {maximum})"
            + (capacity or f", ${hourly}/h")
            + _running(share),
            "priced",
            per_node * desired,
            per_node * maximum,
            always_on=on_demand * p.hours * desired,
        ),
        _line(
            r,
            f"{desired} x {disk_gb} GiB gp3 root volume (max {maximum}){_running(share)}",
            "priced",
            disk * desired,
            disk * maximum,
            always_on=disk_month * desired,
        ),
    ]


def _ec2_instance(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    """A standalone instance (the Session Manager bastion), on all month, and its root volume.

    Session Manager itself costs nothing for EC2 instances; its shell logs
    are priced on their log group.
    """
    instance_type = str(r.inputs.get("instanceType"))
    hourly = p.price("ec2", "instance_per_hour", instance_type)
    if hourly is None:
        return _unpriced(r, f"EC2 {instance_type}")
    root = r.inputs.get("rootBlockDevice") or {}
    gib = int(root.get("volumeSize") or 8)
    per_gb = p.price("ebs", "gp3_per_gb_month") or 0.0
    return [
        _line(r, f"{instance_type}, {p.hours:.0f} h x ${hourly}", "priced", hourly * p.hours),
        _line(r, f"{gib} GiB gp3 root volume, ${per_gb}/GB-month", "priced", gib * per_gb),
    ]


def _nat_gateway(r: PlannedResource, _: Plan, p: PriceTable, usage: Usage) -> list[CostLine]:
    hourly = p.price("vpc", "nat_gateway_per_hour") or 0.0
    per_gb = p.price("vpc", "nat_gateway_per_gb") or 0.0
    lines = [_line(r, f"NAT gateway, {p.hours:.0f} h x ${hourly}", "priced", hourly * p.hours)]
    if usage.nat_gateway_gb_per_month is None:
        lines.append(_line(r, f"data processed, ${per_gb}/GB: depends on usage", "usage"))
    else:
        gb = usage.nat_gateway_gb_per_month
        lines.append(_line(r, f"data processed, {gb:g} GB x ${per_gb}", "priced", gb * per_gb))
    return lines


def _transit_gateway_attachment(
    r: PlannedResource, _: Plan, p: PriceTable, usage: Usage
) -> list[CostLine]:
    hourly = p.price("vpc", "transit_gateway_attachment_per_hour") or 0.0
    per_gb = p.price("vpc", "transit_gateway_per_gb") or 0.0
    return [
        _line(r, f"transit gateway attachment, {p.hours:.0f} h x ${hourly}", "priced",
              hourly * p.hours),
        _line(r, f"data processed, ${per_gb}/GB: depends on usage", "usage"),
    ]  # fmt: skip


def _public_ip(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    hourly = p.price("vpc", "public_ipv4_per_hour") or 0.0
    return [_line(r, f"public IPv4 address, ${hourly}/h", "priced", hourly * p.hours)]


def _source_instance(replica: PlannedResource, plan: Plan) -> PlannedResource | None:
    source = replica.inputs.get("replicateSourceDb")
    for candidate in plan.of_type(replica.type):
        if candidate.inputs.get("identifier") == source:
            return candidate
    return None


def _rds_instance(r: PlannedResource, plan: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    instance_class = str(r.inputs.get("instanceClass"))
    hourly = p.price("rds", "instance_per_hour", instance_class)
    if hourly is None:
        return _unpriced(r, f"RDS {instance_class}")
    multi_az = bool(r.inputs.get("multiAz"))
    is_replica = "replicateSourceDb" in r.inputs
    storage_from = _source_instance(r, plan) if is_replica else r
    storage_gb = int(
        (storage_from.inputs if storage_from else r.inputs).get("allocatedStorage") or 0
    )
    per_gb = p.price("rds", "gp3_multi_az_per_gb_month" if multi_az else "gp3_per_gb_month") or 0.0
    deployment = "Multi-AZ" if multi_az else "single-AZ"
    role = "read replica" if is_replica else "primary"
    share = running_share(plan, r, "DbInstanceIdentifier")
    instance_month = hourly * (2 if multi_az else 1) * p.hours
    lines = [
        _line(
            r,
            f"{instance_class} {deployment} {role}, ${hourly * (2 if multi_az else 1):g}/h"
            + _running(share).replace("running", "started"),
            "priced",
            instance_month * share,
            always_on=instance_month,
        ),
        _line(
            r,
            f"{storage_gb} GiB gp3 storage{' (x2, Multi-AZ)' if multi_az else ''}, "
            f"${per_gb}/GB-month",
            "priced",
            storage_gb * per_gb,
        ),
    ]
    if r.inputs.get("manageMasterUserPassword"):
        secret = p.price("secretsmanager", "secret_per_month") or 0.0
        lines.append(_line(r, "RDS-managed master password secret", "priced", secret))
    return lines


def _replication_group(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    node_type = str(r.inputs.get("nodeType"))
    hourly = p.price("elasticache", "node_per_hour", node_type)
    if hourly is None:
        return _unpriced(r, f"ElastiCache {node_type}")
    nodes = int(r.inputs.get("numCacheClusters") or 1)
    return [_line(r, f"{nodes} x {node_type}, ${hourly}/h", "priced", nodes * hourly * p.hours)]


def _kms_key(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    return [_line(r, "customer-managed KMS key", "priced", p.price("kms", "key_per_month") or 0.0)]


def _secret(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    monthly = p.price("secretsmanager", "secret_per_month") or 0.0
    return [_line(r, "Secrets Manager secret", "priced", monthly)]


def _log_group(r: PlannedResource, _: Plan, p: PriceTable, usage: Usage) -> list[CostLine]:
    ingest = p.price("cloudwatch", "log_ingestion_per_gb") or 0.0
    store = p.price("cloudwatch", "log_storage_per_gb_month") or 0.0
    if usage.log_ingestion_gb_per_month is None and usage.log_storage_gb is None:
        return [
            _line(
                r,
                f"log ingestion ${ingest}/GB, storage ${store}/GB-month: depends on usage",
                "usage",
            )
        ]
    gb_in = usage.log_ingestion_gb_per_month or 0.0
    gb_kept = usage.log_storage_gb or 0.0
    return [
        _line(
            r,
            f"{gb_in:g} GB ingested x ${ingest}, {gb_kept:g} GB kept x ${store}",
            "priced",
            gb_in * ingest + gb_kept * store,
        )
    ]


def _bucket(r: PlannedResource, _: Plan, p: PriceTable, usage: Usage) -> list[CostLine]:
    per_gb = p.price("s3", "standard_per_gb_month") or 0.0
    if usage.s3_storage_gb is None:
        return [_line(r, f"S3 Standard ${per_gb}/GB-month: depends on usage", "usage")]
    gb = usage.s3_storage_gb
    return [_line(r, f"{gb:g} GB x ${per_gb} (S3 Standard)", "priced", gb * per_gb)]


INGRESS_CLASS_PARAMS = "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams"
PUBLIC_ELB_SUBNET_TAG = "kubernetes.io/role/elb"


def _load_balancer(r: PlannedResource, plan: Plan, p: PriceTable, usage: Usage) -> list[CostLine]:
    """The one ALB the class's IngressGroup makes (the controller creates it, not Pulumi).

    It has an address in each public subnet the controller discovers (the
    subnets tagged for internet-facing load balancers), each billed as a
    public IPv4 address.
    """
    hourly = p.price("elb", "alb_per_hour") or 0.0
    per_lcu = p.price("elb", "alb_lcu_per_hour") or 0.0
    per_ip = p.price("vpc", "public_ipv4_per_hour") or 0.0
    zones = sum(
        1
        for subnet in plan.of_type("aws:ec2/subnet:Subnet")
        if PUBLIC_ELB_SUBNET_TAG in (subnet.inputs.get("tags") or {})
    )
    lines = [
        _line(r, f"Application Load Balancer, {p.hours:.0f} h x ${hourly}", "priced",
              hourly * p.hours),
        _line(r, f"its {zones} public IPv4 addresses, ${per_ip}/h each", "priced",
              zones * per_ip * p.hours),
    ]  # fmt: skip
    if usage.alb_lcu_per_hour is None:
        lines.append(_line(r, f"capacity units, ${per_lcu}/LCU-hour: depends on usage", "usage"))
    else:
        lcu = usage.alb_lcu_per_hour
        lines.append(
            _line(r, f"{lcu:g} LCU x {p.hours:.0f} h x ${per_lcu}", "priced",
                  lcu * p.hours * per_lcu)
        )  # fmt: skip
    return lines


def _hosted_zone(r: PlannedResource, _: Plan, p: PriceTable, usage: Usage) -> list[CostLine]:
    monthly = p.price("route53", "hosted_zone_per_month") or 0.0
    per_million = p.price("route53", "queries_per_million") or 0.0
    lines = [_line(r, f"hosted zone, ${monthly}/month", "priced", monthly)]
    if usage.dns_queries_millions_per_month is None:
        lines.append(
            _line(r, f"queries, ${per_million}/million (alias records to the ALB are free): "
                  "depends on usage", "usage")
        )  # fmt: skip
    else:
        millions = usage.dns_queries_millions_per_month
        lines.append(
            _line(r, f"{millions:g} million queries x ${per_million}", "priced",
                  millions * per_million)
        )  # fmt: skip
    return lines


def _metric_alarm(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    """Billed per metric it watches: a metric-math alarm pays for each metric it reads."""
    per_metric = p.price("cloudwatch", "alarm_metric_per_month") or 0.0
    queries = r.inputs.get("metricQueries") or []
    metrics = sum(1 for q in queries if q.get("metric")) or 1
    what = f"alarm on {metrics} metrics" if metrics > 1 else "alarm"
    return [_line(r, f"{what} x ${per_metric}/month", "priced", metrics * per_metric)]


def _health_check(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    base = p.price("route53", "health_check_per_month") or 0.0
    feature = p.price("route53", "health_check_feature_per_month") or 0.0
    features = [
        name
        for name, on in (
            ("HTTPS", str(r.inputs.get("type", "")).startswith("HTTPS")),
            ("string matching", str(r.inputs.get("type", "")).endswith("STR_MATCH")),
            ("10 s interval", r.inputs.get("requestInterval") == 10),
            ("latency", bool(r.inputs.get("measureLatency"))),
        )
        if on
    ]
    described = f" + {', '.join(features)} ${feature} each" if features else ""
    return [
        _line(r, f"health check of an AWS endpoint ${base}{described}", "priced",
              base + feature * len(features))
    ]  # fmt: skip


def _topic(r: PlannedResource, _: Plan, p: PriceTable, usage: Usage) -> list[CostLine]:
    https = p.price("sns", "https_per_100k") or 0.0
    email = p.price("sns", "email_per_100k") or 0.0
    sent_https = usage.sns_https_notifications_per_month
    sent_email = usage.sns_email_notifications_per_month
    if sent_https is None and sent_email is None:
        return [
            _line(r, f"notifications, ${https} per 100k HTTPS, ${email} per 100k email (the "
                  "first 100k a month free): depends on how often alarms fire", "usage")
        ]  # fmt: skip
    sent_https, sent_email = sent_https or 0.0, sent_email or 0.0
    return [
        _line(r, f"{sent_https:g} HTTPS and {sent_email:g} email notifications", "priced",
              sent_https / 100_000 * https + sent_email / 100_000 * email)
    ]  # fmt: skip


def _trail(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    first = p.price("cloudtrail", "management_events_first_copy") or 0.0
    return [
        _line(r, "management events, the account's first copy: free (its bucket and log group "
              "are priced on their own lines)", "priced", first)
    ]  # fmt: skip


def parse_size_gib(size: str) -> float:
    """A Kubernetes storage quantity in GiB ("50Gi", "1Ti", "500Mi")."""
    units = {"Mi": 1 / 1024, "Gi": 1.0, "Ti": 1024.0, "M": 1e6 / 2**30, "G": 1e9 / 2**30,
             "T": 1e12 / 2**30}  # fmt: skip
    for suffix in sorted(units, key=len, reverse=True):
        if size.endswith(suffix):
            return float(size[: -len(suffix)]) * units[suffix]
    return float(size) / 2**30


def _value_at(values: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(values, Mapping):
            return None
        values = values.get(part)
    return values


def _helm_release(r: PlannedResource, _: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    """The chart's persistent volumes (gp3, from its values); its pods run on the nodes."""
    from infra.charts import all_pins

    pin = next(
        (pin for pin in all_pins() if pin.chart == r.inputs.get("chart")
         and pin.version == r.inputs.get("version")),
        None,
    )  # fmt: skip
    per_gb = p.price("ebs", "gp3_per_gb_month") or 0.0
    values = r.inputs.get("values") or {}
    sizes = [
        size for path in (pin.volume_sizes if pin else ()) if (size := _value_at(values, path))
    ]
    if not sizes:
        return [_line(r, "chart: runs on the nodes (priced there)", "free")]
    gib = sum(parse_size_gib(str(size)) for size in sizes)
    return [
        _line(r, f"{len(sizes)} gp3 volume{'s' if len(sizes) > 1 else ''}, {gib:g} GiB x "
              f"${per_gb}", "priced", gib * per_gb)
    ]  # fmt: skip


def _cron_job(r: PlannedResource, _: Plan, p: PriceTable, usage: Usage) -> list[CostLine]:
    """A CronJob's scratch volumes (generic ephemeral gp3), billed only while a run lasts.

    At most the Job's activeDeadlineSeconds plus its ttlSecondsAfterFinished
    (the volume goes with the pod) per run, as often as the schedule fires: an
    upper bound (a run that ends sooner pays less).
    """
    spec = r.inputs.get("spec") or {}
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    pod = (job.get("template") or {}).get("spec") or {}
    gib = sum(
        parse_size_gib(str(
            (((v.get("ephemeral") or {}).get("volumeClaimTemplate") or {}).get("spec") or {})
            .get("resources", {}).get("requests", {}).get("storage", "0")))
        for v in pod.get("volumes") or []
        if v.get("ephemeral")
    )  # fmt: skip
    if not gib:
        return [_line(r, "runs on the nodes (priced there)", "free")]
    per_gb = p.price("ebs", "gp3_per_gb_month") or 0.0
    runs = runs_per_week(str(spec.get("schedule", "")))
    hours = (
        int(job.get("activeDeadlineSeconds") or 0) + int(job.get("ttlSecondsAfterFinished") or 0)
    ) / 3600
    if runs is None or not hours:
        return [_line(r, f"{gib:g} GiB gp3 scratch per run, ${per_gb}/GB-month: depends on "
                      "the schedule", "usage")]  # fmt: skip
    share = runs * hours / (7 * 24)  # of the month's hours, whatever the month's length
    return [
        _line(r, f"{gib:g} GiB gp3 scratch volume for at most {hours:g} h x {runs} run(s) a "
                 f"week, ${per_gb}/GB-month", "priced", gib * per_gb * share)
    ]  # fmt: skip


def _primary_databases_gb(plan: Plan) -> int:
    """Allocated storage of the plan's primary RDS instances (what AWS Backup snapshots)."""
    return sum(
        int(r.inputs.get("allocatedStorage") or 0)
        for r in plan.of_type("aws:rds/instance:Instance")
        if "replicateSourceDb" not in r.inputs
    )


def _backup_plan(r: PlannedResource, plan: Plan, p: PriceTable, __: Usage) -> list[CostLine]:
    """The recovery points a plan keeps, and their copies in another region.

    An RDS snapshot's first backup is a full copy of the data, the next ones
    its changed blocks: the database's allocated storage is the estimate of
    the full copy (an upper bound of its data), the daily changes come on top
    (usage, unknown here). A copy to another region moves the same data across
    regions once in full, then each day's changes.
    """
    per_gb = p.price("backup", "rds_snapshot_per_gb_month")
    transfer = p.price("backup", "cross_region_transfer_per_gb")
    if per_gb is None or transfer is None:
        return _unpriced(r, "AWS Backup storage")
    gib = _primary_databases_gb(plan)
    lines: list[CostLine] = []
    for rule in r.inputs.get("rules") or []:
        name = rule.get("ruleName", "?")
        days = (rule.get("lifecycle") or {}).get("deleteAfter")
        lines.append(_line(r, f"rule {name}: {gib} GiB database snapshot (a full copy; each "
                              f"day's changes on top, kept {days} d), ${per_gb}/GB-month",
                           "priced", gib * per_gb))  # fmt: skip
        for action in rule.get("copyActions") or []:
            arn = str(action.get("destinationVaultArn") or "")
            region = arn.split(":")[3] if arn.count(":") >= 5 else "another region"
            lines.append(_line(r, f"rule {name}: its copy in {region}, {gib} GiB at "
                                  f"${per_gb}/GB-month (this table's rate)", "priced",
                               gib * per_gb))  # fmt: skip
            lines.append(_line(r, f"rule {name}: transfer to {region}, ${transfer}/GB: the "
                                  f"first copy {gib} GiB (${gib * transfer:.2f} once), then "
                                  "each day's changes", "usage"))  # fmt: skip
    return lines


def aws_cron_runs_per_year(expression: str) -> int | None:
    """How often an AWS cron (`cron(min hour day month weekday year)`) fires in a year,
    for fixed days of the month or every day; None for anything else."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6 or not (fields[0].isdigit() and fields[1].isdigit()):
        return None
    day, month, weekday = fields[2], fields[3], fields[4]
    if day in ("*", "?") and weekday in ("*", "?"):
        return 365 if month == "*" else None
    if weekday != "?" or not all(d.isdigit() for d in day.split(",")):
        return None
    if month == "*":
        months = 12
    elif all(m.isdigit() for m in month.split(",")):
        months = len(month.split(","))
    else:
        return None
    return len(day.split(",")) * months


# A restore test's instance exists from the restore's start to the end of the
# validation window: the restore itself is taken as an hour.
RESTORE_HOURS = 1


def _restore_testing_selection(
    r: PlannedResource, plan: Plan, p: PriceTable, __: Usage
) -> list[CostLine]:
    """The scratch instance each restore test creates, for the restore and the validation window."""
    overrides = r.inputs.get("restoreMetadataOverrides") or {}
    instance_class = str(overrides.get("dbInstanceClass") or "")
    hourly = p.price("rds", "instance_per_hour", instance_class)
    if hourly is None:
        return _unpriced(r, f"RDS {instance_class or 'instance'} of a restore test")
    testing_plan = next(
        (
            t
            for t in plan.of_type("aws:backup/restoreTestingPlan:RestoreTestingPlan")
            if t.inputs.get("name") == r.inputs.get("restoreTestingPlanName")
        ),
        None,
    )
    schedule = str((testing_plan.inputs if testing_plan else {}).get("scheduleExpression", ""))
    runs = aws_cron_runs_per_year(schedule)
    hours = int(r.inputs.get("validationWindowHours") or 0) + RESTORE_HOURS
    gib = _primary_databases_gb(plan)
    storage = p.price("rds", "gp3_per_gb_month") or 0.0
    if runs is None:
        return [_line(r, f"{instance_class} restore test for {hours} h a run, ${hourly}/h: "
                         f"depends on the schedule ({schedule})", "usage")]  # fmt: skip
    per_run = hours * (hourly + gib * storage / p.hours)
    return [
        _line(
            r,
            f"{runs} restore test(s) a year: {instance_class} single-AZ + {gib} GiB gp3 "
            f"for {hours} h each (restore + validation window), ${hourly}/h",
            "priced",
            per_run * runs / 12,
        )
    ]


PRICERS: dict[str, Pricer] = {
    "kubernetes:batch/v1:CronJob": _cron_job,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": _transit_gateway_attachment,
    "aws:ec2/eip:Eip": _public_ip,
    "aws:ec2/instance:Instance": _ec2_instance,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:kms/key:Key": _kms_key,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:route53/zone:Zone": _hosted_zone,
    INGRESS_CLASS_PARAMS: _load_balancer,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:sns/topic:Topic": _topic,
    "aws:cloudtrail/trail:Trail": _trail,
    "kubernetes:helm.sh/v3:Release": _helm_release,
    "aws:backup/plan:Plan": _backup_plan,
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": _restore_testing_selection,
}


def is_free(type_token: str) -> bool:
    return type_token in FREE_TYPES or type_token.startswith(FREE_PREFIXES)


def estimate(
    plan: Plan,
    *,
    budget: int | None,
    prices: PriceTable | None = None,
    usage: Usage | None = None,
    shared_database_gb: int | None = None,
) -> StackCost:
    """Price every custom resource of ``plan``.

    ``shared_database_gb``: the stack keeps a database of about this size in a
    shared instance (a pr-<n> or dev-<name> stack); it is charged that
    storage share, its marginal cost, and nothing of the instance itself.
    """
    table = prices or load_prices()
    volumes = usage or Usage()
    region = plan_region(plan)
    priced_here = region is None or region == table.region
    lines: list[CostLine] = []
    for resource in plan.resources:
        if not resource.custom:
            continue  # components and the stack cost nothing themselves
        pricer = PRICERS.get(resource.type)
        if pricer is not None and not priced_here:
            # Another region's prices differ: say so rather than bill at the wrong ones.
            lines.extend(_unpriced_in(resource, str(region), table.region))
        elif pricer is not None:
            lines.extend(pricer(resource, plan, table, volumes))
        elif is_free(resource.type):
            lines.append(_line(resource, "no charge", "free"))
        else:
            lines.extend(_unpriced(resource, resource.type))
    if shared_database_gb:
        setup = next(
            (r for r in plan.resources if r.type == "kubernetes:batch/v1:Job"),
            None,
        )
        per_gb = table.price("rds", "gp3_per_gb_month") or 0.0
        if setup is not None:
            lines.append(
                _line(
                    setup,
                    f"database in the shared instance: {shared_database_gb} GiB gp3 share, "
                    f"${per_gb}/GB-month",
                    "priced",
                    shared_database_gb * per_gb,
                )
            )
    has_rds = any(r.type == "aws:rds/instance:Instance" for r in plan.resources)
    notes = [
        *(
            [
                "Performance Insights with 7 days of history is free.",
                "Automated RDS backups are free up to the size of the database.",
            ]
            if has_rds
            else []
        ),
        *(
            []
            if priced_here
            else [
                f"The stack runs in {region}; the price table holds {table.region} prices "
                "only, so its resources are listed as UNPRICED, not estimated."
            ]
        ),
    ]
    return StackCost(
        stack=plan.stack,
        lines=lines,
        budget=budget,
        prices_read_on=table.read_on,
        usage_given=volumes.given,
        notes=notes,
    )


def money(amount: float) -> str:
    return f"${amount:,.2f}"


def signed_money(amount: float) -> str:
    sign = "+" if amount > 0.005 else "-" if amount < -0.005 else "±"
    return f"{sign}${abs(amount):,.2f}"


# --------------------------------------------------------------------------- #
# Commitments: what a one-year reservation would make the steady part cost
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class CommitmentLine:
    name: str
    what: str
    on_demand: float  # monthly
    committed: float | None  # monthly; None: the price table has no commitment price


@dataclass(frozen=True)
class Commitment:
    stack: str
    lines: list[CommitmentLine]
    total: float  # the stack's estimate, on demand
    source: str
    read_on: str

    @property
    def steady_on_demand(self) -> float:
        return sum(line.on_demand for line in self.lines if line.committed is not None)

    @property
    def steady_committed(self) -> float:
        return sum(line.committed or 0.0 for line in self.lines)

    @property
    def saving(self) -> float:
        return self.steady_on_demand - self.steady_committed

    @property
    def steady_saving_percent(self) -> float:
        return 100 * self.saving / self.steady_on_demand if self.steady_on_demand else 0.0

    @property
    def total_saving_percent(self) -> float:
        return 100 * self.saving / self.total if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "term": "1 year, no upfront",
            "pricesReadOn": self.read_on,
            "source": self.source,
            "steadyOnDemand": round(self.steady_on_demand, 2),
            "steadyCommitted": round(self.steady_committed, 2),
            "steadySavingPercent": round(self.steady_saving_percent, 1),
            "monthly": round(self.total, 2),
            "monthlyCommitted": round(self.total - self.saving, 2),
            "totalSavingPercent": round(self.total_saving_percent, 1),
            "lines": [
                {
                    "name": line.name,
                    "what": line.what,
                    "onDemand": round(line.on_demand, 2),
                    "committed": None if line.committed is None else round(line.committed, 2),
                }
                for line in self.lines
            ],
        }


def commitment(plan: Plan, estimate_: StackCost, prices: PriceTable | None = None) -> Commitment:
    """The stack's steady part (what runs around the clock on demand: node groups at their
    minimum size, database instances, cache nodes) at one-year, no-upfront commitment prices.

    What a schedule stops, Spot nodes and nodes above the minimum stay on
    demand: a commitment is paid every hour, used or not.
    """
    table = prices or load_prices()
    hours = table.hours
    lines: list[CommitmentLine] = []

    def committed(kind: str, size: str) -> float | None:
        return table.price("commitment_1yr_no_upfront", f"{kind}_per_hour", size)

    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        if (
            group.inputs.get("capacityType") == "SPOT"
            or running_share(plan, group, "NodegroupName") < 1.0
        ):
            continue
        instance_type = (group.inputs.get("instanceTypes") or ["?"])[0]
        steady = int((group.inputs.get("scalingConfig") or {}).get("minSize", 0))
        on_demand = table.price("ec2", "instance_per_hour", instance_type)
        if not steady or on_demand is None:
            continue
        reserved = committed("ec2", instance_type)
        lines.append(
            CommitmentLine(
                group.name,
                f"{steady} x {instance_type} (the node group's minimum)",
                steady * on_demand * hours,
                None if reserved is None else steady * reserved * hours,
            )
        )
    for instance in plan.of_type("aws:rds/instance:Instance"):
        if running_share(plan, instance, "DbInstanceIdentifier") < 1.0:
            continue
        instance_class = str(instance.inputs.get("instanceClass"))
        on_demand = table.price("rds", "instance_per_hour", instance_class)
        if on_demand is None:
            continue
        copies = 2 if instance.inputs.get("multiAz") else 1
        reserved = committed("rds", instance_class)
        lines.append(
            CommitmentLine(
                instance.name,
                f"{instance_class}{' Multi-AZ' if copies == 2 else ''}",
                copies * on_demand * hours,
                None if reserved is None else copies * reserved * hours,
            )
        )
    for group in plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        node_type = str(group.inputs.get("nodeType"))
        on_demand = table.price("elasticache", "node_per_hour", node_type)
        if on_demand is None:
            continue
        nodes = int(group.inputs.get("numCacheClusters") or 1)
        reserved = committed("elasticache", node_type)
        lines.append(
            CommitmentLine(
                group.name,
                f"{nodes} x {node_type}",
                nodes * on_demand * hours,
                None if reserved is None else nodes * reserved * hours,
            )
        )
    return Commitment(
        stack=plan.stack,
        lines=lines,
        total=estimate_.total,
        source=str(table.data.get("commitment_1yr_no_upfront", {}).get("source", "")),
        read_on=str(table.data.get("commitment_1yr_no_upfront", {}).get("read_on", "")),
    )
