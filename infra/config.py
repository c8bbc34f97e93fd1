"""The stack configuration: its shape, defaults and limits, in one place.

Every key a stack file may set is a field here, with its Pulumi config name as
the field alias (``stagecraft:dbInstanceClass`` -> ``DatabaseSpec.instance_class``).
The keys are flat because Pulumi's project-level config schema only knows
``string``, ``integer``, ``boolean`` and ``array``; the models group them by the
component that consumes them, so each component receives one typed spec.

Validation happens before any resource is registered: a bad stack file raises
:class:`ConfigError` carrying one :class:`Problem` per mistake, each naming the
key, the value and what is allowed.  ``ConfigError`` is a ``pulumi.RunError``
so ``pulumi up`` prints the message without a Python traceback.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import zoneinfo
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, ClassVar, Literal, Self, TypeVar, get_args, get_origin

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from infra import documentation_values, off_hours
from infra.charts import CLUSTER_AUTOSCALER
from infra.data_sync import RulesError, load_rules
from infra.restore import (
    RDS_IDENTIFIER_LIMIT,
    rds_identifier_problem,
    restore_identifier,
    restore_name_problem,
    restore_time_problem,
)

PROJECT_NAME = "stagecraft"

# --------------------------------------------------------------------------- #
# Allowed values, each with where it comes from.
# --------------------------------------------------------------------------- #

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy):
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# EKS versions in standard ($0.10/h) or extended ($0.60/h) support; older ones
# cannot be created: https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")

# RDS for PostgreSQL major versions that RDS still creates.
POSTGRES_MAJOR_VERSIONS = (13, 14, 15, 16, 17)

# ElastiCache Redis OSS engine versions and the parameter group family of each.
REDIS_ENGINE_FAMILIES = {"6.2": "redis6.x", "7.0": "redis7", "7.1": "redis7"}

# Redis eviction policies (https://redis.io/docs/latest/develop/reference/eviction/).
MaxmemoryPolicy = Literal[
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
    "noeviction",
]

# EKS control-plane log types: https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
ControlPlaneLogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
CONTROL_PLANE_LOG_TYPES: tuple[str, ...] = get_args(ControlPlaneLogType)
# Who called the API, what it did, how they authenticated: the audit trail.
DEFAULT_CONTROL_PLANE_LOG_TYPES: tuple[ControlPlaneLogType, ...] = ("api", "audit", "authenticator")

# The partitions whose ARNs and endpoints stagecraft knows how to build.
SUPPORTED_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# The services a full environment cannot do without: a region must offer all of them.
REQUIRED_SERVICES = ("eks", "rds", "elasticache", "secretsmanager", "kms", "logs")

# RDS gp3 storage limits for PostgreSQL, in GiB:
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html
RDS_GP3_MIN_GB = 20
RDS_GP3_MAX_GB = 65536

# Enhanced monitoring granularities RDS accepts (0 turns it off).
MonitoringInterval = Literal[0, 1, 5, 10, 15, 30, 60]

# The application feature flags of the seed documents' feature table.
FeatureFlag = Literal["realData", "webhooks", "highSla", "backupRecovery"]
FEATURE_FLAGS: tuple[str, ...] = get_args(FeatureFlag)

_BURSTABLE_SIZES = frozenset({"nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"})
_STEADY_SIZES = frozenset(
    {"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"}
)
# Graviton general-purpose families also come in `medium`.
_GRAVITON_SIZES = _STEADY_SIZES | {"medium"}

# Instance families per service, with the sizes each family is sold in.  Kept
# short on purpose: a family missing here is one nobody priced or tested yet.
NODE_INSTANCE_FAMILIES: dict[str, frozenset[str]] = {
    **dict.fromkeys(("t3", "t3a", "t4g"), _BURSTABLE_SIZES),
    **dict.fromkeys(("m5", "m5a", "m6i", "m6a", "m7i", "c5", "c6i", "c7i"), _STEADY_SIZES),
    **dict.fromkeys(("r5", "r6i", "r7i"), _STEADY_SIZES),
    **dict.fromkeys(("m6g", "m7g", "c6g", "c7g", "r6g", "r7g"), _GRAVITON_SIZES),
}
DB_INSTANCE_FAMILIES: dict[str, frozenset[str]] = {
    **{f: _BURSTABLE_SIZES - {"nano"} for f in ("t3", "t4g")},
    **dict.fromkeys(("m5", "m6i", "m6g", "m7g", "r5", "r6i", "r6g", "r7g"), _STEADY_SIZES),
}
CACHE_NODE_FAMILIES: dict[str, frozenset[str]] = {
    **{f: frozenset({"micro", "small", "medium"}) for f in ("t3", "t4g")},
    **dict.fromkeys(("m5", "m6g", "m7g", "r5", "r6g", "r7g"), _STEADY_SIZES),
}

# Graviton (arm64) families need the arm64 EKS AMI.
ARM64_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$")


# vCPUs and GiB of memory of a size, per kind of family: the burstable t
# families, and the compute (c), general (m) and memory (r) ones, whose memory
# is 2, 4 and 8 GiB per vCPU. https://aws.amazon.com/ec2/instance-types/
_BURSTABLE_SHAPES = {
    "nano": (2, 0.5), "micro": (2, 1), "small": (2, 2), "medium": (2, 4),
    "large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32),
}  # fmt: skip
_MEMORY_PER_VCPU = {"c": 2, "m": 4, "r": 8}


def instance_shape(instance_type: str) -> tuple[float, float]:
    """(vCPUs, memory GiB) of a node instance type stagecraft knows, such as 'm5.large'."""
    family, size = instance_type.split(".")
    if family.startswith("t"):
        return _BURSTABLE_SHAPES[size]
    vcpus = 1 if size == "medium" else 2 if size == "large" else 4 * _size_multiple(size)
    return vcpus, vcpus * _MEMORY_PER_VCPU[family[0]]


def _size_multiple(size: str) -> int:
    """'xlarge' -> 1, '4xlarge' -> 4."""
    return int(size.removesuffix("xlarge") or 1)


_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_K8S_QUANTITY = re.compile(r"^(\d+(\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_PG_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CRON_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*"
_CRON = re.compile(rf"^{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}$")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = r"([01]\d|2[0-3]):[0-5]\d"
_DAILY_WINDOW = re.compile(rf"^{_HHMM}-{_HHMM}$")
_WEEKLY_WINDOW = re.compile(rf"^({'|'.join(_WEEKDAYS)}):{_HHMM}-({'|'.join(_WEEKDAYS)}):{_HHMM}$")


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Problem:
    """One mistake in a stack file: which key, what it holds, what is allowed."""

    key: str
    value: object
    allowed: str

    def __str__(self) -> str:
        shown = "(not set)" if self.value is _UNSET else json.dumps(self.value, default=str)
        return f"{self.key} = {shown}: {self.allowed}"


class _Unset:
    def __repr__(self) -> str:
        return "(not set)"


_UNSET: Any = _Unset()


class ConfigError(pulumi.RunError):
    """The stack configuration is invalid; nothing was created."""

    def __init__(self, stack: str, problems: Iterable[Problem]) -> None:
        self.stack = stack
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"stack '{stack}' has {count} configuration {noun}; nothing was created:\n{lines}"
        )


class _RuleViolationError(ValueError):
    """Raised inside model validators so pydantic carries the problems through."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


# --------------------------------------------------------------------------- #
# Helpers for field validators
# --------------------------------------------------------------------------- #


def _key(alias: str) -> str:
    return f"{PROJECT_NAME}:{alias}"


def _now() -> datetime:
    """The clock a restore time is checked against (tests move it)."""
    return datetime.now(UTC)


def _check_instance_type(value: str, prefix: str, families: Mapping[str, frozenset[str]]) -> str:
    match = re.fullmatch(rf"{re.escape(prefix)}([a-z0-9]+)\.([a-z0-9]+)", value)
    if not match:
        example = f"{prefix}{next(iter(families))}.large"
        raise ValueError(f"must look like '{example}' ({prefix}<family>.<size>)")
    family, size = match.groups()
    if family not in families:
        known = ", ".join(sorted(families))
        raise ValueError(f"family '{family}' is not one stagecraft supports; known: {known}")
    if size not in families[family]:
        sizes = ", ".join(sorted(families[family], key=_size_rank))
        raise ValueError(f"'{family}' does not come in size '{size}'; sizes: {sizes}")
    return value


def _size_rank(size: str) -> int:
    order = ["nano", "micro", "small", "medium", "large", "xlarge"]
    if size in order:
        return order.index(size)
    return len(order) + int(size.removesuffix("xlarge"))


def parse_quantity(quantity: str) -> float:
    """A Kubernetes resource quantity ('500m', '2', '512Mi') as a plain number."""
    match = _K8S_QUANTITY.fullmatch(quantity)
    if not match:
        raise ValueError(f"'{quantity}' is not a Kubernetes quantity")
    number, _, unit = match.groups()
    factors = {
        None: 1.0,
        "m": 1e-3,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "Ki": 2.0**10,
        "Mi": 2.0**20,
        "Gi": 2.0**30,
        "Ti": 2.0**40,
    }
    return float(number) * factors[unit]


def _check_quantity(value: str, what: Literal["cpu", "memory"]) -> str:
    example = "'500m' or '2'" if what == "cpu" else "'512Mi' or '4Gi'"
    if not _K8S_QUANTITY.fullmatch(value):
        raise ValueError(f"must be a Kubernetes {what} quantity such as {example}")
    if parse_quantity(value) <= 0:
        raise ValueError("must be greater than zero")
    return value


class Section(BaseModel):
    """A group of flat config keys consumed by one component."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # The heading this section's keys are listed under in the README.
    title: ClassVar[str] = ""

    def rule_problems(self) -> list[Problem]:
        """Rules tying this section's keys together; one problem per broken rule."""
        return []

    def changed_keys(self) -> set[str]:
        """Fields set to something other than their default.

        Not `model_fields_set`: the Pulumi CLI (and the offline reader) hand
        over every declared default as a value, so "given" is "different".
        """
        return {
            name
            for name, info in type(self).model_fields.items()
            if not info.is_required() and getattr(self, name) != _default_of(info)
        }

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        problems = self.rule_problems()
        if problems:
            raise _RuleViolationError(problems)
        return self


# --------------------------------------------------------------------------- #
# Sections
# --------------------------------------------------------------------------- #


def _account_id_field() -> Any:
    """The `awsAccountId` key, the same in every kind of stack file."""
    return Field(
        alias="awsAccountId",
        description=(
            "The AWS account (12 digits, quoted so YAML keeps a leading 0) this stack "
            "deploys to. The AWS provider refuses credentials of any other account "
            "(`allowedAccountIds`) before it reads or creates anything, so a profile "
            "pointing at the wrong account cannot apply this stack there."
        ),
    )


def check_account_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise ValueError(
            "must be a 12-digit AWS account id, quoted so that YAML keeps a leading zero "
            '(stagecraft:awsAccountId: "012345678901"); `aws sts get-caller-identity '
            "--query Account` prints yours"
        )
    return value


class GeneralSpec(Section):
    """Ownership, budget and the cross-cutting safety switches."""

    title: ClassVar[str] = "General"

    owner: str = Field(
        alias="owner",
        min_length=1,
        max_length=256,
        description="Team that owns the environment; becomes the `owner` tag on every resource.",
    )
    cost_center: str = Field(
        alias="costCenter",
        min_length=1,
        max_length=256,
        description="Cost center billed for the environment; the `cost-center` tag.",
    )
    aws_account_id: str = _account_id_field()
    monthly_budget_usd: int = Field(
        alias="monthlyBudgetUsd",
        gt=0,
        description=(
            "Monthly budget in USD: what `stagecraft cost` compares estimates with and, in "
            "dev, sandbox, staging and production, the limit of the stack's AWS Budgets "
            "budget (README 'Budgets')."
        ),
    )
    log_retention_days: int = Field(
        alias="logRetentionDays",
        description=(
            "Days CloudWatch keeps application and database (RDS) logs; one of "
            "CloudWatch's allowed periods. Audit logs have their own: `auditLogRetentionDays`."
        ),
    )
    protect_stateful_resources: bool = Field(
        False,
        alias="protectStatefulResources",
        description=(
            "Mark the database, its replicas, the cache, the cluster, the KMS key, the DNS "
            "zone, the S3 buckets (telemetry, access logs, audit trail) and the trail "
            "`protect: true` so no `pulumi up` or `destroy` can delete them."
        ),
    )
    allow_placeholder_values: bool = Field(
        False,
        alias="allowPlaceholderValues",
        description=(
            "Accept documentation values (the AWS example account 123456789012, the "
            "RFC 5737 TEST-NET ranges such as 198.51.100.0/24, example.com, placeholder "
            "ids): the shipped stack files use them so that they plan offline, and "
            "`stagecraft plan` and the tests set this for their runs. Leave it unset in a "
            "stack file: a real deploy with such values fails late, after the cluster "
            "exists (README 'Deploy for real')."
        ),
    )

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_cloudwatch_value(cls, value: int) -> int:
        return _check_log_retention(value)

    @field_validator("aws_account_id")
    @classmethod
    def _account_is_twelve_digits(cls, value: str) -> str:
        return check_account_id(value)


def _check_cidrs(value: list[str], *, whole_internet: str) -> list[str]:
    """CIDR network addresses, none twice, none the whole internet (``whole_internet`` says why)."""
    for cidr in value:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            raise ValueError(
                f"'{cidr}' is not a CIDR network address such as '203.0.113.0/24'"
            ) from None
        if network.prefixlen == 0:
            raise ValueError(f"'{cidr}' {whole_internet}")
    return _no_duplicates(value)


def cidr_within(inner: str, outer: str) -> bool:
    """Is network ``inner`` inside ``outer``? (False across IPv4 and IPv6.)"""
    a, b = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    if a.version != b.version:
        return False
    return a.subnet_of(b)  # type: ignore[arg-type]


def _no_duplicates(value: list[Any]) -> list[Any]:
    duplicates = sorted({str(v) for v in value if value.count(v) > 1})
    if duplicates:
        raise ValueError(f"lists {', '.join(duplicates)} more than once")
    return value


def _check_log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in LOG_RETENTION_DAYS)
        raise ValueError(f"must be one of CloudWatch's retention periods: {allowed}")
    return value


Tier = Literal["production", "non-production"]

# What a production-tier stack must never be, checked before anything is
# planned (see StackConfig.tier_problems and the README's "Production rules").
PRODUCTION_MIN_NODES = 2
PRODUCTION_MIN_BACKUP_DAYS = 7
PRODUCTION_MIN_AUDIT_LOG_DAYS = 365


class TierSpec(Section):
    """What the environment is held to, and how long its audit trail is kept."""

    title: ClassVar[str] = "Tier and audit trail"

    tier: Tier = Field(
        alias="tier",
        description=(
            "`production` refuses every setting a production environment must never have "
            "(README 'Production rules'): scale to zero, single-AZ data, no backups, a "
            "public API, ...; `non-production` allows them."
        ),
    )
    audit_log_retention_days: int = Field(
        alias="auditLogRetentionDays",
        description=(
            "Days CloudWatch keeps the audit trail: EKS control-plane logs and VPC flow logs "
            "(production: at least 365); one of CloudWatch's allowed periods."
        ),
    )

    cloud_trail: bool = Field(
        False,
        alias="cloudTrail",
        description=(
            "Record every API call in the account with a CloudTrail trail: all regions, "
            "management events read and write, log file validation, encrypted with the "
            "environment's key, delivered to a locked-down S3 bucket and to CloudWatch Logs "
            "(kept auditLogRetentionDays). One per account: turn it on in the stack that "
            "owns the account's audit trail (production)."
        ),
    )
    cloud_trail_retention_days: int = Field(
        2557,
        alias="cloudTrailRetentionDays",
        ge=90,
        le=3653,
        description=(
            "Days the trail's S3 bucket keeps log files before its lifecycle deletes them "
            "(default seven years; CloudTrail's own event history keeps only 90 days)."
        ),
    )

    @field_validator("audit_log_retention_days")
    @classmethod
    def _retention_is_cloudwatch_value(cls, value: int) -> int:
        return _check_log_retention(value)

    def rule_problems(self) -> list[Problem]:
        if not self.cloud_trail and "cloud_trail_retention_days" in self.changed_keys():
            return [
                Problem(
                    _key("cloudTrailRetentionDays"),
                    self.cloud_trail_retention_days,
                    "applies only to the trail; set stagecraft:cloudTrail: true or remove it",
                )
            ]
        return []


class NetworkSpec(Section):
    """The VPC: address range, availability zones, NAT and flow logs."""

    title: ClassVar[str] = "Network"

    vpc_cidr: str = Field(
        alias="vpcCidr",
        description=(
            "IPv4 range of the VPC: an RFC 1918 private network between /16 and /20. "
            "Changing it replaces the VPC and everything in it."
        ),
    )
    availability_zone_count: int = Field(
        alias="availabilityZoneCount",
        ge=2,
        le=3,
        description=(
            "Availability zones to spread subnets over (EKS needs at least 2). "
            "Changing it replaces subnets."
        ),
    )
    nat_gateway_strategy: Literal["single", "per_az"] = Field(
        alias="natGatewayStrategy",
        description=(
            "`single`: one NAT gateway shared by every private subnet (cheaper, one AZ "
            "failure cuts egress); `per_az`: one per availability zone."
        ),
    )
    flow_logs: bool = Field(
        False,
        alias="vpcFlowLogs",
        description="Send VPC flow logs (all traffic) to a KMS-encrypted CloudWatch log group.",
    )
    transit_gateway_id: str = Field(
        "",
        alias="transitGatewayId",
        description=(
            "Transit gateway (`tgw-...`) to attach the VPC to, in its private subnets, so the "
            "networks in `transitGatewayRoutes` (the operations VPN) reach the private API "
            "endpoint; empty: no attachment. The gateway must exist, be shared with the "
            "account (AWS RAM) and accept the attachment (auto-accept, or accept it once)."
        ),
    )
    transit_gateway_routes: list[str] = Field(
        default_factory=list,
        alias="transitGatewayRoutes",
        description=(
            "Networks routed through `transitGatewayId` from every subnet of the VPC (each a "
            "separate route, so routes added by others are never removed)."
        ),
    )

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr_is_private_and_roomy(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"must be an IPv4 network address in CIDR form such as '10.20.0.0/16' ({exc})"
            ) from None
        if not any(network.subnet_of(r) for r in _PRIVATE_RANGES):
            raise ValueError(
                "must be inside a private range: 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
            )
        if not 16 <= network.prefixlen <= 20:
            raise ValueError(
                "prefix must be between /16 and /20: AWS allows no VPC larger than /16, and "
                "below /20 the private subnets leave too few pod IPs for the VPC CNI"
            )
        return value

    @field_validator("transit_gateway_id")
    @classmethod
    def _transit_gateway_id(cls, value: str) -> str:
        if value and not re.fullmatch(r"tgw-[0-9a-f]{8}([0-9a-f]{9})?", value):
            raise ValueError("must be a transit gateway id such as 'tgw-0123456789abcdef0'")
        return value

    @field_validator("transit_gateway_routes")
    @classmethod
    def _routes(cls, value: list[str]) -> list[str]:
        return _check_cidrs(
            value,
            whole_internet="is the internet route, which goes through NAT; list the "
            "operator networks instead",
        )

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.transit_gateway_routes and not self.transit_gateway_id:
            problems.append(
                Problem(
                    _key("transitGatewayRoutes"),
                    self.transit_gateway_routes,
                    "routes need transitGatewayId: set the gateway or remove the routes",
                )
            )
        if self.transit_gateway_id and not self.transit_gateway_routes:
            problems.append(
                Problem(
                    _key("transitGatewayId"),
                    self.transit_gateway_id,
                    "an attachment with no transitGatewayRoutes carries no traffic; list the "
                    "networks to route through it",
                )
            )
        vpc = ipaddress.ip_network(self.vpc_cidr)
        inside = [r for r in self.transit_gateway_routes if ipaddress.ip_network(r).overlaps(vpc)]
        if inside:
            problems.append(
                Problem(
                    _key("transitGatewayRoutes"),
                    inside,
                    f"overlap the VPC's own range {self.vpc_cidr}; traffic to them never "
                    "leaves the VPC",
                )
            )
        return problems


class ClusterSpec(Section):
    """The EKS control plane, its managed node group and who may use it."""

    title: ClassVar[str] = "Cluster"

    kubernetes_version: str = Field(
        alias="kubernetesVersion",
        description="EKS Kubernetes version; upgrades happen in place, one minor version a time.",
    )
    endpoint_public: bool = Field(
        False,
        alias="clusterEndpointPublic",
        description=(
            "Also expose the API endpoint publicly (the private endpoint is always on); "
            "requires `clusterPublicAccessCidrs`."
        ),
    )
    public_access_cidrs: list[str] = Field(
        default_factory=list,
        alias="clusterPublicAccessCidrs",
        description="CIDRs allowed to reach a public API endpoint; never 0.0.0.0/0.",
    )
    private_access_cidrs: list[str] = Field(
        default_factory=list,
        alias="clusterPrivateAccessCidrs",
        description=(
            "Networks reaching the private API endpoint over VPN, peering or a transit "
            "gateway (for example the deploy runners); each gets HTTPS into the cluster "
            "security group. Inside the VPC needs no entry."
        ),
    )
    node_instance_type: str = Field(
        alias="nodeInstanceType",
        description="EC2 instance type of the managed node group. Changing it rolls the nodes.",
    )
    node_min_size: int = Field(
        alias="nodeMinSize", ge=0, le=450, description="Fewest nodes the autoscaler may scale to."
    )
    node_max_size: int = Field(
        alias="nodeMaxSize",
        ge=1,
        le=450,
        description="Most nodes the autoscaler may scale to (the ceiling of the bill).",
    )
    node_desired_size: int = Field(
        alias="nodeDesiredSize",
        ge=0,
        le=450,
        description=(
            "Nodes at creation. Later changes are ignored so `pulumi up` never fights the "
            "cluster autoscaler."
        ),
    )
    spot_instance_types: list[str] = Field(
        default_factory=list,
        alias="spotInstanceTypes",
        description=(
            "A second, Spot node group for interruptible workloads: at least two instance "
            "types of the same vCPUs and memory (the autoscaler sizes the group by the "
            "first), so one sold-out type does not stop it. Its nodes carry the taint "
            "`stagecraft.io/capacity=spot:NoSchedule` and the label "
            "`stagecraft.io/node-group: spot`; only pods that tolerate and select them run "
            "there. Empty: no Spot group. A change of types replaces the group."
        ),
    )
    spot_min_size: int = Field(
        0, alias="spotMinSize", ge=0, le=450, description="Fewest Spot nodes (0: none when idle)."
    )
    spot_max_size: int = Field(
        0,
        alias="spotMaxSize",
        ge=0,
        le=450,
        description="Most Spot nodes the autoscaler may start (at least 1 with spotInstanceTypes).",
    )
    spot_desired_size: int = Field(
        0,
        alias="spotDesiredSize",
        ge=0,
        le=450,
        description="Spot nodes at creation; later changes are left to the autoscaler.",
    )
    node_disk_size_gb: int = Field(
        50,
        alias="nodeDiskSizeGb",
        ge=20,
        le=16384,
        description="Root EBS volume per node, GiB. Changing it rolls the nodes.",
    )
    admin_role_arns: list[str] = Field(
        default_factory=list,
        alias="clusterAdminRoleArns",
        description="IAM roles mapped to cluster-admin through EKS access entries.",
    )
    developer_role_arns: list[str] = Field(
        default_factory=list,
        alias="clusterDeveloperRoleArns",
        description="IAM roles mapped to the developer access level through EKS access entries.",
    )
    read_only_role_arns: list[str] = Field(
        default_factory=list,
        alias="clusterReadOnlyRoleArns",
        description=(
            "IAM roles that may read the cluster and nothing more (AmazonEKSViewPolicy, "
            "cluster-wide; no Secrets): the pull-request preview role of the bootstrap, "
            "auditors."
        ),
    )
    small_stack_deployer_role_arns: list[str] = Field(
        default_factory=list,
        alias="clusterSmallStackDeployerRoleArns",
        description=(
            "IAM roles that deploy the pr-<n> (on staging) or dev-<name> (on dev) stacks "
            "this cluster hosts (the bootstrap's preview-environment role): admin inside "
            "namespaces named like those stacks, and they may create and delete only such "
            "namespaces (a ValidatingAdmissionPolicy refuses any other)."
        ),
    )
    developer_access: Literal["edit", "view"] = Field(
        "view",
        alias="clusterDeveloperAccess",
        description=(
            "What developer roles may do: `view` (read-only, cluster-wide) or `edit` (also "
            "change objects, in this environment's namespaces only: never the cluster, "
            "kube-system or the database-admin namespaces)."
        ),
    )
    control_plane_log_types: list[ControlPlaneLogType] = Field(
        default_factory=lambda: list(DEFAULT_CONTROL_PLANE_LOG_TYPES),
        alias="clusterLogTypes",
        description=(
            "EKS control-plane logs sent to CloudWatch (kept `auditLogRetentionDays`); "
            "production needs all five."
        ),
    )

    @field_validator("kubernetes_version")
    @classmethod
    def _known_kubernetes_version(cls, value: str) -> str:
        if value not in KUBERNETES_VERSIONS:
            raise ValueError(
                f"must be an EKS version in standard or extended support: "
                f"{', '.join(KUBERNETES_VERSIONS)}"
            )
        return value

    @field_validator("node_instance_type")
    @classmethod
    def _known_node_type(cls, value: str) -> str:
        return _check_instance_type(value, "", NODE_INSTANCE_FAMILIES)

    @field_validator("spot_instance_types")
    @classmethod
    def _spot_types(cls, value: list[str]) -> list[str]:
        for instance_type in value:
            try:
                _check_instance_type(instance_type, "", NODE_INSTANCE_FAMILIES)
            except ValueError as exc:
                raise ValueError(f"'{instance_type}': {exc}") from None
        return _no_duplicates(value)

    @field_validator("public_access_cidrs", "private_access_cidrs")
    @classmethod
    def _cidrs_are_narrow(cls, value: list[str]) -> list[str]:
        return _check_cidrs(
            value,
            whole_internet="opens the API endpoint to the whole internet; list your office "
            "or VPN ranges instead",
        )

    @field_validator("control_plane_log_types")
    @classmethod
    def _no_duplicate_log_types(cls, value: list[str]) -> list[str]:
        return _no_duplicates(value)

    @field_validator(
        "admin_role_arns",
        "developer_role_arns",
        "read_only_role_arns",
        "small_stack_deployer_role_arns",
    )
    @classmethod
    def _role_arns(cls, value: list[str]) -> list[str]:
        _no_duplicates(value)
        for arn in value:
            if not _ROLE_ARN.fullmatch(arn):
                raise ValueError(
                    f"'{arn}' is not an IAM role ARN such as "
                    "'arn:aws:iam::123456789012:role/platform-admin'"
                )
        return value

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        if self.node_min_size > self.node_max_size:
            problems.append(
                Problem(
                    _key("nodeMinSize"),
                    self.node_min_size,
                    f"must not exceed nodeMaxSize ({self.node_max_size})",
                )
            )
        elif not self.node_min_size <= self.node_desired_size <= self.node_max_size:
            problems.append(
                Problem(
                    _key("nodeDesiredSize"),
                    self.node_desired_size,
                    f"must lie between nodeMinSize ({self.node_min_size}) and "
                    f"nodeMaxSize ({self.node_max_size})",
                )
            )
        problems += self._spot_problems()
        if self.endpoint_public and not self.public_access_cidrs:
            problems.append(
                Problem(
                    _key("clusterPublicAccessCidrs"),
                    [],
                    "must list the CIDRs allowed to reach the API when clusterEndpointPublic "
                    "is true (EKS reads an empty list as 0.0.0.0/0)",
                )
            )
        if not self.endpoint_public and self.public_access_cidrs:
            problems.append(
                Problem(
                    _key("clusterPublicAccessCidrs"),
                    self.public_access_cidrs,
                    "has no effect while clusterEndpointPublic is false; remove it or turn "
                    "the public endpoint on",
                )
            )
        # One access entry per role: a role holds one access level.
        levels = (
            ("clusterAdminRoleArns", self.admin_role_arns),
            ("clusterDeveloperRoleArns", self.developer_role_arns),
            ("clusterReadOnlyRoleArns", self.read_only_role_arns),
            ("clusterSmallStackDeployerRoleArns", self.small_stack_deployer_role_arns),
        )
        for index, (key, roles) in enumerate(levels):
            for earlier_key, earlier in levels[:index]:
                both = sorted(set(roles) & set(earlier))
                if both:
                    problems.append(
                        Problem(
                            _key(key),
                            both,
                            f"also listed in {earlier_key}; a role has one access level "
                            "(one EKS access entry)",
                        )
                    )
        return problems

    def _spot_problems(self) -> list[Problem]:
        types = self.spot_instance_types
        if not types:
            return [
                Problem(_key(_alias_of(ClusterSpec, name)), getattr(self, name),
                        "sizes the Spot node group, which needs stagecraft:spotInstanceTypes; "
                        "set them or remove it")
                for name in sorted(self.changed_keys() & {
                    "spot_min_size", "spot_max_size", "spot_desired_size"})
            ]  # fmt: skip
        problems: list[Problem] = []
        if len(types) < 2:
            problems.append(Problem(
                _key("spotInstanceTypes"), types,
                "must list at least two instance types of the same vCPUs and memory: Spot "
                "capacity of one type runs out, several rarely do at once"))  # fmt: skip
        shapes = {t: instance_shape(t) for t in types}
        if len(set(shapes.values())) > 1:
            listed = ", ".join(f"{t} ({c:g} vCPU, {m:g} GiB)" for t, (c, m) in shapes.items())
            problems.append(Problem(
                _key("spotInstanceTypes"), types,
                f"must share one size, vCPUs and memory (the Cluster Autoscaler plans with "
                f"the first type's): {listed}"))  # fmt: skip
        if len({architecture_of(t) for t in types}) > 1:
            problems.append(Problem(
                _key("spotInstanceTypes"), types,
                "must all be x86_64 or all arm64 (Graviton): a node group runs one "
                "AMI"))  # fmt: skip
        if self.spot_max_size < 1:
            problems.append(Problem(
                _key("spotMaxSize"), self.spot_max_size,
                "must be at least 1 when spotInstanceTypes are set"))  # fmt: skip
        elif self.spot_min_size > self.spot_max_size:
            problems.append(Problem(
                _key("spotMinSize"), self.spot_min_size,
                f"must not exceed spotMaxSize ({self.spot_max_size})"))  # fmt: skip
        elif not self.spot_min_size <= self.spot_desired_size <= self.spot_max_size:
            problems.append(Problem(
                _key("spotDesiredSize"), self.spot_desired_size,
                f"must lie between spotMinSize ({self.spot_min_size}) and spotMaxSize "
                f"({self.spot_max_size})"))  # fmt: skip
        return problems

    @property
    def node_architecture(self) -> Literal["x86_64", "arm64"]:
        return architecture_of(self.node_instance_type)

    @property
    def spot_architecture(self) -> Literal["x86_64", "arm64"]:
        return architecture_of(self.spot_instance_types[0])


def architecture_of(instance_type: str) -> Literal["x86_64", "arm64"]:
    family = instance_type.split(".", maxsplit=1)[0]
    return "arm64" if ARM64_FAMILY.fullmatch(family) else "x86_64"


class DatabaseSpec(Section):
    """RDS PostgreSQL: size, availability, backups, protection and insight."""

    title: ClassVar[str] = "Database"

    engine_version: str = Field(
        alias="dbEngineVersion",
        description=(
            "PostgreSQL version, `MAJOR` or `MAJOR.MINOR`. Minor upgrades apply in the "
            "maintenance window; a major upgrade needs a new parameter group family."
        ),
    )
    instance_class: str = Field(
        alias="dbInstanceClass",
        description=(
            "RDS instance class (`db.<family>.<size>`); a change restarts the instance in the "
            "maintenance window."
        ),
    )
    allocated_storage_gb: int = Field(
        alias="dbAllocatedStorageGb",
        ge=RDS_GP3_MIN_GB,
        le=RDS_GP3_MAX_GB,
        description="Initial gp3 storage in GiB (RDS allows 20 to 65536 for PostgreSQL).",
    )
    max_allocated_storage_gb: int = Field(
        alias="dbMaxAllocatedStorageGb",
        ge=RDS_GP3_MIN_GB,
        le=RDS_GP3_MAX_GB,
        description=(
            "Ceiling for storage autoscaling, GiB; at least 10% above `dbAllocatedStorageGb`."
        ),
    )
    multi_az: bool = Field(
        alias="dbMultiAz", description="Run a synchronous standby in a second availability zone."
    )
    backup_retention_days: int = Field(
        alias="dbBackupRetentionDays",
        ge=0,
        le=35,
        description="Days of automated backups and point-in-time recovery (0 turns backups off).",
    )
    backup_window: str = Field(
        "03:00-04:00",
        alias="dbBackupWindow",
        description="Daily backup window, UTC, `hh:mm-hh:mm`, at least 30 minutes.",
    )
    maintenance_window: str = Field(
        "sun:04:30-sun:05:30",
        alias="dbMaintenanceWindow",
        description="Weekly maintenance window, UTC, `ddd:hh:mm-ddd:hh:mm`.",
    )
    deletion_protection: bool = Field(
        False,
        alias="dbDeletionProtection",
        description="RDS refuses to delete the instance until this is turned off.",
    )
    final_snapshot: bool = Field(
        True,
        alias="dbFinalSnapshot",
        description="Take a final snapshot, named after the stack, when the instance is deleted.",
    )
    read_replicas: int = Field(
        0,
        alias="dbReadReplicas",
        ge=0,
        le=5,
        description="Read replicas of the primary (RDS allows up to 5 per source).",
    )
    performance_insights: bool = Field(
        False,
        alias="dbPerformanceInsights",
        description="Performance Insights, encrypted with the environment's KMS key, 7 days.",
    )
    monitoring_interval_seconds: MonitoringInterval = Field(
        0,
        alias="dbMonitoringIntervalSeconds",
        description="Enhanced monitoring granularity in seconds; 0 turns it off.",
    )
    iam_authentication: bool = Field(
        True,
        alias="dbIamAuthentication",
        description="Let IAM principals log in with short-lived tokens instead of passwords.",
    )
    database_name: str = Field(
        "app", alias="dbName", description="Database created in the instance for the application."
    )
    reset_schedule: str = Field(
        "",
        alias="dbResetSchedule",
        description=(
            "Cron schedule (UTC) of a Kubernetes CronJob that empties the application "
            "database and reloads the seed data, e.g. `0 4 * * *` for a sandbox; empty: never."
        ),
    )
    apply_immediately: bool = Field(
        False,
        alias="dbApplyImmediately",
        description=(
            "Apply instance changes (class, engine version, parameter group) during `pulumi "
            "up` instead of the next maintenance window. A major version upgrade needs it "
            "(`stagecraft diff` refuses one without): RDS only accepts the new parameter "
            "group family together with the new engine."
        ),
    )
    master_username: str = Field(
        "stagecraft_admin",
        alias="dbMasterUsername",
        description=(
            "Master user name (not `postgres`, which every attacker tries first); its "
            "password is generated by the program (pulumi-random, 40 characters) and kept "
            "in the environment's `database-master` secret under its KMS key."
        ),
    )
    restore_time: str = Field(
        "",
        alias="dbRestoreTime",
        description=(
            "Point-in-time restore: the instant (RFC 3339 UTC, `2026-12-01T09:30:00Z`) or "
            "`latest` the primary is restored to, as a NEW instance "
            "`<project>-<stack>-<dbRestoreName>` built from dbRestoreSourceIdentifier's "
            "automated backups; empty: no restore. Set with `stagecraft restore` and kept "
            "while the restored instance lives (removing it would replace the database with "
            "an empty one). Whether the time lies within the source's backup retention only "
            "AWS knows: `pulumi up` fails if not (README 'Restoring a database to a point "
            "in time')."
        ),
    )
    restore_source_identifier: str = Field(
        "",
        alias="dbRestoreSourceIdentifier",
        description=(
            "RDS identifier of the instance whose backups the restore reads, one of this "
            "environment's own (`<project>-<stack>` or `<project>-<stack>-<name>`: another "
            "environment's data is never restored here); empty: the original primary. "
            "`stagecraft restore` writes the instance running at the time."
        ),
    )
    restore_name: str = Field(
        "",
        alias="dbRestoreName",
        description=(
            "Suffix of the restored primary's identifier (`<project>-<stack>-<name>`; its "
            "replicas, alarms and log groups follow), up to 20 lowercase letters, digits and "
            "hyphens; set together with dbRestoreTime, a new one for each restore."
        ),
    )

    @field_validator("engine_version")
    @classmethod
    def _postgres_version(cls, value: str) -> str:
        match = re.fullmatch(r"(\d+)(\.\d+)?", value)
        majors = ", ".join(str(m) for m in POSTGRES_MAJOR_VERSIONS)
        if not match:
            raise ValueError(f"must be 'MAJOR' or 'MAJOR.MINOR', e.g. '16.4'; majors: {majors}")
        if int(match.group(1)) not in POSTGRES_MAJOR_VERSIONS:
            raise ValueError(f"major version must be one RDS still supports: {majors}")
        return value

    @field_validator("instance_class")
    @classmethod
    def _known_db_class(cls, value: str) -> str:
        return _check_instance_type(value, "db.", DB_INSTANCE_FAMILIES)

    @field_validator("backup_window")
    @classmethod
    def _daily_window(cls, value: str) -> str:
        if not _DAILY_WINDOW.fullmatch(value):
            raise ValueError("must be 'hh:mm-hh:mm' in UTC, e.g. '03:00-04:00'")
        start, end = (_minutes(part) for part in value.split("-"))
        if (end - start) % (24 * 60) < 30:
            raise ValueError("must last at least 30 minutes (RDS rule)")
        return value

    @field_validator("maintenance_window")
    @classmethod
    def _weekly_window(cls, value: str) -> str:
        if not _WEEKLY_WINDOW.fullmatch(value):
            raise ValueError("must be 'ddd:hh:mm-ddd:hh:mm' in UTC, e.g. 'sun:04:30-sun:05:30'")
        return value

    @field_validator("reset_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value and not _CRON.fullmatch(value.strip()):
            raise ValueError(
                "must be a five-field cron schedule such as '0 4 * * *' (minute hour "
                "day-of-month month day-of-week), or empty"
            )
        return value.strip()

    @field_validator("restore_source_identifier")
    @classmethod
    def _rds_identifier(cls, value: str) -> str:
        if value and (problem := rds_identifier_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("restore_name")
    @classmethod
    def _restore_name(cls, value: str) -> str:
        if value and (problem := restore_name_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("database_name", "master_username")
    @classmethod
    def _pg_identifier(cls, value: str) -> str:
        if not _PG_IDENTIFIER.fullmatch(value):
            raise ValueError(
                "must start with a lowercase letter and hold only lowercase letters, digits "
                "and underscores (at most 63)"
            )
        if value in {"postgres", "admin", "rdsadmin", "template0", "template1", "root"}:
            raise ValueError(f"'{value}' is reserved or a well-known default; choose another")
        return value

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        maintenance = _weekly_interval(self.maintenance_window)
        if (maintenance[1] - maintenance[0]) % _MINUTES_PER_WEEK < 30:
            problems.append(
                Problem(
                    _key("dbMaintenanceWindow"),
                    self.maintenance_window,
                    "must last at least 30 minutes (RDS rule)",
                )
            )
        elif _overlaps_daily(maintenance, self.backup_window):
            problems.append(
                Problem(
                    _key("dbMaintenanceWindow"),
                    self.maintenance_window,
                    f"must not overlap dbBackupWindow ({self.backup_window}) on any day (RDS rule)",
                )
            )
        minimum_ceiling = -(-self.allocated_storage_gb * 11 // 10)  # ceil(allocated * 1.1)
        if self.max_allocated_storage_gb < minimum_ceiling:
            problems.append(
                Problem(
                    _key("dbMaxAllocatedStorageGb"),
                    self.max_allocated_storage_gb,
                    f"must be at least 10% above dbAllocatedStorageGb "
                    f"({self.allocated_storage_gb}), i.e. >= {minimum_ceiling}, for RDS "
                    "storage autoscaling",
                )
            )
        if self.read_replicas > 0 and self.backup_retention_days == 0:
            problems.append(
                Problem(
                    _key("dbReadReplicas"),
                    self.read_replicas,
                    "needs dbBackupRetentionDays of at least 1: RDS builds replicas from backups",
                )
            )
        return problems + self._restore_problems()

    def _restore_problems(self) -> list[Problem]:
        """A restore names its time and its new instance together (infra/restore.py)."""
        if self.restore_time and (problem := restore_time_problem(self.restore_time, _now())):
            return [Problem(_key("dbRestoreTime"), self.restore_time, problem)]
        if bool(self.restore_time) != bool(self.restore_name):
            missing, given = (
                ("dbRestoreName", "dbRestoreTime")
                if self.restore_time
                else ("dbRestoreTime", "dbRestoreName")
            )
            value = self.restore_time or self.restore_name
            return [
                Problem(
                    _key(given),
                    value,
                    f"a point-in-time restore needs both dbRestoreTime and dbRestoreName; set "
                    f"{missing} too (`stagecraft restore` writes both), or remove it",
                )
            ]
        if self.restore_source_identifier and not self.restore_time:
            return [
                Problem(
                    _key("dbRestoreSourceIdentifier"),
                    self.restore_source_identifier,
                    "is only read by a restore: set dbRestoreTime and dbRestoreName too, or "
                    "remove it",
                )
            ]
        return []

    @property
    def restoring(self) -> bool:
        """The primary is (to be) built by a point-in-time restore."""
        return bool(self.restore_time)

    @property
    def major_version(self) -> int:
        return int(self.engine_version.split(".")[0])


class CacheSpec(Section):
    """ElastiCache Redis: node type, replicas, eviction and snapshots."""

    title: ClassVar[str] = "Cache"

    node_type: str = Field(
        alias="cacheNodeType",
        description=(
            "ElastiCache node type (`cache.<family>.<size>`); a change resizes the nodes online."
        ),
    )
    node_count: int = Field(
        alias="cacheNodeCount",
        ge=1,
        le=6,
        description=(
            "Nodes in the replication group: 1 primary plus replicas. Two or more turn on "
            "automatic failover and Multi-AZ."
        ),
    )
    engine_version: Literal["6.2", "7.0", "7.1"] = Field(
        "7.1",
        alias="cacheEngineVersion",
        description="Redis OSS engine version; picks the parameter group family.",
    )
    maxmemory_policy: MaxmemoryPolicy = Field(
        "volatile-lru",
        alias="cacheMaxmemoryPolicy",
        description="Which keys Redis evicts when memory is full (`maxmemory-policy`).",
    )
    snapshot_retention_days: int = Field(
        1,
        alias="cacheSnapshotRetentionDays",
        ge=0,
        le=35,
        description="Days of daily snapshots kept; 0 turns snapshots off.",
    )
    apply_immediately: bool = Field(
        False,
        alias="cacheApplyImmediately",
        description=(
            "Apply cache changes (node type, engine version, parameter group) during `pulumi "
            "up` instead of the maintenance window; an upgrade to a new parameter group "
            "family (6.2 to 7.x) needs it."
        ),
    )

    @field_validator("node_type")
    @classmethod
    def _known_cache_type(cls, value: str) -> str:
        return _check_instance_type(value, "cache.", CACHE_NODE_FAMILIES)

    @property
    def parameter_group_family(self) -> str:
        return REDIS_ENGINE_FAMILIES[self.engine_version]

    @property
    def replicated(self) -> bool:
        return self.node_count > 1


class WorkloadsSpec(Section):
    """The environment's namespace: feature flags, quota, defaults, network policy."""

    title: ClassVar[str] = "Workloads"

    namespace: str = Field(
        alias="namespace",
        description="Kubernetes namespace of the environment's applications.",
    )
    feature_flags: list[FeatureFlag] = Field(
        default_factory=list,
        alias="featureFlags",
        description=(
            "Application features switched on in this environment; every flag is written to "
            "the `feature-flags` ConfigMap as true or false."
        ),
    )
    app_log_level: Literal["debug", "info", "warn", "error"] = Field(
        "info",
        alias="appLogLevel",
        description="LOG_LEVEL handed to the applications in the `feature-flags` ConfigMap.",
    )
    ingress_namespace: str = Field(
        "ingress-nginx",
        alias="ingressNamespace",
        description=(
            "Namespace of an in-cluster ingress controller (proxy pods) allowed through the "
            "default-deny policy; the ALB's own traffic comes from its subnets and is let in "
            "by the `allow-load-balancer` policy."
        ),
    )
    quota_cpu_requests: str = Field(
        "4",
        alias="quotaCpuRequests",
        description="ResourceQuota: CPU requests of all pods together.",
    )
    quota_memory_requests: str = Field(
        "8Gi",
        alias="quotaMemoryRequests",
        description="ResourceQuota: memory requests of all pods together.",
    )
    quota_cpu_limits: str = Field(
        "8", alias="quotaCpuLimits", description="ResourceQuota: CPU limits of all pods together."
    )
    quota_memory_limits: str = Field(
        "16Gi",
        alias="quotaMemoryLimits",
        description="ResourceQuota: memory limits of all pods together.",
    )
    quota_pods: int = Field(
        50,
        alias="quotaPods",
        ge=1,
        le=10000,
        description="ResourceQuota: most pods the namespace may run at once.",
    )
    container_cpu_request: str = Field(
        "100m",
        alias="containerDefaultCpuRequest",
        description="LimitRange: CPU request of a container that sets none.",
    )
    container_memory_request: str = Field(
        "128Mi",
        alias="containerDefaultMemoryRequest",
        description="LimitRange: memory request of a container that sets none.",
    )
    container_cpu_limit: str = Field(
        "500m",
        alias="containerDefaultCpuLimit",
        description="LimitRange: CPU limit of a container that sets none.",
    )
    container_memory_limit: str = Field(
        "512Mi",
        alias="containerDefaultMemoryLimit",
        description="LimitRange: memory limit of a container that sets none.",
    )

    @field_validator("namespace", "ingress_namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
            raise ValueError(
                "must be a DNS label: lowercase letters, digits and '-', at most 63 characters"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _not_a_system_namespace(cls, value: str) -> str:
        if value in {"default", "kube-system", "kube-public", "kube-node-lease"}:
            raise ValueError(f"'{value}' belongs to Kubernetes itself; choose the env's own name")
        return value

    @field_validator(
        "quota_cpu_requests", "quota_cpu_limits", "container_cpu_request", "container_cpu_limit"
    )
    @classmethod
    def _cpu_quantity(cls, value: str) -> str:
        return _check_quantity(value, "cpu")

    @field_validator(
        "quota_memory_requests",
        "quota_memory_limits",
        "container_memory_request",
        "container_memory_limit",
    )
    @classmethod
    def _memory_quantity(cls, value: str) -> str:
        return _check_quantity(value, "memory")

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        for request_field, limit_field in (
            ("container_cpu_request", "container_cpu_limit"),
            ("container_memory_request", "container_memory_limit"),
            ("quota_cpu_requests", "quota_cpu_limits"),
            ("quota_memory_requests", "quota_memory_limits"),
        ):
            request, limit = getattr(self, request_field), getattr(self, limit_field)
            if parse_quantity(request) > parse_quantity(limit):
                problems.append(
                    Problem(
                        _key(_alias_of(WorkloadsSpec, request_field)),
                        request,
                        f"must not exceed {_alias_of(WorkloadsSpec, limit_field)} ({limit})",
                    )
                )
        if self.namespace == self.ingress_namespace:
            problems.append(
                Problem(
                    _key("ingressNamespace"),
                    self.ingress_namespace,
                    "must differ from the application namespace",
                )
            )
        return problems

    @field_validator("feature_flags")
    @classmethod
    def _no_duplicate_flags(cls, value: list[str]) -> list[str]:
        return _no_duplicates(value)


# ALB listener policies that negotiate TLS 1.2 or newer only, AWS's current
# recommendation first (post-quantum key exchange, TLS 1.3 and 1.2). Older
# policies (ELBSecurityPolicy-2016-08, the API's and the controller's default)
# still accept TLS 1.0/1.1: Security Hub ELB.17, Checkov CKV_AWS_103.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
ALB_TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
)
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOSTED_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
_DURATION = re.compile(r"(?:\d+h)?(?:\d+m)?(?:\d+s)?")
# The longest hostname a small stack gets under its parent's domain
# (`dev-<29 characters>.`, `pr-999999.`): the domain must leave room for it.
LONGEST_SMALL_STACK_LABEL = len("dev-") + 29 + 1


def check_domain(value: str) -> str:
    """A DNS name stagecraft can make a public hosted zone and a wildcard certificate for."""
    if value != value.lower() or value.endswith(".") or value.startswith("*"):
        raise ValueError(
            "must be a lowercase DNS name without a trailing dot or wildcard, such as "
            "'staging.example.com'"
        )
    labels = value.split(".")
    if len(labels) < 2 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            "must be a DNS name of two or more labels (letters, digits and hyphens, 1-63 "
            "characters each, no hyphen at either end), such as 'staging.example.com'"
        )
    if labels[-1].isdigit():
        raise ValueError("must end in a top-level domain, not a number")
    # ACM takes names of at most 253 characters; the small stacks' hostnames
    # (`pr-42.<domain>`) are the longest names the zone holds.
    limit = 253 - LONGEST_SMALL_STACK_LABEL
    if len(value) > limit:
        raise ValueError(
            f"is {len(value)} characters; at most {limit}, so that every pr-<n> and "
            "dev-<name> hostname under it stays within DNS's 253"
        )
    return value


class AddonsSpec(Section):
    """What runs in the cluster beside the applications, and how they are reached."""

    title: ClassVar[str] = "Add-ons, DNS and TLS"

    domain: str = Field(
        "",
        alias="domain",
        description=(
            "DNS name of the environment (`staging.example.com`): a public Route 53 hosted "
            "zone of that name, a DNS-validated ACM certificate for it and `*.<domain>`, "
            "and the hostname of the application (the apex) and of each pr-<n>/dev-<name> "
            "stack on this cluster (`pr-42.<domain>`). Required by the load balancer "
            "controller and external-dns. A change replaces the zone and the certificate."
        ),
    )
    parent_zone_id: str = Field(
        "",
        alias="parentZoneId",
        description=(
            "Route 53 hosted zone id (`Z...`) of the parent domain, in this account: the "
            "environment's zone is delegated from it (an NS record). Empty: delegate by hand "
            "with the `nameServers` output (README 'DNS delegation')."
        ),
    )
    cluster_autoscaler: bool = Field(
        True,
        alias="clusterAutoscaler",
        description=(
            "Run the Cluster Autoscaler, which moves the node group between nodeMinSize and "
            "nodeMaxSize (auto-discovery by the node group's tags; an IRSA role that may "
            "resize only this cluster's Auto Scaling groups)."
        ),
    )
    autoscaler_scale_down_unneeded_time: str = Field(
        "10m",
        alias="autoscalerScaleDownUnneededTime",
        description=(
            "How long a node must be unneeded before the autoscaler removes it "
            "(`--scale-down-unneeded-time`, a duration such as `10m` or `1h30m`)."
        ),
    )
    autoscaler_scale_down_delay_after_add: str = Field(
        "10m",
        alias="autoscalerScaleDownDelayAfterAdd",
        description=(
            "How long after a scale-up before scale-down is considered again "
            "(`--scale-down-delay-after-add`)."
        ),
    )
    autoscaler_scale_down_utilization_percent: int = Field(
        50,
        alias="autoscalerScaleDownUtilizationPercent",
        ge=1,
        le=99,
        description=(
            "A node whose pods request less than this percentage of its CPU and memory is "
            "a candidate for removal (`--scale-down-utilization-threshold`, as a fraction)."
        ),
    )
    metrics_server: bool = Field(
        True,
        alias="metricsServer",
        description="Run metrics-server, so HorizontalPodAutoscalers and `kubectl top` work.",
    )
    load_balancer_controller: bool = Field(
        True,
        alias="loadBalancerController",
        description=(
            "Run the AWS Load Balancer Controller and its IngressClass `alb`: every Ingress "
            "of the class joins one internet-facing ALB for the environment (its "
            "IngressGroup), HTTPS only with the zone's certificate; HTTP redirects."
        ),
    )
    ingress_tls_policy: str = Field(
        ALB_TLS_POLICIES[0],
        alias="ingressTlsPolicy",
        description=(
            "TLS policy of the ALB's HTTPS listener; only TLS 1.2+ policies are accepted "
            "(Security Hub ELB.17)."
        ),
    )
    ingress_deletion_protection: bool = Field(
        False,
        alias="ingressDeletionProtection",
        description=(
            "Turn on the ALB's deletion protection (Security Hub ELB.6). The controller "
            "still deletes the ALB when the last Ingress of the group goes."
        ),
    )
    external_dns: bool = Field(
        True,
        alias="externalDns",
        description=(
            "Run external-dns, which writes the Ingresses' hostnames into the environment's "
            "zone, and only there (an IRSA role limited to that zone, `--domain-filter`)."
        ),
    )
    external_dns_policy: Literal["sync", "upsert-only"] = Field(
        "sync",
        alias="externalDnsPolicy",
        description=(
            "`sync`: external-dns also deletes the records of Ingresses that are gone; "
            "`upsert-only`: it never deletes a record (production)."
        ),
    )
    addon_replicas: int = Field(
        1,
        alias="addonReplicas",
        ge=1,
        le=3,
        description=(
            "Replicas of the load balancer controller and metrics-server: 2 keeps ingress "
            "changes and HPAs working while a node drains."
        ),
    )

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        return check_domain(value) if value else value

    @field_validator("parent_zone_id")
    @classmethod
    def _valid_zone_id(cls, value: str) -> str:
        if value and not _HOSTED_ZONE_ID.fullmatch(value):
            raise ValueError(
                "must be a Route 53 hosted zone id such as 'Z0123456789ABCDEFGHIJ' (`aws "
                "route53 list-hosted-zones-by-name --dns-name <parent>`), without "
                "'/hostedzone/'"
            )
        return value

    @field_validator("autoscaler_scale_down_unneeded_time", "autoscaler_scale_down_delay_after_add")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        if not value or not _DURATION.fullmatch(value):
            raise ValueError("must be a duration such as '10m', '1h' or '1h30m'")
        return value

    @field_validator("ingress_tls_policy")
    @classmethod
    def _modern_tls(cls, value: str) -> str:
        if value not in ALB_TLS_POLICIES:
            raise ValueError(
                "must be an ALB policy that refuses TLS 1.0 and 1.1: " + ", ".join(ALB_TLS_POLICIES)
            )
        return value

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.domain:
            for alias, enabled, why in (
                ("loadBalancerController", self.load_balancer_controller,
                 "its ALB serves HTTPS with the domain's certificate"),
                ("externalDns", self.external_dns, "it writes records into the domain's zone"),
            ):  # fmt: skip
                if enabled:
                    problems.append(
                        Problem(
                            _key("domain"),
                            "",
                            f"is required while {alias} is true ({why}); set it, e.g. "
                            "'staging.example.com', or set "
                            f"{_key(alias)}: false",
                        )
                    )
        if self.parent_zone_id and not self.domain:
            problems.append(
                Problem(
                    _key("parentZoneId"),
                    self.parent_zone_id,
                    "delegates the environment's zone, so it needs stagecraft:domain",
                )
            )
        return problems


# What a `secure:` value is handed over as when nobody decrypted it (the offline
# plan and `stagecraft validate` have no key): present, but its form cannot be
# checked until `pulumi up` hands over the decrypted value.
UNDECRYPTED_SECRET = "(secure value: not decrypted offline)"
DOCUMENTATION_SECRET = documentation_values.DOCUMENTATION_SECRET


def _secret_field(alias: str, description: str) -> Any:
    """A key whose value is a secret: stored with `pulumi config set --secret`, never plain.

    Such keys are not declared in Pulumi.yaml: the CLI would write a declared
    default into every stack in plain text and then refuse it for not being
    encrypted, so a declared secret key could never be optional.
    """
    return Field(
        SecretStr(""), alias=alias, description=description, json_schema_extra={"secret": True}
    )


def is_secret_key(section: type[Section], field_name: str) -> bool:
    extra = section.model_fields[field_name].json_schema_extra
    return isinstance(extra, dict) and extra.get("secret") is True


def revealed(value: SecretStr) -> str:
    """The secret's text, for a `pulumi.Output.secret` (never for a message or a log)."""
    return value.get_secret_value()


# Helm/Prometheus-style retention limits the in-cluster tools accept; a day
# is the smallest unit stagecraft offers (Loki's retention needs whole 24 h
# index periods).
METRICS_RETENTION_DAYS = (1, 365)
LOGS_RETENTION_DAYS = (1, 365)
# Tempo's compactor keeps whole blocks; beyond a month a trace store is an archive.
TRACES_RETENTION_DAYS = (1, 30)
# Thanos's compactor downsamples to 5m after 40 h and 1h after 10 days: keeping
# less than 30 days in S3 would delete data before it is downsampled.
LONG_TERM_RETENTION_DAYS = (30, 3650)
# gp3 volumes: 1 GiB to 16 TiB; below 10 GiB a Prometheus or Loki WAL fills up.
VOLUME_GB = (10, 16384)

# Route 53 health checks report to CloudWatch in us-east-1 only.
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-check-status.html
HEALTH_CHECK_METRICS_REGION = "us-east-1"

AlertReceiverKind = Literal["slack", "pagerduty", "email"]

_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_SMARTHOST = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")
_SLACK_TEAM_ID = re.compile(r"^T[A-Z0-9]{6,}$")
_SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
_SLACK_CHANNEL = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
_PAGERDUTY_KEY = re.compile(r"^[A-Za-z0-9]{32}$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$")


class MonitoringSpec(Section):
    """The in-cluster monitoring stack: metrics, dashboards, logs and traces."""

    title: ClassVar[str] = "Monitoring"

    monitoring: bool = Field(
        True,
        alias="monitoring",
        description=(
            "Run the in-cluster monitoring stack: kube-prometheus-stack (Prometheus, "
            "Alertmanager, Grafana), Loki with Alloy shipping every pod's logs, and Tempo "
            "for traces, each keeping its data in the environment's own volumes and S3 "
            "buckets. false: none of it (development keeps console logs only), and the "
            "other keys of this section are refused (README 'Monitoring, alerting and the "
            "audit trail')."
        ),
    )
    metrics_retention_days: int = Field(
        15,
        alias="metricsRetentionDays",
        ge=METRICS_RETENTION_DAYS[0],
        le=METRICS_RETENTION_DAYS[1],
        description=(
            "Days Prometheus keeps metrics on its volume (`retention`); it also stops at 85% "
            "of metricsVolumeGb (`retentionSize`), whichever comes first."
        ),
    )
    metrics_volume_gb: int = Field(
        50,
        alias="metricsVolumeGb",
        ge=VOLUME_GB[0],
        le=VOLUME_GB[1],
        description=(
            "Size of Prometheus's gp3 volume. Rule of thumb: active series / scrape interval "
            "x 2 bytes x retention (100k series at 30 s for 30 days is about 17 GiB). Growing "
            "it is an online resize; shrinking it is refused by Kubernetes."
        ),
    )
    logs_retention_days: int = Field(
        7,
        alias="logsRetentionDays",
        ge=LOGS_RETENTION_DAYS[0],
        le=LOGS_RETENTION_DAYS[1],
        description=(
            "Days Loki keeps logs (its compactor deletes older chunks from the logs bucket; "
            "the bucket's lifecycle expires anything left two days later)."
        ),
    )
    logs_volume_gb: int = Field(
        10,
        alias="logsVolumeGb",
        ge=VOLUME_GB[0],
        le=VOLUME_GB[1],
        description="Size of Loki's gp3 volume (write-ahead log and compactor state; the logs "
        "themselves are in S3).",
    )
    traces_retention_days: int = Field(
        3,
        alias="tracesRetentionDays",
        ge=TRACES_RETENTION_DAYS[0],
        le=TRACES_RETENTION_DAYS[1],
        description="Days Tempo keeps traces (its compactor's `block_retention`; blocks are in "
        "the traces bucket, whose lifecycle expires anything left two days later).",
    )
    traces_volume_gb: int = Field(
        10,
        alias="tracesVolumeGb",
        ge=VOLUME_GB[0],
        le=VOLUME_GB[1],
        description="Size of Tempo's gp3 volume (write-ahead log; the traces themselves are "
        "in S3).",
    )
    long_term_metrics: bool = Field(
        False,
        alias="longTermMetrics",
        description=(
            "Also keep metrics in S3 beyond Prometheus's retention: a Thanos sidecar uploads "
            "every two-hour block to the metrics bucket, and Thanos (compactor, store "
            "gateway, query) downsamples, expires and serves them to Grafana."
        ),
    )
    long_term_metrics_retention_days: int = Field(
        395,
        alias="longTermMetricsRetentionDays",
        ge=LONG_TERM_RETENTION_DAYS[0],
        le=LONG_TERM_RETENTION_DAYS[1],
        description=(
            "Days the Thanos compactor keeps metrics in S3 at every resolution (raw, 5m, "
            "1h). The default keeps 13 months: this month against the same month last year."
        ),
    )

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        if not self.monitoring:
            for name in sorted(self.changed_keys() - {"monitoring"}):
                alias = _alias_of(type(self), name)
                problems.append(
                    Problem(
                        _key(alias),
                        getattr(self, name),
                        "is a setting of the in-cluster monitoring stack, which monitoring: "
                        "false turns off; remove it, or set stagecraft:monitoring: true",
                    )
                )
            return problems
        if not self.long_term_metrics and "long_term_metrics_retention_days" in (
            self.changed_keys()
        ):
            problems.append(
                Problem(
                    _key("longTermMetricsRetentionDays"),
                    self.long_term_metrics_retention_days,
                    "applies only to long-term metrics; set stagecraft:longTermMetrics: true "
                    "or remove it",
                )
            )
        if (
            self.long_term_metrics
            and self.long_term_metrics_retention_days < self.metrics_retention_days
        ):
            problems.append(
                Problem(
                    _key("longTermMetricsRetentionDays"),
                    self.long_term_metrics_retention_days,
                    f"must be at least metricsRetentionDays ({self.metrics_retention_days}): "
                    "long-term storage that keeps less than Prometheus itself adds nothing",
                )
            )
        return problems


class AlertingSpec(Section):
    """Who is told when something breaks, and the CloudWatch alarms that tell them."""

    title: ClassVar[str] = "Alerting"

    alert_receivers: list[AlertReceiverKind] = Field(
        default_factory=list,
        alias="alertReceivers",
        description=(
            "Where alerts go, by kind: `slack`, `pagerduty`, `email`. Each kind listed "
            "receives Alertmanager's alerts (the first one is the default route; critical "
            "alerts go to every one) and subscribes to the environment's SNS topic, which "
            "the CloudWatch alarms notify. Each kind needs its alert* keys below. Empty: no "
            "SNS topic and no CloudWatch alarms."
        ),
    )
    alert_slack_webhook_url: SecretStr = _secret_field(
        "alertSlackWebhookUrl",
        "Slack incoming-webhook URL Alertmanager posts to (https://hooks.slack.com/...). "
        "A secret: `pulumi config set --secret stagecraft:alertSlackWebhookUrl` (it prompts).",
    )
    alert_slack_channel: str = Field(
        "",
        alias="alertSlackChannel",
        description="The Slack channel the webhook posts to, e.g. `#alerts-staging`.",
    )
    alert_slack_team_id: str = Field(
        "",
        alias="alertSlackTeamId",
        description=(
            "Slack workspace id (`T...`) authorised once in the AWS Chatbot console; AWS "
            "Chatbot posts the SNS topic's CloudWatch alarms to alertSlackChannelId."
        ),
    )
    alert_slack_channel_id: str = Field(
        "",
        alias="alertSlackChannelId",
        description="Slack channel id (`C...`) AWS Chatbot posts the CloudWatch alarms to.",
    )
    alert_pagerduty_routing_key: SecretStr = _secret_field(
        "alertPagerdutyRoutingKey",
        "Integration key of the PagerDuty service's Events API v2 integration (32 "
        "characters), for Alertmanager. A secret (`pulumi config set --secret`).",
    )
    alert_pagerduty_cloudwatch_key: SecretStr = _secret_field(
        "alertPagerdutyCloudwatchKey",
        "Integration key of the same service's Amazon CloudWatch integration (32 "
        "characters): the SNS topic posts to https://events.pagerduty.com/integration/"
        "<key>/enqueue. A secret (`pulumi config set --secret`).",
    )
    alert_email_to: list[str] = Field(
        default_factory=list,
        alias="alertEmailTo",
        description=(
            "Addresses that receive alerts by email. Each gets an SNS subscription, which "
            "stays pending until its owner clicks the link AWS sends."
        ),
    )
    alert_email_from: str = Field(
        "", alias="alertEmailFrom", description="Sender address of Alertmanager's emails."
    )
    alert_email_smarthost: str = Field(
        "",
        alias="alertEmailSmarthost",
        description="SMTP server Alertmanager sends through, `host:port` (TLS required), e.g. "
        "`email-smtp.us-east-1.amazonaws.com:587` for SES.",
    )
    alert_email_smtp_username: str = Field(
        "", alias="alertEmailSmtpUsername", description="SMTP user name, if the server wants one."
    )
    alert_email_smtp_password: SecretStr = _secret_field(
        "alertEmailSmtpPassword",
        "SMTP password for alertEmailSmtpUsername. A secret (`pulumi config set --secret`).",
    )
    alarm_db_cpu_percent: int = Field(
        80,
        alias="alarmDbCpuPercent",
        ge=1,
        le=100,
        description="Alarm when the database's (or a replica's) CPU averages above this for "
        "15 minutes.",
    )
    alarm_db_free_storage_percent: int = Field(
        5,
        alias="alarmDbFreeStoragePercent",
        ge=1,
        le=9,
        description="Alarm when free storage falls below this share of dbAllocatedStorageGb. "
        "Storage autoscaling grows the volume at 10% free of its current size, so below 10 "
        "the alarm fires only when it has not kept up or has reached dbMaxAllocatedStorageGb.",
    )
    alarm_db_freeable_memory_percent: int = Field(
        10,
        alias="alarmDbFreeableMemoryPercent",
        ge=1,
        le=50,
        description="Alarm when freeable memory stays below this share of the instance "
        "class's memory for 15 minutes.",
    )
    alarm_db_connections_percent: int = Field(
        80,
        alias="alarmDbConnectionsPercent",
        ge=1,
        le=100,
        description="Alarm when connections exceed this share of PostgreSQL's default "
        "max_connections for the instance class (LEAST(memory/9531392, 5000)).",
    )
    alarm_db_replica_lag_seconds: int = Field(
        60,
        alias="alarmDbReplicaLagSeconds",
        ge=1,
        le=3600,
        description="Alarm when a read replica is this far behind for 5 minutes.",
    )
    alarm_cache_cpu_percent: int = Field(
        80,
        alias="alarmCacheCpuPercent",
        ge=1,
        le=100,
        description="Alarm when a cache node's Redis engine CPU averages above this for 15 "
        "minutes.",
    )
    alarm_cache_memory_percent: int = Field(
        80,
        alias="alarmCacheMemoryPercent",
        ge=1,
        le=100,
        description="Alarm when a cache node uses more than this share of its memory for 15 "
        "minutes.",
    )
    alarm_cache_evictions: int = Field(
        100,
        alias="alarmCacheEvictions",
        ge=0,
        description="Alarm when a cache node evicts more keys than this in each of three "
        "5-minute periods.",
    )
    alarm_cache_replication_lag_seconds: int = Field(
        30,
        alias="alarmCacheReplicationLagSeconds",
        ge=1,
        le=3600,
        description="Alarm when a cache replica is this far behind its primary for 5 minutes.",
    )
    health_check_path: str = Field(
        "",
        alias="healthCheckPath",
        description=(
            "Path of the application's public health endpoint (`/healthz`): a Route 53 "
            "HTTPS health check calls https://<domain><path> every 30 s from several "
            "regions, and an alarm notifies the receivers when it fails. Empty: no "
            "synthetic check (an environment reached over the VPN only cannot have one)."
        ),
    )

    @field_validator("alert_receivers")
    @classmethod
    def _distinct_receivers(cls, value: list[str]) -> list[str]:
        return _no_duplicates(value)

    @field_validator("alert_email_to")
    @classmethod
    def _email_addresses(cls, value: list[str]) -> list[str]:
        bad = [address for address in value if not _EMAIL.fullmatch(address)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not an email address such as oncall@example.com")
        return _no_duplicates(value)

    @field_validator("health_check_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if value and not _URL_PATH.fullmatch(value):
            raise ValueError("must be a URL path starting with '/', such as '/healthz'")
        return value

    # Receiver settings only Alertmanager (the in-cluster stack) reads: required
    # with monitoring on, refused with it off (StackConfig.cross_section_problems).
    ALERTMANAGER_ONLY: ClassVar[tuple[str, ...]] = (
        "alertSlackWebhookUrl",
        "alertSlackChannel",
        "alertPagerdutyRoutingKey",
        "alertEmailFrom",
        "alertEmailSmarthost",
        "alertEmailSmtpUsername",
        "alertEmailSmtpPassword",
    )

    def _receiver_settings(self) -> list[tuple[str, str, object, bool, Any, str]]:
        """(kind, key, value, required, form check, what the form is) of every receiver key."""
        return [
            ("slack", "alertSlackWebhookUrl", self.alert_slack_webhook_url, True,
             lambda v: v.startswith("https://"),
             "must be an https:// URL (a Slack incoming webhook, https://hooks.slack.com/...)"),
            ("slack", "alertSlackChannel", self.alert_slack_channel, True,
             _SLACK_CHANNEL.fullmatch, "must be a channel name such as '#alerts-staging'"),
            ("slack", "alertSlackTeamId", self.alert_slack_team_id, True,
             _SLACK_TEAM_ID.fullmatch, "must be a Slack workspace id such as 'T0123ABCD'"),
            ("slack", "alertSlackChannelId", self.alert_slack_channel_id, True,
             _SLACK_CHANNEL_ID.fullmatch, "must be a Slack channel id such as 'C0123ABCD'"),
            ("pagerduty", "alertPagerdutyRoutingKey", self.alert_pagerduty_routing_key, True,
             _PAGERDUTY_KEY.fullmatch, "must be a PagerDuty integration key (32 letters and "
             "digits)"),
            ("pagerduty", "alertPagerdutyCloudwatchKey", self.alert_pagerduty_cloudwatch_key,
             True, _PAGERDUTY_KEY.fullmatch, "must be a PagerDuty integration key (32 letters "
             "and digits)"),
            ("email", "alertEmailTo", self.alert_email_to, True, None, ""),
            ("email", "alertEmailFrom", self.alert_email_from, True, _EMAIL.fullmatch,
             "must be an email address such as alertmanager@example.com"),
            ("email", "alertEmailSmarthost", self.alert_email_smarthost, True,
             _SMARTHOST.fullmatch,
             "must be host:port, e.g. email-smtp.us-east-1.amazonaws.com:587"),
            ("email", "alertEmailSmtpUsername", self.alert_email_smtp_username, False, None, ""),
            ("email", "alertEmailSmtpPassword", self.alert_email_smtp_password, False, None, ""),
        ]  # fmt: skip

    def alertmanager_problems(self, monitoring: bool) -> list[Problem]:
        """Alertmanager's receiver settings: needed where it runs, refused where it does not."""
        problems: list[Problem] = []
        listed = set(self.alert_receivers)
        for kind, alias, value, required, _, _ in self._receiver_settings():
            if alias not in self.ALERTMANAGER_ONLY or kind not in listed:
                continue
            text = revealed(value) if isinstance(value, SecretStr) else value
            shown: object = "[secret]" if isinstance(value, SecretStr) else value
            if monitoring and required and not text:
                problems.append(
                    Problem(_key(alias), "", f"is required while alertReceivers lists {kind} "
                            "(Alertmanager, in the cluster, sends with it)")
                )  # fmt: skip
            elif not monitoring and text:
                problems.append(
                    Problem(_key(alias), shown, "is read by Alertmanager only, which "
                            "monitoring: false turns off (CloudWatch alarms reach "
                            f"{kind} through the SNS topic); remove it, or set "
                            "stagecraft:monitoring: true")
                )  # fmt: skip
        if (
            monitoring
            and "email" in listed
            and bool(self.alert_email_smtp_username)
            != bool(revealed(self.alert_email_smtp_password))
        ):
            problems.append(
                Problem(
                    _key("alertEmailSmtpPassword" if self.alert_email_smtp_username
                         else "alertEmailSmtpUsername"),
                    "",
                    "alertEmailSmtpUsername and alertEmailSmtpPassword go together: set both "
                    "or neither",
                )
            )  # fmt: skip
        return problems

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        listed = set(self.alert_receivers)
        settings = self._receiver_settings()
        for kind, alias, value, required, form, form_rule in settings:
            text = revealed(value) if isinstance(value, SecretStr) else value
            shown: object = "[secret]" if isinstance(value, SecretStr) else value
            if kind not in listed:
                if text:
                    problems.append(
                        Problem(
                            _key(alias),
                            shown,
                            f"is a {kind} receiver setting, but alertReceivers does not list "
                            f"{kind}; remove it, or add {kind} to stagecraft:alertReceivers",
                        )
                    )
                continue
            if not text:
                if required and alias not in self.ALERTMANAGER_ONLY:
                    problems.append(
                        Problem(_key(alias), "", f"is required while alertReceivers lists {kind}")
                    )
                continue
            checkable = isinstance(text, str) and text not in (
                UNDECRYPTED_SECRET,
                DOCUMENTATION_SECRET,
            )
            if form is not None and checkable and not form(text):
                problems.append(Problem(_key(alias), shown, form_rule))
        if not listed:
            for name in sorted(self.changed_keys()):
                alias = _alias_of(type(self), name)
                if alias.startswith("alarm") or alias == "healthCheckPath":
                    problems.append(
                        Problem(
                            _key(alias),
                            getattr(self, name),
                            "alarms and health checks need someone to notify; list a kind in "
                            "stagecraft:alertReceivers, or remove it",
                        )
                    )
        return problems


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKING_HOURS = re.compile(rf"^{_HHMM}-{_HHMM}$")
WORKING_WEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
# AWS Budgets: at most 10 e-mail subscribers per notification.
# https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-limits.html
BUDGET_MAX_EMAILS = 10


@cache
def iana_time_zones() -> frozenset[str]:
    """The IANA time zone names EventBridge Scheduler accepts (tzdata's, without aliases
    of the files' own layout)."""
    return frozenset(
        zone
        for zone in zoneinfo.available_timezones()
        if not zone.startswith(("posix/", "right/")) and zone not in {"Factory", "localtime"}
    )


def _iana_zone(value: str, examples: str) -> str:
    """``value`` if tzdata knows it, else one error with the closest name."""
    if value not in iana_time_zones():
        close = difflib.get_close_matches(value, sorted(iana_time_zones()), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"must be an IANA time zone name such as {examples}{hint}")
    return value


class CostControlsSpec(Section):
    """The AWS budget's notifications and the off-hours schedule."""

    title: ClassVar[str] = "Budget and off-hours"

    budget_actual_alert_percent: int = Field(
        80,
        alias="budgetActualAlertPercent",
        ge=1,
        le=1000,
        description=(
            "Tell `budgetAlertEmails` (and the alert topic) when the month's actual cost "
            "passes this percentage of monthlyBudgetUsd. AWS Budgets reads the bill about "
            "three times a day, so this is hours late, never real time."
        ),
    )
    budget_forecast_alert_percent: int = Field(
        100,
        alias="budgetForecastAlertPercent",
        ge=1,
        le=1000,
        description=(
            "Tell them when AWS forecasts the month's cost above this percentage of "
            "monthlyBudgetUsd: the warning that comes before the money is spent (AWS "
            "forecasts once the account has about five weeks of billing data)."
        ),
    )
    budget_alert_topic: bool = Field(
        True,
        alias="budgetAlertTopic",
        description=(
            "Also send the budget's notifications to the environment's alert topic (its "
            "alertReceivers), where the stack has one. Turn it off where the topic pages "
            "an on-call: a forecast overrun is not an incident."
        ),
    )
    budget_alert_emails: list[str] = Field(
        default_factory=list,
        alias="budgetAlertEmails",
        max_length=BUDGET_MAX_EMAILS,
        description=(
            "Addresses AWS Budgets e-mails directly (at most 10). A budget must tell "
            "someone: list addresses here, or alertReceivers with budgetAlertTopic."
        ),
    )
    working_hours: str = Field(
        "",
        alias="workingHours",
        description=(
            "`HH:MM-HH:MM` (start before end, same day): outside these hours on every "
            "working day, and all day on the others, EventBridge Scheduler scales the node "
            "groups to zero and stops the database, and brings them back at the start. "
            "Empty: always on. Not in production, not with protectStatefulResources or read "
            "replicas, not with a healthCheckPath (README 'Off-hours shutdown')."
        ),
    )
    working_days: list[Weekday] = Field(
        default_factory=lambda: list(WORKING_WEEK),
        alias="workingDays",
        description="The days workingHours apply on (`mon` ... `sun`); the others are off all day.",
    )
    working_hours_time_zone: str = Field(
        "UTC",
        alias="workingHoursTimeZone",
        description=(
            "IANA time zone of workingHours (`Europe/Madrid`, `America/New_York`): the "
            "schedules follow its daylight-saving changes."
        ),
    )

    @field_validator("budget_alert_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.fullmatch(address):
                raise ValueError(f"'{address}' is not an e-mail address such as 'ops@example.org'")
        return _no_duplicates(value)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if not value:
            return value
        if not _WORKING_HOURS.fullmatch(value):
            raise ValueError("must be 'HH:MM-HH:MM' on a 24-hour clock, such as '08:00-20:00'")
        start, end = value.split("-")
        if off_hours.minutes_of(end) <= off_hours.minutes_of(start):
            raise ValueError(
                "must end after it starts on the same day ('08:00-20:00'); a night shift "
                "across midnight is not supported"
            )
        return value

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "must list at least one day: a stack that never runs should be destroyed, "
                "not scheduled"
            )
        _no_duplicates(value)
        return sorted(value, key=off_hours.WEEKDAYS.index)

    @field_validator("working_hours_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _iana_zone(value, "'Europe/Madrid' or 'UTC'")

    def rule_problems(self) -> list[Problem]:
        if self.working_hours:
            return []
        changed = self.changed_keys() & {"working_days", "working_hours_time_zone"}
        return [
            Problem(
                _key(_alias_of(CostControlsSpec, name)),
                getattr(self, name),
                "applies only to the off-hours schedule; set stagecraft:workingHours or remove it",
            )
            for name in sorted(changed)
        ]

    @property
    def schedule(self) -> off_hours.WorkingHours | None:
        if not self.working_hours:
            return None
        start, end = self.working_hours.split("-")
        return off_hours.WorkingHours(days=tuple(self.working_days), start=start, end=end)


_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_KMS_KEY_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/(mrk-)?[0-9a-f-]{32,36}$"
)
DATA_EXPORT_KEYS = (
    "data_export_schedule",
    "data_export_reader_role_arns",
    "data_dump_retention_days",
)
DATA_IMPORT_KEYS = ("data_import_bucket", "data_import_kms_key_arn", "data_import_schedule")


class DataSyncSpec(Section):
    """The weekly anonymised copy of production into staging (README 'Production data in
    staging')."""

    title: ClassVar[str] = "Production data in staging"

    data_export: bool = Field(
        False,
        alias="dataExport",
        description=(
            "Production tier only. A CronJob in this cluster reads the database (its first "
            "read replica, else the primary) as a read-only, IAM-authenticated role, masks "
            "every column as infra/data_sync/rules.yaml says, and publishes the dump to this "
            "stack's data-sync bucket. A column without a rule stops it before anything is "
            "written."
        ),
    )
    data_export_schedule: str = Field(
        "0 2 * * 6",
        alias="dataExportSchedule",
        description=(
            "Cron schedule of the export, in dataSyncTimeZone: Saturdays at 02:00 by "
            "default, the seeds' weekly sync."
        ),
    )
    data_export_reader_role_arns: list[str] = Field(
        default_factory=list,
        alias="dataExportReaderRoleArns",
        description=(
            "The import roles that may read the dumps: each importing stack's "
            "`dataImportRoleArn` output (`arn:aws:iam::<account>:role/<project>-<stack>-"
            "data-import`). The bucket policy refuses every other reader, whatever its IAM "
            "policy says."
        ),
    )
    data_dump_retention_days: int = Field(
        35,
        alias="dataDumpRetentionDays",
        ge=1,
        le=3650,
        description=(
            "Days a published dump is kept before S3 deletes it (five weekly dumps by "
            "default); a replaced object's old version goes a day later."
        ),
    )
    data_import: bool = Field(
        False,
        alias="dataImport",
        description=(
            "Not in the production tier. A CronJob in this cluster loads the newest complete "
            "dump from dataImportBucket into this stack's database, replacing its public "
            "schema in one transaction; pr-<n> stacks on this cluster may start from it "
            "(their initialData)."
        ),
    )
    data_import_bucket: str = Field(
        "",
        alias="dataImportBucket",
        description="Production's data-sync bucket: its `dataSyncBucket` output.",
    )
    data_import_kms_key_arn: str = Field(
        "",
        alias="dataImportKmsKeyArn",
        description=(
            "The key that bucket is encrypted with: production's `dataSyncKmsKeyArn` output. "
            "The import role may decrypt with it through S3, nothing else."
        ),
    )
    data_import_schedule: str = Field(
        "0 6 * * 6",
        alias="dataImportSchedule",
        description=(
            "Cron schedule of the import, in dataSyncTimeZone: Saturdays at 06:00 by "
            "default, four hours after production's export. A run with no newer dump "
            "reloads the last one."
        ),
    )
    data_sync_time_zone: str = Field(
        "Etc/UTC",
        alias="dataSyncTimeZone",
        description="IANA time zone of dataExportSchedule and dataImportSchedule.",
    )
    data_sync_scratch_gb: int = Field(
        100,
        alias="dataSyncScratchGb",
        ge=1,
        le=16384,
        description=(
            "GiB of the gp3 volume an export or import run writes the dump on (a generic "
            "ephemeral volume of the always-deleting `gp3-scratch` class: created for the "
            "run, deleted with its pod six hours after it; never the node's disk). The dump "
            "is the tables as CSV: size it above the database's data, not its allocated "
            "storage."
        ),
    )

    @field_validator("data_export_schedule", "data_import_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _CRON.fullmatch(value.strip()):
            raise ValueError(
                "must be a five-field cron schedule such as '0 2 * * 6' (Saturdays 02:00)"
            )
        return value.strip()

    @field_validator("data_export_reader_role_arns")
    @classmethod
    def _reader_arns(cls, value: list[str]) -> list[str]:
        _no_duplicates(value)
        for arn in value:
            if not _ROLE_ARN.fullmatch(arn) or not arn.endswith("-data-import"):
                raise ValueError(
                    f"'{arn}' is not an import role's ARN such as "
                    "'arn:aws:iam::123456789012:role/stagecraft-staging-data-import' (an "
                    "importing stack's dataImportRoleArn output)"
                )
        return value

    @field_validator("data_import_bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if value and (not _S3_BUCKET.fullmatch(value) or "--" in value):
            raise ValueError(
                "must be an S3 bucket name (3-63 lowercase letters, digits, single hyphens): "
                "production's dataSyncBucket output"
            )
        return value

    @field_validator("data_import_kms_key_arn")
    @classmethod
    def _key(cls, value: str) -> str:
        if value and not _KMS_KEY_ARN.fullmatch(value):
            raise ValueError(
                "must be a KMS key ARN such as 'arn:aws:kms:us-east-1:123456789012:key/"
                "1234abcd-12ab-34cd-56ef-1234567890ab': production's dataSyncKmsKeyArn output"
            )
        return value

    @field_validator("data_sync_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _iana_zone(value, "'Etc/UTC' or 'Europe/Madrid'")

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        changed = self.changed_keys()
        if self.data_export and self.data_import:
            problems.append(Problem(
                _key("dataImport"), True,
                "a stack either exports its data (production) or imports production's, "
                "not both"))  # fmt: skip
        for switch, keys, on in (
            ("dataExport", DATA_EXPORT_KEYS, self.data_export),
            ("dataImport", DATA_IMPORT_KEYS, self.data_import),
        ):
            if on:
                continue
            problems += [
                Problem(
                    _key(_alias_of(DataSyncSpec, name)),
                    getattr(self, name),
                    f"applies only with {switch}: true; set it or remove this key",
                )
                for name in keys
                if name in changed
            ]
        if self.data_import:
            problems += [
                Problem(_key(alias), "", f"is needed with dataImport: true ({what} output)")
                for alias, value, what in (
                    ("dataImportBucket", self.data_import_bucket, "production's dataSyncBucket"),
                    (
                        "dataImportKmsKeyArn",
                        self.data_import_kms_key_arn,
                        "production's dataSyncKmsKeyArn",
                    ),
                )
                if not value
            ]
        return problems


# A third-party secret's slot name: the last part of its Secrets Manager name
# (`<prefix>/third-party/<name>`) and its key in the namespace's Secret. Kept
# to what is valid in both (a Kubernetes Secret key allows `[-._a-zA-Z0-9]`).
_SLOT_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
SLOT_NAME_MAX_LENGTH = 64
MAX_THIRD_PARTY_SECRETS = 50
# The seeds rotate production's secrets every 90 days ("vs 90 days in prod").
PRODUCTION_MAX_SECRET_ROTATION_DAYS = 90


class SecretsSpec(Section):
    """Third-party secrets set out of band, delivered into the namespace, and the age
    policy of every secret (README 'Secrets that are not ours to generate')."""

    title: ClassVar[str] = "Secrets that are not ours to generate"

    third_party_secrets: list[str] = Field(
        default_factory=list,
        alias="thirdPartySecrets",
        description=(
            "Names of the third-party secrets this environment's applications read "
            "(payment-api-key, sendgrid-api-key): each gets an empty Secrets Manager slot "
            "`<project>-<stack>/third-party/<name>` under the environment's key, whose value "
            "an operator puts with `aws secretsmanager put-secret-value` (never in a stack "
            "file), and the External Secrets Operator delivers them all into one Kubernetes "
            "Secret, `third-party-secrets`, in the environment's namespace. Lowercase "
            "letters, digits and single dashes, at most 64 characters, at most 50 names. "
            "Empty: no slots and no operator."
        ),
    )
    external_secrets_refresh_minutes: int = Field(
        60,
        alias="externalSecretsRefreshMinutes",
        ge=1,
        le=1440,
        description=(
            "How often the External Secrets Operator re-reads the slots, in minutes: a value "
            "put into a slot reaches the Kubernetes Secret within this time (pods read it on "
            "their next start). Each read is a Secrets Manager API call per slot."
        ),
    )
    secret_rotation_days: int = Field(
        90,
        alias="secretRotationDays",
        ge=1,
        le=365,
        description=(
            "Maximum age of this environment's secrets, in days: the rotation schedule of "
            "any secret AWS rotates, and the age policy (rotate by hand every N days, listed "
            "by `stagecraft report`) of those it cannot: the generated database master "
            "password, JWT secret and Redis password, and every third-party slot. The seeds "
            "rotate staging monthly (30) and production every 90 days; the production tier "
            "allows at most 90."
        ),
    )

    @field_validator("third_party_secrets")
    @classmethod
    def _slots(cls, value: list[str]) -> list[str]:
        _no_duplicates(value)
        if len(value) > MAX_THIRD_PARTY_SECRETS:
            raise ValueError(
                f"lists {len(value)} secrets; at most {MAX_THIRD_PARTY_SECRETS} (group related "
                "values into one secret's JSON instead)"
            )
        for name in value:
            if not _SLOT_NAME.fullmatch(name) or len(name) > SLOT_NAME_MAX_LENGTH:
                raise ValueError(
                    f"'{name}' is not a slot name: lowercase letters, digits and single dashes, "
                    f"starting with a letter, at most {SLOT_NAME_MAX_LENGTH} characters (such "
                    "as 'payment-api-key')"
                )
        return value


# The environment database's login roles (infra/sql/access_roles.sql): no
# passwords, IAM authentication only.
APP_DATABASE_ROLE = "stagecraft_app"
READ_ONLY_DATABASE_ROLE = "stagecraft_readonly"
READ_WRITE_DATABASE_ROLE = "stagecraft_readwrite"
DATABASE_ROLE_OF: dict[str, str] = {
    "read-only": READ_ONLY_DATABASE_ROLE,
    "read-write": READ_WRITE_DATABASE_ROLE,
}
_PRINCIPAL_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")

AudienceName = Literal["developers", "qa", "oncall"]
ClusterAccess = Literal["view", "edit", "admin"]
DatabaseAccess = Literal["none", "read-only", "read-write"]


@dataclass(frozen=True)
class Audience:
    """One audience's role in an environment: who may assume it, and what it may do."""

    name: AudienceName
    principal_arns: tuple[str, ...]
    cluster: ClusterAccess
    database: DatabaseAccess
    key_stem: str  # its config keys: access<Stem>PrincipalArns, ...Cluster, ...Database

    def key(self, what: Literal["PrincipalArns", "Cluster", "Database"]) -> str:
        return _key(f"access{self.key_stem}{what}")

    @property
    def database_role(self) -> str | None:
        return DATABASE_ROLE_OF.get(self.database)

    @property
    def writes(self) -> bool:
        """Changes anything: objects in the cluster or rows in the database."""
        return self.cluster != "view" or self.database == "read-write"


class AccessSpec(Section):
    """Who may do what in the environment: an IAM role per audience (README 'Who may do
    what')."""

    title: ClassVar[str] = "Who may do what"

    developer_principal_arns: list[str] = Field(
        default_factory=list,
        alias="accessDeveloperPrincipalArns",
        description=(
            "IAM roles or users (people's SSO roles) that may assume this environment's "
            "`<project>-<stack>-developers` role; empty: no such role. The role gets "
            "accessDeveloperCluster in the cluster and accessDeveloperDatabase in the "
            "database, nothing else."
        ),
    )
    developer_cluster: Literal["view", "edit"] = Field(
        "view",
        alias="accessDeveloperCluster",
        description=(
            "`view`: read the cluster (no Secrets); `edit`: also change objects in this "
            "environment's namespace. Production: `view`."
        ),
    )
    developer_database: DatabaseAccess = Field(
        "read-only",
        alias="accessDeveloperDatabase",
        description=(
            f"`none`, `read-only` (log in as `{READ_ONLY_DATABASE_ROLE}`: SELECT only) or "
            f"`read-write` (as `{READ_WRITE_DATABASE_ROLE}`: change rows, never the schema). "
            "Production: not `read-write`."
        ),
    )
    qa_principal_arns: list[str] = Field(
        default_factory=list,
        alias="accessQaPrincipalArns",
        description=(
            "IAM roles or users that may assume the `<project>-<stack>-qa` role; empty: no "
            "such role."
        ),
    )
    qa_cluster: Literal["view", "edit"] = Field(
        "view",
        alias="accessQaCluster",
        description="As accessDeveloperCluster, for QA. Production: `view`.",
    )
    qa_database: DatabaseAccess = Field(
        "read-only",
        alias="accessQaDatabase",
        description="As accessDeveloperDatabase, for QA. Production: not `read-write`.",
    )
    oncall_principal_arns: list[str] = Field(
        default_factory=list,
        alias="accessOncallPrincipalArns",
        description=(
            "IAM roles or users (DevOps and the on-call rota) that may assume the "
            "`<project>-<stack>-oncall` role: the only audience that may write in production."
        ),
    )
    oncall_cluster: ClusterAccess = Field(
        "admin",
        alias="accessOncallCluster",
        description="`view`, `edit` (this environment's namespace) or `admin` (cluster-admin).",
    )
    oncall_database: DatabaseAccess = Field(
        "read-write",
        alias="accessOncallDatabase",
        description=f"As accessDeveloperDatabase, for on-call (`{READ_WRITE_DATABASE_ROLE}`).",
    )

    @field_validator("developer_principal_arns", "qa_principal_arns", "oncall_principal_arns")
    @classmethod
    def _principal_arns(cls, value: list[str]) -> list[str]:
        _no_duplicates(value)
        for arn in value:
            if not _PRINCIPAL_ARN.fullmatch(arn):
                raise ValueError(
                    f"'{arn}' is not an IAM role or user ARN such as "
                    "'arn:aws:iam::123456789012:role/AWSReservedSSO_Developer_0123456789abcdef'"
                )
        return value

    @property
    def developer(self) -> Audience:
        return Audience("developers", tuple(self.developer_principal_arns),
                        self.developer_cluster, self.developer_database, "Developer")  # fmt: skip

    @property
    def qa(self) -> Audience:
        return Audience("qa", tuple(self.qa_principal_arns), self.qa_cluster, self.qa_database,
                        "Qa")  # fmt: skip

    @property
    def oncall(self) -> Audience:
        return Audience("oncall", tuple(self.oncall_principal_arns),
                        self.oncall_cluster, self.oncall_database, "Oncall")  # fmt: skip

    def audiences(self) -> list[Audience]:
        """The audiences that have someone to assume their role, in a fixed order."""
        return [a for a in (self.developer, self.qa, self.oncall) if a.principal_arns]

    def database_roles_wanted(self) -> set[str]:
        """The people's database roles some audience logs in as."""
        return {a.database_role for a in self.audiences() if a.database_role is not None}

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        changed = self.changed_keys()
        for audience in (self.developer, self.qa, self.oncall):
            if audience.principal_arns:
                continue
            for what in ("Cluster", "Database"):
                field_name = f"{audience.key_stem.lower()}_{what.lower()}"
                if field_name in changed:
                    problems.append(Problem(
                        audience.key(what), getattr(self, field_name),
                        f"applies to a role nobody may assume; list "
                        f"{audience.key('PrincipalArns')} or remove it"))  # fmt: skip
        return problems

    def production_problems(self) -> list[Problem]:
        """Production: only the on-call role writes (the seeds' access table)."""
        problems: list[Problem] = []
        for audience in (self.developer, self.qa):
            if audience.cluster != "view":
                problems.append(Problem(
                    audience.key("Cluster"), audience.cluster,
                    "must be 'view' in production: only the on-call role changes "
                    "production"))  # fmt: skip
            if audience.database == "read-write":
                problems.append(Problem(
                    audience.key("Database"), audience.database,
                    "must be 'none' or 'read-only' in production: only the on-call role "
                    "changes production's data"))  # fmt: skip
        return problems


class SmokeTestSpec(Section):
    """The post-deploy smoke test run from inside the cluster (README 'Post-deploy smoke
    test')."""

    title: ClassVar[str] = "Post-deploy smoke test"

    smoke_test: bool = Field(
        True,
        alias="smokeTest",
        description=(
            "A suspended CronJob `smoke-test` in the namespace, as the application's "
            "ServiceAccount: connects to the database with an IAM token (sslmode=verify-full) "
            "and to Redis over TLS with the application's credentials from `app-connection`, "
            "and calls https://<domain><healthCheckPath> where both are set. The deploy "
            "workflows run it after `pulumi up` (`stagecraft smoke-test`) and fail on it. "
            "Needs dbIamAuthentication."
        ),
    )
    smoke_test_deadline_seconds: int = Field(
        300,
        alias="smokeTestDeadlineSeconds",
        ge=60,
        le=1800,
        description=(
            "How long one smoke-test run may take, pulling its images included (the Job's "
            "activeDeadlineSeconds): past it the run fails and so does the deploy."
        ),
    )

    def rule_problems(self) -> list[Problem]:
        if not self.smoke_test and "smoke_test_deadline_seconds" in self.changed_keys():
            return [Problem(
                _key("smokeTestDeadlineSeconds"), self.smoke_test_deadline_seconds,
                "applies only with smokeTest: true; set it or remove this key")]  # fmt: skip
        return []


# Session Manager shell access (README "Shell access"). A bastion is a small
# Graviton or burstable instance: it only relays sessions, so anything larger
# is money spent on nothing. Sizes are the ones the price table knows.
BASTION_INSTANCE_FAMILIES: dict[str, frozenset[str]] = {
    **dict.fromkeys(("t4g", "t3", "t3a"), frozenset({"nano", "micro", "small"})),
}
# Session Manager's own limits on a session document's idleSessionTimeout and
# maxSessionDuration (minutes):
# https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-schema.html
SESSION_IDLE_TIMEOUT_MINUTES = (1, 60)
SESSION_MAX_DURATION_MINUTES = (1, 1440)
# The keys that mean something only with a bastion.
BASTION_KEYS = (
    "bastion_instance_type",
    "session_log_retention_days",
    "session_idle_timeout_minutes",
    "session_max_duration_minutes",
)


class ShellAccessSpec(Section):
    """No SSH anywhere: shell and database access through Systems Manager Session Manager
    (README 'Shell access')."""

    title: ClassVar[str] = "Shell access (Session Manager)"

    bastion: bool = Field(
        False,
        alias="bastion",
        description=(
            "A small EC2 instance in a private subnet (no public address, a security group "
            "with no inbound rule, IMDSv2 only, root volume encrypted with the environment's "
            "key) that people reach only through Session Manager: a shell logged to an "
            "encrypted CloudWatch log group, or port forwarding to this environment's "
            "database and cache. No SSH key exists anywhere."
        ),
    )
    bastion_instance_type: str = Field(
        "t4g.nano",
        alias="bastionInstanceType",
        description=(
            "EC2 type of the bastion: t4g (Graviton, the default), t3 or t3a, nano to small. "
            "It only relays sessions; the Amazon Linux 2023 image is the one for its "
            "architecture."
        ),
    )
    session_log_retention_days: int = Field(
        365,
        alias="sessionLogRetentionDays",
        description=(
            "Days CloudWatch keeps every shell session's input and output (encrypted with the "
            "environment's key); one of CloudWatch's allowed periods, at least 365 in "
            "production. Port-forwarding sessions carry no readable stream: CloudTrail "
            "records who opened them, to which host and port."
        ),
    )
    session_idle_timeout_minutes: int = Field(
        20,
        alias="sessionIdleTimeoutMinutes",
        ge=SESSION_IDLE_TIMEOUT_MINUTES[0],
        le=SESSION_IDLE_TIMEOUT_MINUTES[1],
        description="Minutes of no input after which Session Manager ends a shell session.",
    )
    session_max_duration_minutes: int = Field(
        240,
        alias="sessionMaxDurationMinutes",
        ge=SESSION_MAX_DURATION_MINUTES[0],
        le=SESSION_MAX_DURATION_MINUTES[1],
        description="Minutes after which Session Manager ends any shell session, idle or not.",
    )

    @field_validator("bastion_instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        return _check_instance_type(value, "", BASTION_INSTANCE_FAMILIES)

    @field_validator("session_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _check_log_retention(value)

    def rule_problems(self) -> list[Problem]:
        if self.bastion:
            return []
        changed = self.changed_keys()
        return [
            Problem(
                _key(_alias_of(ShellAccessSpec, name)),
                getattr(self, name),
                "applies only with bastion: true; set it or remove this key",
            )
            for name in BASTION_KEYS
            if name in changed
        ]


# AWS Backup's own cron (six fields, in `cron(...)`), as its schedules take it:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/events/ScheduledEvents.html#CronExpressions
_AWS_CRON = re.compile(r"^cron\(\S+(\s+\S+){5}\)$")
BackupVaultLock = Literal["off", "governance", "compliance"]
# What only applies when AWS Backup is on (refused without it, like dataExport's keys).
BACKUP_KEYS = (
    "backup_schedule",
    "backup_retention_days",
    "backup_copy_region",
    "backup_copy_retention_days",
    "backup_vault_lock",
    "backup_vault_lock_grace_days",
    "restore_testing_schedule",
    "restore_testing_instance_class",
    "restore_testing_validation_hours",
)
# AWS Backup refuses a compliance lock changeable for fewer days:
# https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultLockConfiguration.html
VAULT_LOCK_MIN_GRACE_DAYS = 3


class BackupSpec(Section):
    """AWS Backup of the database: a locked vault, a copy in a second region, restore tests
    (README 'Backups and restore testing')."""

    title: ClassVar[str] = "Backups and recovery"

    aws_backup: bool = Field(
        False,
        alias="awsBackup",
        description=(
            "Back the database up with AWS Backup as well as RDS's own automated backups "
            "(which keep point-in-time recovery for dbBackupRetentionDays): snapshots on "
            "backupSchedule into a vault of this stack with its own KMS key, each copied to "
            "a vault in backupCopyRegion, and a restore test on restoreTestingSchedule. "
            "Failed backup, copy or restore jobs alarm to the alert topic. Required in the "
            "production tier."
        ),
    )
    backup_schedule: str = Field(
        "cron(0 7 * * ? *)",
        alias="backupSchedule",
        description=(
            "When AWS Backup snapshots the database, as an AWS cron expression in UTC "
            "(daily at 07:00 by default, after the default dbBackupWindow and "
            "dbMaintenanceWindow, which a snapshot should not overlap)."
        ),
    )
    backup_retention_days: int = Field(
        30,
        alias="backupRetentionDays",
        ge=1,
        le=36500,
        description=(
            "Days each snapshot stays in the vault (the seeds: 30 in production). With a "
            "vault lock this is also the lock's minimum retention: no snapshot can be "
            "deleted sooner, by anyone."
        ),
    )
    backup_copy_region: str = Field(
        "",
        alias="backupCopyRegion",
        description=(
            "A second region each snapshot is copied to (a vault there with its own KMS key), "
            "so losing the stack's region loses no backup; must differ from aws:region. "
            "Required in the production tier."
        ),
    )
    backup_copy_retention_days: int = Field(
        30,
        alias="backupCopyRetentionDays",
        ge=1,
        le=36500,
        description="Days each copy stays in the second region's vault.",
    )
    backup_vault_lock: BackupVaultLock = Field(
        "off",
        alias="backupVaultLock",
        description=(
            "AWS Backup Vault Lock on both vaults: nobody (not even the account's root) may "
            "delete a snapshot before its retention ends or shorten it below "
            "backupRetentionDays. `governance`: principals with backup:DeleteBackupVault"
            "LockConfiguration can still remove the lock (a guard against mistakes). "
            "`compliance`: after backupVaultLockGraceDays the lock can never be removed or "
            "changed, and the vaults cannot be deleted while they hold snapshots; this "
            "CANNOT BE UNDONE (a guard against a compromised account). Production: "
            "governance or compliance."
        ),
    )
    backup_vault_lock_grace_days: int = Field(
        VAULT_LOCK_MIN_GRACE_DAYS,
        alias="backupVaultLockGraceDays",
        ge=VAULT_LOCK_MIN_GRACE_DAYS,
        le=36500,
        description=(
            "Compliance mode only: days after the lock is set during which it can still be "
            "removed (`changeable_for_days`, at least 3). After that it is permanent."
        ),
    )
    restore_testing_schedule: str = Field(
        "cron(0 6 1 1,4,7,10 ? *)",
        alias="restoreTestingSchedule",
        description=(
            "When AWS Backup restores the latest snapshot into a scratch instance to prove it "
            "restores (AWS cron, UTC): quarterly by default, the seeds' 'test disaster "
            "recovery quarterly'."
        ),
    )
    restore_testing_instance_class: str = Field(
        "db.t4g.medium",
        alias="restoreTestingInstanceClass",
        description=(
            "Instance class of the scratch instance a restore test creates (in the "
            "database's subnets, reachable from the cluster's nodes only, never public); "
            "small: it only has to start and accept connections."
        ),
    )
    restore_testing_validation_hours: int = Field(
        4,
        alias="restoreTestingValidationHours",
        ge=1,
        le=168,
        description=(
            "Hours the restored scratch instance is kept for checks before AWS Backup deletes "
            "it (the restore testing validation window)."
        ),
    )

    @field_validator("backup_schedule", "restore_testing_schedule")
    @classmethod
    def _aws_cron(cls, value: str) -> str:
        if not _AWS_CRON.fullmatch(value.strip()):
            raise ValueError(
                "must be an AWS cron expression with six fields, e.g. 'cron(0 7 * * ? *)' "
                "(daily 07:00 UTC) or 'cron(0 6 1 1,4,7,10 ? *)' (quarterly)"
            )
        return value.strip()

    @field_validator("backup_copy_region")
    @classmethod
    def _copy_region(cls, value: str) -> str:
        if value and value not in aws_regions():
            close = difflib.get_close_matches(value, list(aws_regions()), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(f"is not an AWS region (botocore's endpoint data){hint}")
        return value

    @field_validator("restore_testing_instance_class")
    @classmethod
    def _known_db_class(cls, value: str) -> str:
        return _check_instance_type(value, "db.", DB_INSTANCE_FAMILIES)

    def rule_problems(self) -> list[Problem]:
        changed = self.changed_keys()
        if not self.aws_backup:
            return [
                Problem(
                    _key(_alias_of(BackupSpec, name)),
                    getattr(self, name),
                    "applies only with awsBackup: true; set it or remove this key",
                )
                for name in BACKUP_KEYS
                if name in changed
            ]
        problems: list[Problem] = []
        if self.backup_vault_lock != "compliance" and "backup_vault_lock_grace_days" in changed:
            problems.append(Problem(
                _key("backupVaultLockGraceDays"), self.backup_vault_lock_grace_days,
                "applies only to a compliance lock (backupVaultLock: compliance); remove "
                "it"))  # fmt: skip
        if not self.backup_copy_region and "backup_copy_retention_days" in changed:
            problems.append(Problem(
                _key("backupCopyRetentionDays"), self.backup_copy_retention_days,
                "applies only with backupCopyRegion; set it or remove this key"))  # fmt: skip
        return problems


class EphemeralSpec(Section):
    """A preview (`pr-<n>`) or developer (`dev-<name>`) environment on a shared cluster."""

    title: ClassVar[str] = "Shared-cluster environments"

    shared_stack: str = Field(
        alias="sharedStack",
        description=(
            "Fully qualified stack (`<organization>/stagecraft/<stack>`) whose cluster, "
            "database server and cache this environment shares: staging for `pr-*`, dev "
            "for `dev-*`; no other is accepted."
        ),
    )
    created_at: str = Field(
        alias="createdAt",
        description="When the environment was created (ISO 8601, UTC); its TTL counts from here.",
    )
    ttl: str = Field(
        "7d",
        alias="ttl",
        description=(
            "How long the environment may live (`<n>d` or `<n>h`, at most 90d); recorded as "
            "the `expires-at` tag and output, and `stagecraft env gc` removes it after."
        ),
    )
    own_database: bool = Field(
        False,
        alias="ownDatabase",
        description=(
            "Give the environment its own small RDS instance instead of a database in the "
            "shared one (for schema-changing pull requests)."
        ),
    )
    own_db_instance_class: str = Field(
        "db.t4g.micro",
        alias="ownDbInstanceClass",
        description="RDS instance class of the own database, where ownDatabase is true.",
    )
    own_db_allocated_storage_gb: int = Field(
        20,
        alias="ownDbAllocatedStorageGb",
        ge=RDS_GP3_MIN_GB,
        le=1000,
        description="gp3 storage of the own database, GiB, where ownDatabase is true.",
    )
    initial_data: Literal["seed", "anonymised"] = Field(
        "seed",
        alias="initialData",
        description=(
            "What the environment's database starts with: `seed` (the fake shop in "
            "infra/sql/seed.sql) or `anonymised` (the anonymised copy of production the "
            "shared stack's weekly import keeps; only a shared stack with dataImport has "
            "one, staging). Read when the database is created; not with ownDatabase."
        ),
    )
    db_storage_estimate_gb: int = Field(
        1,
        alias="dbStorageEstimateGb",
        ge=1,
        le=1000,
        description=(
            "Expected size of the environment's database in the shared instance, GiB: the "
            "storage share `stagecraft cost` charges it."
        ),
    )

    @field_validator("shared_stack")
    @classmethod
    def _qualified_stack(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", value):
            raise ValueError(
                "must be '<organization>/<project>/<stack>', e.g. 'acme/stagecraft/staging' "
                "('organization' for a self-managed backend)"
            )
        return value

    @field_validator("created_at")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        parse_timestamp(value)
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        parse_ttl(value)
        return value

    @field_validator("own_db_instance_class")
    @classmethod
    def _known_db_class(cls, value: str) -> str:
        return _check_instance_type(value, "db.", DB_INSTANCE_FAMILIES)

    def rule_problems(self) -> list[Problem]:
        if self.initial_data == "anonymised" and self.own_database:
            return [
                Problem(
                    _key("initialData"),
                    self.initial_data,
                    "is copied inside the shared database server, and ownDatabase gives this "
                    "environment a server of its own; use initialData: seed there, or drop "
                    "ownDatabase",
                )
            ]
        return []

    @property
    def parent_stack(self) -> str:
        return self.shared_stack.rsplit("/", 1)[-1]

    @property
    def expires_at(self) -> datetime:
        return parse_timestamp(self.created_at) + parse_ttl(self.ttl)


MAX_TTL = timedelta(days=90)


def parse_ttl(value: str) -> timedelta:
    """'7d' or '36h' as a timedelta; at most 90 days."""
    match = re.fullmatch(r"([1-9]\d*)([dh])", value.strip())
    if not match:
        raise ValueError("must be a whole number of days or hours, such as '7d' or '36h'")
    amount, unit = int(match.group(1)), match.group(2)
    ttl = timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
    if ttl > MAX_TTL:
        raise ValueError("must be at most 90d: an environment that lives longer is not ephemeral")
    return ttl


def parse_timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be an ISO 8601 UTC timestamp such as '2026-11-23T12:00:00Z'"
        ) from None
    if moment.tzinfo is None:
        raise ValueError("must say its time zone, e.g. end in 'Z' for UTC")
    return moment.astimezone(UTC)


SECTIONS: tuple[type[Section], ...] = (
    GeneralSpec,
    TierSpec,
    NetworkSpec,
    ClusterSpec,
    DatabaseSpec,
    CacheSpec,
    WorkloadsSpec,
    AddonsSpec,
    MonitoringSpec,
    AlertingSpec,
    CostControlsSpec,
    DataSyncSpec,
    AccessSpec,
    SecretsSpec,
    SmokeTestSpec,
    ShellAccessSpec,
    BackupSpec,
)
EPHEMERAL_SECTIONS: tuple[type[Section], ...] = (GeneralSpec, WorkloadsSpec, EphemeralSpec)

StackKind = Literal["environment", "preview", "developer"]
FULL_ENVIRONMENTS = ("dev", "sandbox", "staging", "production")
# Which shared stack each kind of small stack may use, and no other.
ALLOWED_PARENT: dict[StackKind, str] = {"preview": "staging", "developer": "dev"}
STACK_NAME_RULE = (
    "must be dev, sandbox, staging or production (full environments), pr-<1..999999> "
    "(a pull request's preview) or dev-<lowercase name> (a developer's environment; not "
    "dev-app or dev-default, the dev environment's own Redis user ids, nor a name ending "
    "in -dbadmin, another stack's database-admin namespace)"
)
_PREVIEW_NAME = re.compile(r"^pr-[1-9]\d{0,5}$")
_DEVELOPER_NAME = re.compile(r"^dev-[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
# A small stack's Redis user id is `stagecraft-<stack>`; the dev environment's
# own users are `stagecraft-dev-default` and `stagecraft-dev-app`, and ids are
# unique per region.
_RESERVED_DEVELOPER_STACKS = frozenset({"dev-app", "dev-default"})


def stack_kind(stack: str) -> StackKind | None:
    """What a stack name says the stack is; None for a name stagecraft refuses."""
    if stack in FULL_ENVIRONMENTS:
        return "environment"
    if _PREVIEW_NAME.fullmatch(stack):
        return "preview"
    if (
        _DEVELOPER_NAME.fullmatch(stack)
        and len(f"{PROJECT_NAME}-{stack}") <= MAX_RESOURCE_PREFIX
        and stack not in _RESERVED_DEVELOPER_STACKS
        and not stack.endswith("-dbadmin")
    ):
        return "developer"
    return None


def small_stack_namespaces(kind: StackKind) -> tuple[str, str]:
    """The namespaces a kind of small stack owns: (EKS access-scope wildcard, exact regex).

    A pr-<n> stack owns `pr-<n>` and `pr-<n>-dbadmin`; a dev-<name> stack
    `dev-<name>` and `dev-<name>-dbadmin` (database_admin_namespace).
    """
    if kind == "preview":
        return "pr-*", r"^pr-[1-9][0-9]{0,5}(-dbadmin)?$"
    if kind == "developer":
        return "dev-*", r"^dev-[a-z][a-z0-9]*(-[a-z0-9]+)*$"
    raise ValueError(f"{kind} stacks own no namespaces of a shared cluster")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


_MINUTES_PER_WEEK = 7 * 24 * 60


def _weekly_interval(window: str) -> tuple[int, int]:
    """'sun:04:30-sun:05:30' as (start, end) minutes since Monday 00:00."""
    start, end = window.split("-")

    def at(point: str) -> int:
        day, hhmm = point.split(":", 1)
        return _WEEKDAYS.index(day) * 24 * 60 + _minutes(hhmm)

    return at(start), at(end)


def _overlaps_daily(weekly: tuple[int, int], daily_window: str) -> bool:
    """Does a weekly window intersect a daily window on any of the seven days?"""

    def minutes_covered(start: int, end: int, period: int) -> set[int]:
        length = (end - start) % period
        return {(start + m) % period for m in range(length)}

    weekly_minutes = minutes_covered(weekly[0], weekly[1], _MINUTES_PER_WEEK)
    daily_start, daily_end = (_minutes(p) for p in daily_window.split("-"))
    daily = minutes_covered(daily_start, daily_end, 24 * 60)
    return any(minute % (24 * 60) in daily for minute in weekly_minutes)


# How long after the start of working hours the database is surely up again:
# starting a stopped RDS instance takes minutes (it replays recovery).
DATABASE_START_MINUTES = 20


# RDS identifiers and ElastiCache replication group ids are built from
# "<project>-<stack>": at most 40 characters for the replication group.
MAX_RESOURCE_PREFIX = 40


# --------------------------------------------------------------------------- #
# The whole stack
# --------------------------------------------------------------------------- #


class StackConfig(BaseModel):
    """A validated stack: who it is, where it runs, and one spec per component."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str
    stack: str
    region: str
    general: GeneralSpec
    tier: TierSpec
    network: NetworkSpec
    cluster: ClusterSpec
    database: DatabaseSpec
    cache: CacheSpec
    workloads: WorkloadsSpec
    addons: AddonsSpec
    monitoring: MonitoringSpec
    alerting: AlertingSpec
    cost: CostControlsSpec
    data_sync: DataSyncSpec
    access: AccessSpec
    secrets: SecretsSpec = Field(default_factory=SecretsSpec)
    smoke_test: SmokeTestSpec = Field(default_factory=SmokeTestSpec)
    shell_access: ShellAccessSpec
    backup: BackupSpec

    @property
    def resource_prefix(self) -> str:
        """Physical-name prefix shared by every named AWS resource, unique per stack."""
        return f"{self.project}-{self.stack}"

    @property
    def cluster_name(self) -> str:
        return self.resource_prefix

    @property
    def partition(self) -> str:
        """The AWS partition of the stack's region (`aws`, `aws-cn`, `aws-us-gov`)."""
        return aws_regions()[self.region].partition

    @property
    def default_tags(self) -> dict[str, str]:
        return environment_tags(self.project, self.stack, self.general)

    @property
    def hosted_small_stack_kind(self) -> StackKind | None:
        """The kind of pr-<n>/dev-<name> stack whose namespaces this cluster hosts, if any."""
        return next((k for k, parent in ALLOWED_PARENT.items() if parent == self.stack), None)

    def _database_restore_problems(self) -> list[Problem]:
        """The restored primary's identifier (and its replicas') fits RDS, and is not the source."""
        database = self.database
        if not database.restore_name:
            return []
        identifier = restore_identifier(self.resource_prefix, database.restore_name)
        replicas = database.read_replicas
        longest = f"{identifier}-replica-{replicas}" if replicas else identifier
        if len(longest) > RDS_IDENTIFIER_LIMIT:
            return [
                Problem(
                    _key("dbRestoreName"),
                    database.restore_name,
                    f"makes the identifier '{longest}' {len(longest)} characters long; RDS "
                    f"allows {RDS_IDENTIFIER_LIMIT}: choose a shorter name",
                )
            ]
        source = database.restore_source_identifier or self.resource_prefix
        if source != self.resource_prefix and not source.startswith(f"{self.resource_prefix}-"):
            return [
                Problem(
                    _key("dbRestoreSourceIdentifier"),
                    source,
                    f"must be one of this environment's own instances ('{self.resource_prefix}' "
                    f"or '{self.resource_prefix}-<name>'): restoring another environment's "
                    "backups would copy its data, unmasked, into this one (production data "
                    "reaches other environments only anonymised: README 'Production data in "
                    "staging')",
                )
            ]
        if source == identifier:
            return [
                Problem(
                    _key("dbRestoreName"),
                    database.restore_name,
                    f"names the source instance itself ('{source}'): a restore builds a NEW "
                    "instance, so give it a name the source does not have",
                )
            ]
        return []

    def cross_section_problems(self) -> list[Problem]:
        """Rules that tie keys of different sections together."""
        problems: list[Problem] = []
        if self.cluster.small_stack_deployer_role_arns and self.hosted_small_stack_kind is None:
            problems.append(
                Problem(
                    _key("clusterSmallStackDeployerRoleArns"),
                    self.cluster.small_stack_deployer_role_arns,
                    f"'{self.stack}' hosts no pr-<n> or dev-<name> stacks (staging hosts "
                    "pr-<n>, dev hosts dev-<name>); remove it",
                )
            )
        cache, zones = self.cache, self.network.availability_zone_count
        if cache.node_count > zones * 2:
            problems.append(
                Problem(
                    _key("cacheNodeCount"),
                    cache.node_count,
                    f"at most two nodes per availability zone ({zones * 2} with "
                    f"availabilityZoneCount {zones})",
                )
            )
        problems += self._unreachable_private_networks()
        problems += self.alerting.alertmanager_problems(self.monitoring.monitoring)
        problems += self._cost_control_problems()
        problems += self._data_sync_problems()
        problems += self._access_problems()
        problems += self._database_restore_problems()
        problems += self._smoke_test_problems()
        problems += self._backup_problems()
        if self.alerting.health_check_path and not (
            self.addons.domain and self.addons.load_balancer_controller
        ):
            problems.append(
                Problem(
                    _key("healthCheckPath"),
                    self.alerting.health_check_path,
                    "checks https://<domain><path> through the environment's ALB, so it needs "
                    "stagecraft:domain and loadBalancerController: true",
                )
            )
        if self.alerting.health_check_path and self.region != HEALTH_CHECK_METRICS_REGION:
            problems.append(
                Problem(
                    _key("healthCheckPath"),
                    self.alerting.health_check_path,
                    f"Route 53 publishes health-check metrics in {HEALTH_CHECK_METRICS_REGION} "
                    f"only, so the check's alarm cannot live in {self.region}; leave it empty "
                    "here",
                )
            )
        if (
            self.addons.cluster_autoscaler
            and self.cluster.kubernetes_version not in CLUSTER_AUTOSCALER
        ):
            problems.append(
                Problem(
                    _key("clusterAutoscaler"),
                    True,
                    f"no Cluster Autoscaler is pinned for Kubernetes "
                    f"{self.cluster.kubernetes_version} (its minor version must equal the "
                    f"cluster's; pinned: {', '.join(CLUSTER_AUTOSCALER)} in infra/charts.py); "
                    "set it false or move kubernetesVersion",
                )
            )
        return problems

    @property
    def budget_notifies_topic(self) -> bool:
        """The budget's notifications go to the environment's alert topic (it has one)."""
        return self.cost.budget_alert_topic and bool(self.alerting.alert_receivers)

    def _cost_control_problems(self) -> list[Problem]:
        """Who hears of the budget; what the off-hours schedule and Spot group need."""
        cost, problems = self.cost, []
        if not self.budget_notifies_topic and not cost.budget_alert_emails:
            problems.append(Problem(
                _key("budgetAlertEmails"), cost.budget_alert_emails,
                "must list at least one address: the stack's AWS budget tells nobody otherwise "
                "(" + ("budgetAlertTopic is false" if self.alerting.alert_receivers
                       else "it has no alertReceivers, so no alert topic") + ")"))  # fmt: skip
        hours = cost.working_hours
        if hours and self.general.protect_stateful_resources:
            problems.append(Problem(
                _key("workingHours"), hours,
                "stops the database every night, and protectStatefulResources says this "
                "stack's data must stay; remove one of the two"))  # fmt: skip
        if hours and self.database.read_replicas:
            problems.append(Problem(
                _key("workingHours"), hours,
                f"stops the database, and RDS cannot stop an instance that has read replicas "
                f"(dbReadReplicas is {self.database.read_replicas}); remove one of the "
                "two"))  # fmt: skip
        if hours and self.alerting.health_check_path:
            problems.append(Problem(
                _key("workingHours"), hours,
                "takes the application down every night, and healthCheckPath would then "
                "alarm every night; remove one of the two"))  # fmt: skip
        if hours and self.database.reset_schedule:
            problems += self._reset_in_working_hours()
        if self.cluster.spot_instance_types and not self.addons.cluster_autoscaler:
            problems.append(Problem(
                _key("spotInstanceTypes"), self.cluster.spot_instance_types,
                "need clusterAutoscaler: true, which starts Spot nodes for the pods that "
                "ask for them and replaces interrupted ones"))  # fmt: skip
        return problems

    def _access_problems(self) -> list[Problem]:
        """Database access for people is IAM authentication, so it needs it switched on."""
        if self.database.iam_authentication:
            return []
        return [
            Problem(a.key("Database"), a.database,
                    "logs in with an IAM token, so it needs dbIamAuthentication: true (or set "
                    "it to 'none')")
            for a in self.access.audiences() if a.database != "none"
        ]  # fmt: skip

    def _smoke_test_problems(self) -> list[Problem]:
        """The smoke test logs in as the application does: with an IAM token."""
        if self.smoke_test.smoke_test and not self.database.iam_authentication:
            return [Problem(
                _key("smokeTest"), True,
                "connects to the database as the application's IAM-authenticated user "
                "(no password anywhere); it needs dbIamAuthentication: true, or set "
                "smokeTest: false")]  # fmt: skip
        return []

    def _data_sync_problems(self) -> list[Problem]:
        """Export where the personal data lives, import anywhere else, never both ways."""
        sync, problems = self.data_sync, []
        production = self.tier.tier == "production"
        if sync.data_export and not production:
            problems.append(Problem(
                _key("dataExport"), True,
                f"only a production-tier stack exports ('{self.stack}' is "
                f"{self.tier.tier}): the dump is masked where the personal data lives, and a "
                "copy of a copy is taken with dataImport"))  # fmt: skip
        if sync.data_import and production:
            problems.append(Problem(
                _key("dataImport"), True,
                "a production-tier stack never loads a dump: it would replace production's "
                "database"))  # fmt: skip
        if sync.data_export or sync.data_import:
            # The jobs ship rules.yaml compiled: a mistake in it is refused here,
            # before anything is created, like a stack file's.
            try:
                load_rules()
            except RulesError as error:
                problems += [
                    Problem(f"infra/data_sync/{error.source}: {p.entry or '(file)'}", p.value,
                            p.message)
                    for p in error.problems
                ]  # fmt: skip
        if sync.data_export and not self.database.iam_authentication:
            problems.append(Problem(
                _key("dataExport"), True,
                "the export logs in with an IAM token (no password to leak); it needs "
                "dbIamAuthentication: true"))  # fmt: skip
        if self.cost.schedule is not None:
            for on, key, cron in (
                (sync.data_export, "dataExportSchedule", sync.data_export_schedule),
                (sync.data_import, "dataImportSchedule", sync.data_import_schedule),
            ):
                if on and not self._fires_in_working_hours(cron, sync.data_sync_time_zone):
                    problems.append(Problem(
                        _key(key), cron,
                        f"fires outside workingHours ({self.cost.working_hours} "
                        f"{self.cost.working_hours_time_zone}, "
                        f"{', '.join(self.cost.working_days)}), when there are no nodes and no "
                        f"database; give it an hour and minute inside them (at least "
                        f"{DATABASE_START_MINUTES} minutes after the start) on working days, "
                        "with dataSyncTimeZone equal to workingHoursTimeZone"))  # fmt: skip
        return problems

    def _backup_problems(self) -> list[Problem]:
        """The copy goes somewhere else, and a failed job reaches someone."""
        backup, problems = self.backup, []
        if backup.aws_backup and backup.backup_copy_region == self.region:
            problems.append(Problem(
                _key("backupCopyRegion"), backup.backup_copy_region,
                f"is the stack's own region ({self.region}): the copy is there for the day "
                "that region is lost; name another one, e.g. 'us-west-2'"))  # fmt: skip
        if backup.aws_backup and not self.alerting.alert_receivers:
            problems.append(Problem(
                _key("awsBackup"), True,
                "failed backup, copy and restore-test jobs alarm to the alert topic, and this "
                "stack has none: list a receiver in stagecraft:alertReceivers"))  # fmt: skip
        return problems

    def _fires_in_working_hours(self, cron: str, time_zone: str) -> bool:
        """Whether a job's cron (in ``time_zone``) only fires when nodes and database run."""
        schedule = self.cost.schedule
        assert schedule is not None
        earliest = off_hours.minutes_of(schedule.start) + DATABASE_START_MINUTES
        latest = off_hours.minutes_of(schedule.end)
        fields = cron.split()
        days = off_hours.cron_weekdays(fields[4])
        utc = {"UTC", "Etc/UTC"}
        same_zone = time_zone == self.cost.working_hours_time_zone or (
            time_zone in utc and self.cost.working_hours_time_zone in utc
        )
        return (
            same_zone
            and fields[0].isdigit()
            and fields[1].isdigit()
            and fields[2] == fields[3] == "*"
            and days is not None
            and days <= set(schedule.days)
            and earliest <= int(fields[1]) * 60 + int(fields[0]) < latest
        )

    def _reset_in_working_hours(self) -> list[Problem]:
        """The sandbox's reset Job needs nodes and a running database: inside working hours."""
        schedule = self.cost.schedule
        assert schedule is not None
        earliest = off_hours.minutes_of(schedule.start) + DATABASE_START_MINUTES
        if self._fires_in_working_hours(self.database.reset_schedule, "UTC"):
            return []
        return [
            Problem(
                _key("dbResetSchedule"),
                self.database.reset_schedule,
                f"must fire on working days ({', '.join(schedule.days)}) between "
                f"{earliest // 60:02d}:{earliest % 60:02d} and {schedule.end} UTC, with "
                "workingHoursTimeZone: UTC: outside workingHours there are no nodes to run "
                f"it and no database to reset (the database takes up to "
                f"{DATABASE_START_MINUTES} minutes to start), e.g. "
                f"'{earliest % 60} {earliest // 60} * * 1-5'",
            )
        ]

    def _unreachable_private_networks(self) -> list[Problem]:
        """Operator networks the private API endpoint is opened to but no route reaches.

        A security group rule alone opens nothing: the VPC needs a route back to
        the network (the transit gateway routes), or `pulumi up` from that
        network times out the moment it creates the first Kubernetes object.
        """
        reachable = [self.network.vpc_cidr, *self.network.transit_gateway_routes]
        unreachable = [
            cidr
            for cidr in self.cluster.private_access_cidrs
            if not any(cidr_within(cidr, network) for network in reachable)
        ]
        if not unreachable:
            return []
        return [
            Problem(
                _key("clusterPrivateAccessCidrs"),
                unreachable,
                "no route from the VPC reaches these networks: list them (or a network "
                "containing them) in transitGatewayRoutes with transitGatewayId, or remove "
                "them and deploy from inside the VPC",
            )
        ]

    def tier_problems(self) -> list[Problem]:
        """What a production-tier stack must never allow (README 'Production rules')."""
        problems: list[Problem] = []
        if self.stack == "production" and self.tier.tier != "production":
            problems.append(
                Problem(
                    _key("tier"),
                    self.tier.tier,
                    "the production stack is production-tier; its rules cannot be switched off",
                )
            )
        if self.tier.tier != "production":
            return problems
        cluster, database, cache = self.cluster, self.database, self.cache
        network, general = self.network, self.general
        rules: list[tuple[str, object, bool, str]] = [
            ("nodeMinSize", cluster.node_min_size,
             cluster.node_min_size >= PRODUCTION_MIN_NODES,
             f"must be at least {PRODUCTION_MIN_NODES} in production: a node group that may "
             "scale below two nodes loses every pod with one node"),
            ("clusterEndpointPublic", cluster.endpoint_public, not cluster.endpoint_public,
             "must be false in production: the API is reached through the private endpoint "
             "(Security Hub EKS.1)"),
            ("clusterDeveloperAccess", cluster.developer_access,
             cluster.developer_access == "view",
             "must be 'view' in production: only admin roles change production"),
            ("clusterLogTypes", cluster.control_plane_log_types,
             set(cluster.control_plane_log_types) == set(CONTROL_PLANE_LOG_TYPES),
             f"must list all five in production ({', '.join(CONTROL_PLANE_LOG_TYPES)}; "
             "Security Hub EKS.8)"),
            ("auditLogRetentionDays", self.tier.audit_log_retention_days,
             self.tier.audit_log_retention_days >= PRODUCTION_MIN_AUDIT_LOG_DAYS,
             f"must be at least {PRODUCTION_MIN_AUDIT_LOG_DAYS} in production: auditors ask "
             "for a year of audit trail (Security Hub CloudWatch.16)"),
            ("natGatewayStrategy", network.nat_gateway_strategy,
             network.nat_gateway_strategy == "per_az",
             "must be 'per_az' in production: one zone's outage must not cut the others' "
             "egress"),
            ("vpcFlowLogs", network.flow_logs, network.flow_logs,
             "must be true in production (Security Hub EC2.6)"),
            ("dbMultiAz", database.multi_az, database.multi_az,
             "must be true in production (Security Hub RDS.5)"),
            ("dbBackupRetentionDays", database.backup_retention_days,
             database.backup_retention_days >= PRODUCTION_MIN_BACKUP_DAYS,
             f"must be at least {PRODUCTION_MIN_BACKUP_DAYS} in production (Security Hub "
             "RDS.11)"),
            ("dbDeletionProtection", database.deletion_protection, database.deletion_protection,
             "must be true in production (Security Hub RDS.8)"),
            ("dbFinalSnapshot", database.final_snapshot, database.final_snapshot,
             "must be true in production: deleting the database keeps a last snapshot"),
            ("dbResetSchedule", database.reset_schedule, not database.reset_schedule,
             "must be empty in production: it would empty the production database"),
            ("cacheNodeCount", cache.node_count, cache.node_count >= 2,
             "must be at least 2 in production: a replica to fail over to (Security Hub "
             "ElastiCache.3)"),
            ("cacheSnapshotRetentionDays", cache.snapshot_retention_days,
             cache.snapshot_retention_days >= 1,
             "must be at least 1 in production (Security Hub ElastiCache.1)"),
            ("protectStatefulResources", general.protect_stateful_resources,
             general.protect_stateful_resources,
             "must be true in production: no `pulumi up` or `destroy` deletes data"),
            ("externalDnsPolicy", self.addons.external_dns_policy,
             self.addons.external_dns_policy == "upsert-only",
             "must be 'upsert-only' in production: external-dns never deletes a record there"),
            ("ingressDeletionProtection", self.addons.ingress_deletion_protection,
             self.addons.ingress_deletion_protection or not self.addons.load_balancer_controller,
             "must be true in production (Security Hub ELB.6)"),
            ("clusterAutoscaler", self.addons.cluster_autoscaler, self.addons.cluster_autoscaler,
             "must be true in production: without it nodeMaxSize is never reached"),
            ("cloudTrail", self.tier.cloud_trail, self.tier.cloud_trail,
             "must be true in production: the seeds ask for CloudTrail 'to track every action "
             "in production' (Security Hub CloudTrail.1)"),
            ("cloudTrailRetentionDays", self.tier.cloud_trail_retention_days,
             self.tier.cloud_trail_retention_days >= PRODUCTION_MIN_AUDIT_LOG_DAYS,
             f"must be at least {PRODUCTION_MIN_AUDIT_LOG_DAYS} in production: a year of "
             "audit trail, like auditLogRetentionDays"),
            ("monitoring", self.monitoring.monitoring, self.monitoring.monitoring,
             "must be true in production: metrics, logs and traces of what is running"),
            ("longTermMetrics", self.monitoring.long_term_metrics,
             self.monitoring.long_term_metrics or not self.monitoring.monitoring,
             "must be true in production: metrics are kept in S3 beyond Prometheus's volume"),
            ("alertReceivers", self.alerting.alert_receivers,
             bool(self.alerting.alert_receivers),
             "must list at least one receiver in production: alarms nobody hears are not "
             "alarms (the seeds page PagerDuty around the clock)"),
            ("workingHours", self.cost.working_hours, not self.cost.working_hours,
             "must be empty in production: production runs around the clock"),
            ("sessionLogRetentionDays", self.shell_access.session_log_retention_days,
             self.shell_access.session_log_retention_days >= PRODUCTION_MIN_AUDIT_LOG_DAYS
             or not self.shell_access.bastion,
             f"must be at least {PRODUCTION_MIN_AUDIT_LOG_DAYS} in production: what was typed "
             "on the bastion is audit trail, kept as long as auditLogRetentionDays"),
            ("healthCheckPath", self.alerting.health_check_path,
             bool(self.alerting.health_check_path) or not self.addons.load_balancer_controller
             or self.region != HEALTH_CHECK_METRICS_REGION,
             "must be set in production: a synthetic check of the public health endpoint "
             "tells the on-call before users do"),
            ("secretRotationDays", self.secrets.secret_rotation_days,
             self.secrets.secret_rotation_days <= PRODUCTION_MAX_SECRET_ROTATION_DAYS,
             f"must be at most {PRODUCTION_MAX_SECRET_ROTATION_DAYS} in production: the seeds "
             "rotate production's secrets every 90 days"),
            ("awsBackup", self.backup.aws_backup, self.backup.aws_backup,
             "must be true in production: the seeds ask for backups kept in a second region "
             "and a disaster-recovery test every quarter"),
            ("backupCopyRegion", self.backup.backup_copy_region,
             bool(self.backup.backup_copy_region) or not self.backup.aws_backup,
             "must name a second region in production: a backup in the same region is lost "
             "with it"),
            ("backupVaultLock", self.backup.backup_vault_lock,
             self.backup.backup_vault_lock != "off" or not self.backup.aws_backup,
             "must be 'governance' or 'compliance' in production: nobody deletes a backup "
             "before its retention ends"),
            ("backupRetentionDays", self.backup.backup_retention_days,
             self.backup.backup_retention_days >= PRODUCTION_MIN_BACKUP_DAYS
             or not self.backup.aws_backup,
             f"must be at least {PRODUCTION_MIN_BACKUP_DAYS} in production"),
        ]  # fmt: skip
        for key, value, holds, rule in rules:
            if not holds:
                problems.append(Problem(_key(key), value, rule))
        problems += self.access.production_problems()
        return problems


def environment_tags(project: str, stack: str, general: GeneralSpec) -> dict[str, str]:
    """The tags every AWS resource of a stack carries (the provider's default tags)."""
    return {
        "environment": stack,
        "project": project,
        "stack": f"{project}/{stack}",
        "managed-by": "pulumi",
        "owner": general.owner,
        "cost-center": general.cost_center,
    }


def database_admin_namespace(stack: str) -> str:
    """Where a small stack's database Jobs run, apart from its application."""
    return f"{stack}-dbadmin"


class EphemeralStackConfig(BaseModel):
    """A `pr-<n>` or `dev-<name>` stack: its own namespace, database and secrets on a
    shared cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str
    stack: str
    kind: StackKind
    region: str
    general: GeneralSpec
    workloads: WorkloadsSpec
    shared: EphemeralSpec

    @property
    def resource_prefix(self) -> str:
        return f"{self.project}-{self.stack}"

    @property
    def database_name(self) -> str:
        return self.stack

    @property
    def database_role(self) -> str:
        return self.stack

    @property
    def redis_key_prefix(self) -> str:
        # The shared Redis is one keyspace; a prefix per stack keeps each
        # environment's keys apart without the 16-database limit.
        return f"{self.stack}:"

    @property
    def default_tags(self) -> dict[str, str]:
        return {
            **environment_tags(self.project, self.stack, self.general),
            "shared-stack": self.shared.shared_stack,
            "ttl": self.shared.ttl,
            "expires-at": self.shared.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


# --------------------------------------------------------------------------- #
# The bootstrap: what every environment stands on, once per AWS account
# --------------------------------------------------------------------------- #

_GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_GITHUB_REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,49}[a-z0-9]$")
# The access-log bucket is named after the state bucket plus this; S3 names
# are at most 63 characters.
ACCESS_LOG_BUCKET_SUFFIX = "-access-logs"


def environment_boundary_name(project: str, environment: str) -> str:
    """The permissions boundary (made by the bootstrap) every IAM role of an environment
    carries: `stagecraft-staging-boundary`."""
    return f"{project}-{environment}-boundary"


# The GitHub environment whose jobs deploy pr-<n> stacks.
PREVIEW_ENVIRONMENTS = "preview-environments"


FullEnvironment = Literal["dev", "sandbox", "staging", "production"]


def _staging_imports() -> list[FullEnvironment]:
    return ["staging"]


def _every_environment() -> list[FullEnvironment]:
    return ["dev", "sandbox", "staging", "production"]


def _deployed_by_ci() -> list[FullEnvironment]:
    return ["staging", "production"]


def _previewed_by_ci() -> list[FullEnvironment]:
    return ["dev", "staging", "sandbox"]


def _planned_before_deploy() -> list[FullEnvironment]:
    return ["production"]


class BootstrapSpec(Section):
    """The account around the environments: state backend, keys, CI identity and roles."""

    title: ClassVar[str] = "Bootstrap"

    owner: str = Field(
        alias="owner",
        min_length=1,
        max_length=256,
        description="Team that owns the account's platform resources; the `owner` tag.",
    )
    cost_center: str = Field(
        alias="costCenter",
        min_length=1,
        max_length=256,
        description="Cost center billed for them; the `cost-center` tag.",
    )
    aws_account_id: str = _account_id_field()
    github_repository: str = Field(
        alias="githubRepository",
        description=(
            "The repository (`<owner>/<name>`) whose workflows may assume the CI roles; "
            "every trust policy pins it in the token's `sub`."
        ),
    )
    github_owner_id: int = Field(
        0,
        alias="githubOwnerId",
        ge=0,
        description=(
            "Numeric id of the repository's owner, with `githubRepositoryId`, for GitHub's "
            "immutable OIDC subjects (`repo:<owner>@<id>/<name>@<id>:...`): repositories "
            "created, renamed or transferred since 2026-07-15 send those. `gh api "
            "repos/<owner>/<name> --jq .owner.id`; 0: the name-only subject."
        ),
    )
    github_repository_id: int = Field(
        0,
        alias="githubRepositoryId",
        ge=0,
        description="Numeric id of the repository (`gh api repos/<owner>/<name> --jq .id`).",
    )
    github_oidc_provider: Literal["create", "existing"] = Field(
        "create",
        alias="githubOidcProvider",
        description=(
            "`create` the account's GitHub Actions OIDC identity provider, or use the "
            "`existing` one (an account holds one per URL; creating a second fails)."
        ),
    )
    cost_allocation_tag: bool = Field(
        False,
        alias="costAllocationTag",
        description=(
            "Activate the `stack` tag as a cost-allocation tag, which every environment's "
            "AWS budget filters on (until then the budgets count nothing). AWS accepts it "
            "only once the tag has appeared in the bill, up to a day after the first tagged "
            "resource, and only from a standalone or an organization's management account: "
            "turn it on the day after the first environment is deployed, or activate "
            "the tag in the management account (README 'Budgets')."
        ),
    )
    drift_check: bool = Field(
        True,
        alias="driftCheck",
        description=(
            "A read-only role for the scheduled drift check (drift.yml: `stagecraft verify "
            "--stack production`), trusted by the `drift-check` GitHub environment's jobs only."
        ),
    )
    state_bucket_name: str = Field(
        "",
        alias="stateBucketName",
        description=(
            "S3 bucket of the Pulumi state (3-51 characters: lowercase letters, digits, "
            "hyphens). Empty: `stagecraft-pulumi-state-<account id>-<region>`. A change "
            "replaces the bucket: move the state first."
        ),
    )
    state_version_retention_days: int = Field(
        90,
        alias="stateVersionRetentionDays",
        ge=1,
        le=3650,
        description=(
            "Days a replaced or deleted state file's old version is kept: how far back a "
            "stack's state can be restored."
        ),
    )
    access_log_retention_days: int = Field(
        365,
        alias="accessLogRetentionDays",
        ge=1,
        le=3650,
        description="Days the state bucket's S3 server access logs are kept.",
    )
    environments: list[FullEnvironment] = Field(
        default_factory=_every_environment,
        alias="environments",
        description=(
            "Full environments this account hosts; each gets its own KMS key for its "
            "stack's secrets provider."
        ),
    )
    data_sync_importers: list[FullEnvironment] = Field(
        default_factory=_staging_imports,
        alias="dataSyncImporters",
        description=(
            "Environments that load dataSyncExporter's anonymised dumps (README 'Production "
            "data in staging'). Only their permissions boundaries let a role decrypt, "
            "through S3, that one bucket's objects; every other boundary denies all of "
            "another environment's keys."
        ),
    )
    data_sync_exporter: FullEnvironment = Field(
        "production",
        alias="dataSyncExporter",
        description="The environment whose anonymised dumps dataSyncImporters load.",
    )
    deploy_environments: list[FullEnvironment] = Field(
        default_factory=_deployed_by_ci,
        alias="deployEnvironments",
        description=(
            "Environments CI deploys; each gets a deploy role trusted only by jobs of the "
            "GitHub environment of the same name (give it deployment branch rules: `main`, "
            "release tags)."
        ),
    )
    plan_environments: list[FullEnvironment] = Field(
        default_factory=_planned_before_deploy,
        alias="planEnvironments",
        description=(
            "Deploy environments whose reviewers approve a saved plan first "
            "(deploy-production.yml): each gets a read-only plan role, trusted only by jobs "
            "of the GitHub environment `<environment>-plan`."
        ),
    )
    preview_stacks: list[FullEnvironment] = Field(
        default_factory=_previewed_by_ci,
        alias="previewStacks",
        description=(
            "Environments the pull-request preview role may read (state, resources); never "
            "production, whose state holds its secrets: a pull request's code runs with "
            "this role."
        ),
    )
    allow_placeholder_values: bool = Field(
        False,
        alias="allowPlaceholderValues",
        description=(
            "Accept documentation values (the octo-org GitHub owner, the example account): "
            "offline plans set it; leave it unset in a stack file."
        ),
    )

    @field_validator("aws_account_id")
    @classmethod
    def _account_is_twelve_digits(cls, value: str) -> str:
        return check_account_id(value)

    @field_validator("github_repository")
    @classmethod
    def _repository_slug(cls, value: str) -> str:
        owner, _, name = value.partition("/")
        if not _GITHUB_OWNER.fullmatch(owner) or not _GITHUB_REPOSITORY_NAME.fullmatch(name):
            raise ValueError("must be '<owner>/<name>' as GitHub spells it, e.g. 'acme/stagecraft'")
        return value

    @field_validator("state_bucket_name")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if value and (
            not _BUCKET_NAME.fullmatch(value)
            or "--" in value
            or value.startswith(("xn--", "sthree-"))
            or value.endswith(("-s3alias", "--ol-s3"))
        ):
            raise ValueError(
                "must be an S3 bucket name of 3-51 characters (lowercase letters, digits, "
                "single hyphens, a letter or digit at each end), leaving room for "
                f"'{ACCESS_LOG_BUCKET_SUFFIX}'; empty for the default name"
            )
        return value

    @field_validator("environments", "deploy_environments", "plan_environments", "preview_stacks")
    @classmethod
    def _no_duplicate_environments(cls, value: list[str]) -> list[str]:
        return _no_duplicates(value)

    def rule_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        if bool(self.github_owner_id) != bool(self.github_repository_id):
            problems.append(
                Problem(
                    _key("githubRepositoryId" if self.github_owner_id else "githubOwnerId"),
                    self.github_repository_id or self.github_owner_id,
                    "githubOwnerId and githubRepositoryId go together (the immutable subject "
                    "names both); set both or neither",
                )
            )
        for key, listed in (
            ("deployEnvironments", self.deploy_environments),
            ("previewStacks", self.preview_stacks),
        ):
            missing = [e for e in listed if e not in self.environments]
            if missing:
                problems.append(
                    Problem(
                        _key(key),
                        listed,
                        f"names {', '.join(missing)}, which `environments` does not list",
                    )
                )
        strangers = [
            e for e in [*self.data_sync_importers, self.data_sync_exporter]
            if e not in self.environments
        ]  # fmt: skip
        if strangers or self.data_sync_exporter in self.data_sync_importers:
            problems.append(
                Problem(
                    _key("dataSyncImporters"),
                    self.data_sync_importers,
                    f"must list environments `environments` lists, other than "
                    f"dataSyncExporter ({self.data_sync_exporter})",
                )
            )
        unplanned = [e for e in self.plan_environments if e not in self.deploy_environments]
        if unplanned:
            problems.append(
                Problem(
                    _key("planEnvironments"),
                    self.plan_environments,
                    f"names {', '.join(unplanned)}, which `deployEnvironments` does not list: "
                    "only a deployed environment has a plan to approve",
                )
            )
        if "production" in self.preview_stacks:
            problems.append(
                Problem(
                    _key("previewStacks"),
                    self.preview_stacks,
                    "must not include production: the preview role runs a pull request's "
                    "unreviewed code, and production's state holds its secrets; production "
                    "is previewed by deploy-production.yml with its own role",
                )
            )
        return problems

    @property
    def github_owner(self) -> str:
        return self.github_repository.split("/", 1)[0]

    @property
    def github_name(self) -> str:
        return self.github_repository.split("/", 1)[1]


BOOTSTRAP_SECTIONS: tuple[type[Section], ...] = (BootstrapSpec,)


class BootstrapStackConfig(BaseModel):
    """The bootstrap stack of one AWS account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str
    stack: str
    region: str
    bootstrap: BootstrapSpec

    @property
    def hosts_previews(self) -> bool:
        """pr-<n> stacks run on staging's cluster: their role exists where staging does."""
        return ALLOWED_PARENT["preview"] in self.bootstrap.environments

    @property
    def default_tags(self) -> dict[str, str]:
        # No `environment` tag: these serve every environment, and the deploy
        # roles refuse to touch anything tagged with another environment.
        return {
            "project": self.project,
            "stack": f"{self.project}/{self.stack}",
            "managed-by": "pulumi",
            "owner": self.bootstrap.owner,
            "cost-center": self.bootstrap.cost_center,
        }


def _alias_of(section: type[Section], field_name: str) -> str:
    alias = section.model_fields[field_name].alias
    assert alias is not None, f"{section.__name__}.{field_name} has no config key"
    return alias


# --------------------------------------------------------------------------- #
# The key catalogue: what Pulumi.yaml declares and the README documents
# --------------------------------------------------------------------------- #


PulumiType = Literal["string", "integer", "boolean", "array"]


@dataclass(frozen=True)
class ConfigKey:
    """One config key as a user sees it."""

    name: str  # without the project namespace
    section: type[Section]
    field_name: str
    pulumi_type: PulumiType
    item_type: PulumiType | None
    description: str
    required: bool
    default: object
    secret: bool = False

    @property
    def namespaced(self) -> str:
        return _key(self.name)

    @property
    def allowed_values(self) -> tuple[object, ...] | None:
        annotation = self.section.model_fields[self.field_name].annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        if get_origin(annotation) is Literal:
            return get_args(annotation)
        return None


def _pulumi_type(annotation: object) -> PulumiType:
    if get_origin(annotation) is list:
        return "array"
    if get_origin(annotation) is Literal:
        return _pulumi_type(type(get_args(annotation)[0]))
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is str or annotation is SecretStr:
        return "string"
    raise TypeError(f"no Pulumi config type for {annotation!r}")


def _default_of(info: FieldInfo) -> object:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def config_keys(sections: tuple[type[Section], ...] = SECTIONS) -> list[ConfigKey]:
    """Every key a stack file of a project with ``sections`` may set, in section order."""
    keys: list[ConfigKey] = []
    for section in sections:
        for field_name, info in section.model_fields.items():
            assert info.alias is not None, f"{section.__name__}.{field_name} needs a config key"
            annotation = info.annotation
            item_type: PulumiType | None = None
            if get_origin(annotation) is list:
                item_type = _pulumi_type(get_args(annotation)[0])
            keys.append(
                ConfigKey(
                    name=info.alias,
                    section=section,
                    field_name=field_name,
                    pulumi_type=_pulumi_type(annotation),
                    item_type=item_type,
                    description=info.description or "",
                    required=info.is_required(),
                    default=None if info.is_required() else _default_of(info),
                    secret=is_secret_key(section, field_name),
                )
            )
    return keys


def project_config_schema(
    sections: tuple[type[Section], ...] = SECTIONS,
) -> dict[str, dict[str, object]]:
    """The `config:` block of a Pulumi.yaml, as the models define it."""
    schema: dict[str, dict[str, object]] = {}
    for key in config_keys(sections):
        if key.secret:
            continue  # see _secret_field: a declared secret key could not be optional
        entry: dict[str, object] = {"type": key.pulumi_type}
        if key.item_type is not None:
            entry["items"] = {"type": key.item_type}
        entry["description"] = key.description
        if not key.required:
            entry["default"] = key.default
        schema[key.name] = entry
    return schema


# --------------------------------------------------------------------------- #
# Parsing
# --------------------------------------------------------------------------- #

REGION_KEY = "aws:region"


def _coerce(key: ConfigKey, raw: object) -> tuple[object, Problem | None]:
    """Turn a raw config value (the CLI hands programs strings) into the key's type."""
    if isinstance(raw, str):
        text = raw.strip()
        try:
            if key.pulumi_type == "integer":
                return int(text), None
            if key.pulumi_type == "boolean":
                if text.lower() not in {"true", "false"}:
                    return raw, Problem(key.namespaced, raw, "must be true or false")
                return text.lower() == "true", None
            if key.pulumi_type == "array":
                value = json.loads(text)
                if not isinstance(value, list):
                    raise ValueError
                return value, None
        except ValueError:
            wanted = "a whole number" if key.pulumi_type == "integer" else "a list, e.g. [a, b]"
            return raw, Problem(key.namespaced, raw, f"must be {wanted}")
        return raw, None
    # Already typed (an offline stack file read as YAML): check the shape only.
    expected: dict[PulumiType, type | tuple[type, ...]] = {
        "string": (str, int, float),
        "integer": int,
        "boolean": bool,
        "array": list,
    }
    wanted_type = expected[key.pulumi_type]
    if isinstance(raw, bool) and key.pulumi_type != "boolean":
        wanted_type = ()
    if not isinstance(raw, wanted_type):
        names = {"string": "a string", "integer": "a whole number", "boolean": "true or false"}
        return raw, Problem(key.namespaced, raw, f"must be {names.get(key.pulumi_type, 'a list')}")
    if key.pulumi_type == "string" and not isinstance(raw, str):
        return str(raw), None
    return raw, None


def _describe_allowed(error: Mapping[str, Any]) -> list[str]:
    """pydantic's error, reworded as 'what is allowed'."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "value_error":
        return [str(ctx.get("error", error["msg"]))]
    if kind == "missing":
        return ["is required in every stack file (no safe default exists)"]
    if kind == "literal_error":
        return [f"must be one of {ctx['expected']}"]
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        words = {
            "greater_than_equal": "at least",
            "greater_than": "greater than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }
        bound = next(iter(ctx.values()))
        return [f"must be {words[kind]} {bound}"]
    if kind in {"string_too_short", "string_too_long"}:
        return [error["msg"].replace("String should", "must")]
    return [error["msg"]]


def parse_stack_config(
    values: Mapping[str, object],
    *,
    project: str,
    stack: str,
    secret_keys: Collection[str] = (),
) -> StackConfig:
    """Validate a full environment's config map (namespaced keys) into a :class:`StackConfig`.

    ``secret_keys`` are the keys the stack file holds as `secure:` values.
    Raises :class:`ConfigError` listing every problem found; nothing partial
    is returned, and no secret value is ever repeated in a message.
    """
    name_problems = []
    kind = stack_kind(stack)
    if kind is None:
        name_problems.append(Problem("stack", stack, STACK_NAME_RULE))
    elif kind != "environment":
        name_problems.append(
            Problem(
                "stack",
                stack,
                "pr-<n> and dev-<name> stacks share a cluster: they live in the ephemeral/ "
                "project (create one with `stagecraft env create`)",
            )
        )
    specs, region = _parse_sections(
        values, project, stack, SECTIONS, secret_keys, problems=name_problems
    )
    config = StackConfig(
        project=project,
        stack=stack,
        region=region,
        general=_typed(specs, GeneralSpec),
        tier=_typed(specs, TierSpec),
        network=_typed(specs, NetworkSpec),
        cluster=_typed(specs, ClusterSpec),
        database=_typed(specs, DatabaseSpec),
        cache=_typed(specs, CacheSpec),
        workloads=_typed(specs, WorkloadsSpec),
        addons=_typed(specs, AddonsSpec),
        monitoring=_typed(specs, MonitoringSpec),
        alerting=_typed(specs, AlertingSpec),
        cost=_typed(specs, CostControlsSpec),
        data_sync=_typed(specs, DataSyncSpec),
        access=_typed(specs, AccessSpec),
        secrets=_typed(specs, SecretsSpec),
        smoke_test=_typed(specs, SmokeTestSpec),
        shell_access=_typed(specs, ShellAccessSpec),
        backup=_typed(specs, BackupSpec),
    )
    cross = config.cross_section_problems() + config.tier_problems()
    if cross:
        raise ConfigError(stack, cross)
    return config


def parse_ephemeral_config(
    values: Mapping[str, object],
    *,
    project: str,
    stack: str,
    secret_keys: Collection[str] = (),
) -> EphemeralStackConfig:
    """Validate a `pr-<n>` or `dev-<name>` stack's config map."""
    problems: list[Problem] = []
    kind = stack_kind(stack)
    if kind not in ("preview", "developer"):
        problems.append(
            Problem(
                "stack",
                stack,
                "the ephemeral project holds pr-<1..999999> and dev-<lowercase name> stacks; "
                + (
                    "full environments live in the project root"
                    if kind == "environment"
                    else STACK_NAME_RULE
                ),
            )
        )
    specs, region = _parse_sections(
        values, project, stack, EPHEMERAL_SECTIONS, secret_keys, problems=problems
    )
    shared = _typed(specs, EphemeralSpec)
    assert kind in ("preview", "developer")
    allowed = ALLOWED_PARENT[kind]
    kind_prefix = "pr" if kind == "preview" else "dev"
    if shared.parent_stack != allowed or shared.shared_stack.split("/")[1] != project:
        raise ConfigError(
            stack,
            [
                Problem(
                    _key("sharedStack"),
                    shared.shared_stack,
                    f"a {kind_prefix}-* stack may only share '{allowed}' of project "
                    f"'{project}' (<organization>/{project}/{allowed}); it can never use "
                    "another environment's resources",
                )
            ],
        )
    return EphemeralStackConfig(
        project=project,
        stack=stack,
        kind=kind,
        region=region,
        general=_typed(specs, GeneralSpec),
        workloads=_typed(specs, WorkloadsSpec),
        shared=shared,
    )


def _parse_sections(
    values: Mapping[str, object],
    project: str,
    stack: str,
    sections: tuple[type[Section], ...],
    secret_keys: Collection[str],
    *,
    problems: list[Problem],
) -> tuple[dict[type[Section], Section], str]:
    """Every section's spec and the region, or ConfigError with all the problems."""
    keys_by_name = {key.name: key for key in config_keys(sections)}
    prefix = f"{project}:"
    by_section: dict[type[Section], dict[str, object]] = {s: {} for s in sections}
    mistyped: set[str] = set()  # already reported; not "missing" as well
    misspelt: set[type[Section]] = set()  # sections with a key that looks misspelt
    coerced: dict[str, object] = {}  # typed values (lists as lists), for the placeholder scan

    for full_key, raw in values.items():
        if full_key.startswith("aws:") and full_key != REGION_KEY:
            problems.append(_ignored_provider_setting(full_key, raw))
            continue
        if not full_key.startswith(prefix):
            continue  # other namespaces (pulumi:, datadog:, ...) are not ours
        name = full_key[len(prefix) :]
        key = keys_by_name.get(name)
        if key is not None and key.secret:
            secret = raw
            if isinstance(raw, Mapping) and set(raw) == {"secure"}:
                # A stack file read as YAML: the ciphertext, which nobody decrypted.
                documentation = raw["secure"] == documentation_values.DOCUMENTATION_CIPHERTEXT
                secret = DOCUMENTATION_SECRET if documentation else UNDECRYPTED_SECRET
            elif full_key not in secret_keys and raw not in ("", None):
                problems.append(
                    Problem(
                        full_key,
                        "[secret]",
                        "holds a secret in plain text; store it encrypted with `pulumi config "
                        f"set --secret {full_key}` (it prompts for the value), and if the plain "
                        "one was ever committed or shared, rotate it",
                    )
                )
            by_section[key.section][name] = SecretStr("" if secret is None else str(secret))
            if secret == DOCUMENTATION_SECRET:
                coerced[full_key] = secret  # the placeholder scan refuses it for a real deploy
            continue
        if full_key in secret_keys:
            # Only the secret keys are secrets: any other value stored with
            # --secret would end up in plain text (tags, resource inputs).
            problems.append(
                Problem(
                    full_key,
                    "[secret]",
                    "is stored as a secret (`pulumi config set --secret`), but it is not one "
                    "of stagecraft's secret keys (README 'Config keys' marks them) and would "
                    "be written in plain text; set it without --secret"
                    + ("" if key else " (and it is not a known key either)"),
                )
            )
            mistyped.add(name)
            continue
        if key is None:
            close = difflib.get_close_matches(name, keys_by_name, n=1)
            hint = f"did you mean '{prefix}{close[0]}'?" if close else "see README 'Config keys'"
            problems.append(Problem(full_key, _as_written(raw), f"is not a known key; {hint}"))
            if close:
                # Its section's rules would judge the default the typo left in
                # place ("remove the Slack settings"): advice to undo good settings.
                misspelt.add(keys_by_name[close[0]].section)
            continue
        value, problem = _coerce(key, raw)
        if problem:
            problems.append(problem)
            mistyped.add(name)
            continue
        by_section[key.section][name] = value
        coerced[full_key] = value

    region = values.get(REGION_KEY)
    region_problem = _region_problem(region)
    if region_problem is not None:
        problems.append(region_problem)

    specs: dict[type[Section], Section] = {}
    for section, section_values in by_section.items():
        try:
            specs[section] = section.model_validate(section_values)
        except ValidationError as exc:
            for error in exc.errors():
                rule_failure = error.get("ctx", {}).get("error")
                if isinstance(rule_failure, _RuleViolationError):
                    if section not in misspelt:
                        problems.extend(rule_failure.problems)
                    continue
                name = str(error["loc"][0]) if error["loc"] else "?"
                if error["type"] == "missing" and name in mistyped:
                    continue
                given = section_values.get(name, _UNSET)
                for allowed in _describe_allowed(error):
                    problems.append(Problem(_key(name), given, allowed))

    # Read from the value itself: its section may have failed for another key.
    if (
        "allowPlaceholderValues" in keys_by_name
        and coerced.get(f"{prefix}allowPlaceholderValues") is not True
    ):
        problems.extend(_documentation_value_problems(coerced, stack))
    if problems:
        raise ConfigError(stack, problems)
    return specs, str(region)


def _as_written(raw: object) -> object:
    """A value the CLI handed over as JSON text (a list, a map), shown as the file has it."""
    if isinstance(raw, str) and raw[:1] in "[{":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _documentation_value_problems(values: Mapping[str, object], stack: str) -> list[Problem]:
    """Documentation values a real deploy cannot use, each with where to set the real one."""
    found = [
        hit
        for full_key, value in values.items()
        for hit in documentation_values.find(full_key, value)
    ]
    return [
        Problem(
            hit.path,
            hit.value,
            f"is {hit.reason}: set yours with `pulumi config set --secret {hit.path} --stack "
            f"{stack}` (it prompts; README 'Deploy for real'); documentation values plan "
            "offline only"
            if hit.value == DOCUMENTATION_SECRET
            else f"is {hit.reason}: set the real one in Pulumi.{stack}.yaml (README 'Deploy for "
            "real'); documentation values plan offline only",
        )
        for hit in found
    ]


def _ignored_provider_setting(key: str, raw: object) -> Problem:
    """An `aws:` key other than aws:region: the program would silently ignore it.

    Every AWS resource goes through the environment's explicit provider
    (default tags, region), and an explicit provider does not read the stack's
    `aws:` settings; credentials come from the environment (AWS_PROFILE, SSO,
    OIDC in CI).  A misspelled aws:region is named as such.
    """
    shown = "[secret]" if isinstance(raw, str) and raw.startswith("(secure") else raw
    if difflib.get_close_matches(key, [REGION_KEY], n=1, cutoff=0.8):
        return Problem(key, shown, f"is not a known key; did you mean '{REGION_KEY}'?")
    return Problem(
        key,
        shown,
        "is ignored: stagecraft's AWS provider reads only aws:region from the stack file; "
        "set credentials in the environment (AWS_PROFILE, aws sso login, OIDC in CI)",
    )


@dataclass(frozen=True)
class Region:
    """An AWS region as botocore's endpoint data describes it."""

    name: str
    partition: str
    services: frozenset[str]


@cache
def aws_regions() -> dict[str, Region]:
    """Every region in the endpoint data botocore ships (no network, no hand-kept list).

    The data is the one the installed botocore uses to build endpoint URLs, so a
    region it does not list is one no AWS client here could reach either.
    """
    import botocore.loaders

    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    regions: dict[str, Region] = {}
    for partition in endpoints["partitions"]:
        services = partition.get("services", {})
        for name in partition.get("regions", {}):
            offered = frozenset(
                service
                for service, description in services.items()
                if name in description.get("endpoints", {})
            )
            regions[name] = Region(name, partition["partition"], offered)
    return regions


def _region_problem(region: object) -> Problem | None:
    """Why ``region`` cannot hold a stagecraft environment, or None."""
    if not isinstance(region, str) or not region:
        return Problem(
            REGION_KEY,
            _UNSET if region is None else region,
            "must name an AWS region, e.g. 'us-east-1' (set it in the stack file)",
        )
    known = aws_regions()
    found = known.get(region)
    if found is None:
        usable = [r.name for r in known.values() if r.partition in SUPPORTED_PARTITIONS]
        close = difflib.get_close_matches(region, usable, n=3, cutoff=0.6)
        hint = (
            f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else ("e.g. 'us-east-1'")
        )
        return Problem(
            REGION_KEY, region, f"is not an AWS region (botocore's endpoint data); {hint}"
        )
    if found.partition not in SUPPORTED_PARTITIONS:
        return Problem(
            REGION_KEY,
            region,
            f"is in the '{found.partition}' partition; stagecraft supports "
            f"{', '.join(SUPPORTED_PARTITIONS)}",
        )
    missing = [s for s in REQUIRED_SERVICES if s not in found.services]
    if missing:
        return Problem(
            REGION_KEY,
            region,
            f"does not offer {', '.join(missing)} (botocore's endpoint data), which every "
            "environment needs",
        )
    return None


_S = TypeVar("_S", bound=Section)


def _typed(specs: Mapping[type[Section], Section], section: type[_S]) -> _S:
    spec = specs[section]
    assert isinstance(spec, section)
    return spec


def load_stack_config() -> StackConfig:
    """Read and validate the running stack's config from the Pulumi runtime.

    This is the only place the program reads configuration.
    """
    from pulumi.runtime import config as runtime_config

    values = _runtime_config()
    return parse_stack_config(
        values,
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        secret_keys={k for k in values if runtime_config.is_config_secret(k)}
        | set(runtime_config.get_config_secret_keys_env()),
    )


def parse_bootstrap_config(
    values: Mapping[str, object],
    *,
    project: str,
    stack: str,
    secret_keys: Collection[str] = (),
) -> BootstrapStackConfig:
    """Validate the bootstrap project's stack (one per AWS account)."""
    problems: list[Problem] = []
    if stack_kind(stack) is not None or not _DNS_LABEL.fullmatch(stack):
        problems.append(
            Problem(
                "stack",
                stack,
                "a bootstrap stack is named after its AWS account (lowercase letters, digits, "
                "hyphens), never like an environment (dev, staging, pr-1, ...)",
            )
        )
    specs, region = _parse_sections(
        values, project, stack, BOOTSTRAP_SECTIONS, secret_keys, problems=problems
    )
    return BootstrapStackConfig(
        project=project, stack=stack, region=region, bootstrap=_typed(specs, BootstrapSpec)
    )


def load_bootstrap_config() -> BootstrapStackConfig:
    """The running bootstrap stack's config (the bootstrap project's program)."""
    from pulumi.runtime import config as runtime_config

    values = _runtime_config()
    return parse_bootstrap_config(
        values,
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        secret_keys={k for k in values if runtime_config.is_config_secret(k)}
        | set(runtime_config.get_config_secret_keys_env()),
    )


def load_ephemeral_config() -> EphemeralStackConfig:
    """The running `pr-<n>`/`dev-<name>` stack's config (the ephemeral project's program)."""
    from pulumi.runtime import config as runtime_config

    values = _runtime_config()
    return parse_ephemeral_config(
        values,
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        secret_keys={k for k in values if runtime_config.is_config_secret(k)}
        | set(runtime_config.get_config_secret_keys_env()),
    )


def _runtime_config() -> dict[str, object]:
    # pulumi.Config reads one known key at a time; to report unknown keys (typos)
    # we need the whole map, which the language host hands over either through
    # set_all_config or the PULUMI_CONFIG environment variable.
    from pulumi.runtime import config as runtime_config

    merged: dict[str, object] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged
