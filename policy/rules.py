"""stagecraft's guardrails as CrossGuard policies.

Each :class:`Rule` carries what an auditor needs beside the check itself: a
severity, the remediation, and the AWS Security Hub (Foundational Security
Best Practices) control and Checkov check it corresponds to, so a verdict
can be mapped onto the framework the auditor reports against.

The same rule objects become ``pulumi_policy`` policies for
``pulumi preview --policy-pack policy`` and are evaluated offline by
``stagecraft audit`` through :mod:`policy.harness`, which builds the
validation arguments the way the Pulumi engine does.

Property names are the engine's camelCase input names (``storageEncrypted``).
A policy that does not concern a resource calls ``args.not_applicable()``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from infra.aws_types import PROTECTED_TYPES, UNTAGGABLE_AWS_TYPES
from infra.components.account.policies import denies_plain_http
from policy import pod_security
from policy.backups import backups_copied_and_locked
from policy.external_secrets import external_secrets_scoped
from policy.iam_documents import as_strings, iam_document, iam_statements

RDS_INSTANCE = "aws:rds/instance:Instance"
CACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
DEFAULT_NETWORK_ACL = "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"
REMOTE_ADMIN_PORTS = (22, 3389)
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KMS_KEY = "aws:kms/key:Key"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
INGRESS_CLASS_PARAMS = "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# The ALB listener policies that negotiate only TLS 1.2 and 1.3: the
# TLS13-1-2/1-3 families (2021-06 and the post-quantum 2025-09 ones, FIPS
# variants included) and the TLS-1-2 ones. Kept here, apart from the
# program's own list, so the pack judges what the program chose.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
TLS12_LISTENER_POLICIES = frozenset(
    {
        *(f"ELBSecurityPolicy-TLS13-1-{minor}{variant}-{date}"
          for minor in ("2", "3")
          for variant in ("", "-Res", "-Ext0", "-Ext1", "-Ext2", "-FIPS", "-Res-FIPS",
                          "-Ext0-FIPS", "-Ext1-FIPS", "-Ext2-FIPS")
          for date in ("2021-06", "PQ-2025-09")),
        "ELBSecurityPolicy-TLS-1-2-2017-01",
        "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
        "ELBSecurityPolicy-FS-1-2-2019-08",
        "ELBSecurityPolicy-FS-1-2-Res-2019-08",
        "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    }
)  # fmt: skip
# Exact chart versions only: no ranges, no "latest".
_EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?")
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
TRAIL = "aws:cloudtrail/trail:Trail"
SNS_TOPIC = "aws:sns/topic:Topic"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUDGET = "aws:budgets/budget:Budget"
SCHEDULE = "aws:scheduler/schedule:Schedule"
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EC2_INSTANCE = "aws:ec2/instance:Instance"
SSM_DOCUMENT = "aws:ssm/document:Document"

REQUIRED_TAGS = ("environment", "project", "stack", "managed-by", "owner", "cost-center")
DATA_PORTS = (5432, 6379)
WORLD = ("0.0.0.0/0", "::/0")
SUPPORTED_KUBERNETES_VERSIONS = ["1.31", "1.32", "1.33", "1.34", "1.35"]

Validate = Callable[[ResourceValidationArgs, ReportViolation], None]
ValidateStack = Callable[[StackValidationArgs, ReportViolation], None]


@dataclass(frozen=True)
class Rule:
    """One guardrail: its identity for auditors and its check."""

    name: str
    description: str
    severity: Severity
    remediation: str
    security_hub: str | None = None
    checkov: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()  # empty: a stack-level rule
    validate: Validate | None = None
    validate_stack: ValidateStack | None = None
    config: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # The value each setting has in the mapped control itself (Security Hub's
    # default parameter, or what Checkov requires): a verdict under a weaker
    # setting says so, so "pass" never overstates what the control checks.
    control_settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def controls(self) -> list[str]:
        found = [f"Security Hub {self.security_hub}"] if self.security_hub else []
        return found + list(self.checkov)

    @property
    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config.items() if "default" in v}

    def thresholds(self, settings: Mapping[str, Any]) -> list[Threshold]:
        """What the verdict was judged against, beside the control's own, per setting."""
        return [
            Threshold(key, settings.get(key), own, _weaker(key, settings.get(key), own))
            for key, own in self.control_settings.items()
        ]

    def to_policy(self) -> ResourceValidationPolicy | StackValidationPolicy:
        tags = [f"securityhub:{self.security_hub}"] if self.security_hub else []
        tags += [f"checkov:{c}" for c in self.checkov]
        schema = PolicyConfigSchema(properties=dict(self.config)) if self.config else None
        common: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "severity": self.severity,
            "remediation_steps": self.remediation,
            "tags": tags or None,
            "config_schema": schema,
        }
        if self.validate_stack is not None:
            return StackValidationPolicy(validate=self.validate_stack, **common)
        assert self.validate is not None, self.name
        return ResourceValidationPolicy(
            validate=_only_for(self.resource_types, self.validate), **common
        )


@dataclass(frozen=True)
class Threshold:
    setting: str
    used: Any
    control: Any
    weaker: bool

    def __str__(self) -> str:
        text = f"{self.setting} {_shown(self.used)}"
        if self.weaker:
            text += f" (weaker than the control's {_shown(self.control)})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "used": self.used,
            "control": self.control,
            "weakerThanControl": self.weaker,
        }


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _weaker(setting: str, used: Any, control: Any) -> bool:
    """Does ``used`` demand less than ``control``?

    Fewer days, fewer required items; for a switch, off where the control
    requires (``require...``), on where the control forbids (``allow...``).
    """
    if isinstance(control, bool):
        if setting.startswith("allow"):
            return bool(used) and not control
        return control and not used
    if isinstance(control, (int, float)):
        return float(used or 0) < float(control)
    if isinstance(control, list):
        return not set(control) <= set(used or [])
    return bool(used != control)


def _only_for(types: tuple[str, ...], check: Validate) -> Validate:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in types:
            check(args, report)

    return validate


def _is_replica(props: Mapping[str, Any]) -> bool:
    return bool(props.get("replicateSourceDb"))


def _require(prop: str, message: str, *, primaries_only: bool = False) -> Validate:
    """A check that ``prop`` is truthy."""

    def check(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if primaries_only and _is_replica(args.props):
            args.not_applicable("read replicas inherit this from their primary")
        if not args.props.get(prop):
            report(message, args.urn)

    return check


# --------------------------------------------------------------------------- #
# RDS
# --------------------------------------------------------------------------- #


def _rds_backup_retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # Replicas too: a replica promoted after the primary is lost must not be a
    # database without backups.
    minimum = int(args.get_config().get("minimumDays", 7))
    days = int(args.props.get("backupRetentionPeriod") or 0)
    if days < minimum:
        report(f"backupRetentionPeriod is {days} days; the policy requires {minimum}", args.urn)


def _rds_performance_insights(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.props.get("performanceInsightsEnabled"):
        report("Performance Insights is off", args.urn)
    elif not args.props.get("performanceInsightsKmsKeyId"):
        report("Performance Insights data is not encrypted with a customer-managed key", args.urn)


def _rds_enhanced_monitoring(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if int(args.props.get("monitoringInterval") or 0) <= 0:
        report("monitoringInterval is 0: enhanced monitoring is off", args.urn)


def _rds_logs_exported(args: ResourceValidationArgs, report: ReportViolation) -> None:
    exported = set(args.props.get("enabledCloudwatchLogsExports") or [])
    missing = sorted({"postgresql", "upgrade"} - exported)
    if missing:
        report(f"logs not exported to CloudWatch: {', '.join(missing)}", args.urn)


def _rds_auto_minor_upgrade(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # The engine default is true; only an explicit false violates.
    if args.props.get("autoMinorVersionUpgrade") is False:
        report("autoMinorVersionUpgrade is false", args.urn)


def _rds_default_port(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.get_config().get("requireNonDefaultPort", False):
        args.not_applicable("this environment's policy config allows the default port")
    if int(args.props.get("port") or 5432) == 5432:
        report("the database listens on PostgreSQL's default port 5432", args.urn)


def _rds_default_username(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if _is_replica(args.props):
        args.not_applicable("read replicas have no master user of their own")
    forbidden = set(args.get_config().get("forbiddenUsernames", ["postgres", "admin", "root"]))
    username = str(args.props.get("username") or "")
    if username in forbidden:
        report(f"master username '{username}' is a well-known default", args.urn)


# --------------------------------------------------------------------------- #
# ElastiCache
# --------------------------------------------------------------------------- #


def _cache_auth(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.props.get("transitEncryptionEnabled"):
        report("AUTH needs in-transit encryption, which is off", args.urn)
    elif not args.props.get("authToken") and not args.props.get("userGroupIds"):
        report("neither an AUTH token nor RBAC user groups protect the cache", args.urn)


def _cache_auto_minor_upgrade(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("autoMinorVersionUpgrade") is False:
        report("autoMinorVersionUpgrade is false", args.urn)


def _cache_snapshots(args: ResourceValidationArgs, report: ReportViolation) -> None:
    minimum = int(args.get_config().get("minimumDays", 1))
    days = int(args.props.get("snapshotRetentionLimit") or 0)
    if days < minimum:
        report(f"snapshotRetentionLimit is {days} days; the policy requires {minimum}", args.urn)


def _cache_subnet_group(args: ResourceValidationArgs, report: ReportViolation) -> None:
    group = args.props.get("subnetGroupName")
    if not group or group == "default":
        report("the cache uses the default subnet group (of the default VPC)", args.urn)


# --------------------------------------------------------------------------- #
# EKS
# --------------------------------------------------------------------------- #


def _eks_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    vpc = args.props.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") is False:
        return
    cidrs = list(vpc.get("publicAccessCidrs") or [])
    if not cidrs or any(c in WORLD for c in cidrs):
        report("the API endpoint is public to the whole internet", args.urn)
    elif not args.get_config().get("allowPublicWithCidrs", True):
        report(f"the API endpoint is public (from {', '.join(cidrs)})", args.urn)


def _eks_secrets_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    configs = args.props.get("encryptionConfig") or {}
    if isinstance(configs, Mapping):  # the engine hands policies read-only Mappings
        configs = [configs]
    encrypted = any(
        "secrets" in (c.get("resources") or []) and (c.get("provider") or {}).get("keyArn")
        for c in configs
    )
    if not encrypted:
        report("Kubernetes secrets are not envelope-encrypted with a KMS key", args.urn)


def _eks_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    required = set(args.get_config().get("requiredLogTypes", ["api", "audit", "authenticator"]))
    enabled = set(args.props.get("enabledClusterLogTypes") or [])
    missing = sorted(required - enabled)
    if missing:
        report(f"control plane logs not enabled: {', '.join(missing)}", args.urn)


# Log groups that are the audit trail: who did what to the cluster, what
# crossed the network.  Application and database logs are kept shorter.
# The audit trail: EKS control plane, flow logs, CloudTrail, and what people
# typed in Session Manager shells.
AUDIT_LOG_GROUPS = re.compile(
    r"^/aws/(eks/[^/]+/cluster|vpc/.+/flow-logs|cloudtrail/.+|ssm/[^/]+/sessions)$"
)


def _log_groups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    name = str(args.props.get("name") or "")
    days = int(args.props.get("retentionInDays") or 0)
    if not args.props.get("kmsKeyId"):
        report(f"log group {name} is not encrypted with a customer-managed key", args.urn)
    if days == 0:
        report(f"log group {name} keeps its logs for ever (no retention set)", args.urn)
    minimum = int(args.get_config().get("auditMinimumDays", 90))
    if AUDIT_LOG_GROUPS.match(name) and 0 < days < minimum:
        report(f"audit log group {name} keeps {days} days; the policy requires {minimum}", args.urn)


def _kms_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.props.get("enableKeyRotation"):
        report("automatic key rotation is off", args.urn)


def _launch_template(args: ResourceValidationArgs, report: ReportViolation) -> None:
    metadata = args.props.get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required":
        report("instances may use IMDSv1 (metadataOptions.httpTokens is not required)", args.urn)
    for mapping in args.props.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        if str(ebs.get("encrypted")).lower() != "true" or not ebs.get("kmsKeyId"):
            report(
                f"volume {mapping.get('deviceName')} is not encrypted with a customer key",
                args.urn,
            )
    if not args.props.get("blockDeviceMappings"):
        report("the root volume is encrypted only if the account's default says so", args.urn)


def _eks_version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    supported = list(args.get_config().get("supportedVersions", SUPPORTED_KUBERNETES_VERSIONS))
    version = str(args.props.get("version") or "")
    if version not in supported:
        report(f"Kubernetes {version or '(unset)'} is not in {', '.join(supported)}", args.urn)


# --------------------------------------------------------------------------- #
# Stack-level
# --------------------------------------------------------------------------- #


def _tags_of(resource: Any) -> dict[str, str]:
    tags = dict(resource.props.get("tags") or {})
    provider = getattr(resource, "provider", None)
    if provider is not None:
        default_tags = provider.props.get("defaultTags") or {}
        if isinstance(default_tags, str):  # provider inputs reach policies JSON-encoded
            default_tags = json.loads(default_tags)
        tags = {**(default_tags.get("tags") or {}), **tags}
    return tags


def _required_tags(args: StackValidationArgs, report: ReportViolation) -> None:
    required = list(args.get_config().get("requiredTags", REQUIRED_TAGS))
    for resource in args.resources:
        if not resource.resource_type.startswith("aws:"):
            continue
        if resource.resource_type in UNTAGGABLE_AWS_TYPES:
            continue
        tags = _tags_of(resource)
        missing = [t for t in required if not tags.get(t)]
        if missing:
            report(f"{resource.name} lacks tags: {', '.join(missing)}", resource.urn)


def _protected_in_production(args: StackValidationArgs, report: ReportViolation) -> None:
    if not args.get_config().get("requireProtection", False):
        args.not_applicable("this environment's policy config does not require protection")
    for resource in args.resources:
        if resource.resource_type in PROTECTED_TYPES and not resource.opts.protect:
            report(f"{resource.name} ({resource.resource_type}) is not protected", resource.urn)


def _flow_logs(args: StackValidationArgs, report: ReportViolation) -> None:
    # A flow log names its VPC through vpcId, an output of the VPC, so the
    # engine records the VPC among the flow log's dependencies.
    logged = {
        dependency.urn
        for flow_log in args.resources
        if flow_log.resource_type == FLOW_LOG
        for dependency in [
            *(flow_log.dependencies or []),
            *(flow_log.property_dependencies or {}).get("vpcId", []),
        ]
    }
    for vpc in (r for r in args.resources if r.resource_type == VPC):
        if vpc.urn not in logged:
            report(f"VPC {vpc.name} has no flow log", vpc.urn)


def _ingress_rules(resource: Any) -> list[tuple[str | None, Any, Any, Any]]:
    """A security group's (or rule resource's) ingress: (source, from, to, protocol).

    The source is a CIDR, or None for another security group or prefix list.
    """
    props = resource.props
    if resource.resource_type == INGRESS_RULE:
        cidr = props.get("cidrIpv4") or props.get("cidrIpv6")
        return [(cidr, props.get("fromPort"), props.get("toPort"), props.get("ipProtocol"))]
    if resource.resource_type == SECURITY_GROUP_RULE:
        if props.get("type") != "ingress":
            return []
        blocks = list(props.get("cidrBlocks") or []) + list(props.get("ipv6CidrBlocks") or [])
        return [
            (b, props.get("fromPort"), props.get("toPort"), props.get("protocol"))
            for b in blocks or [None]
        ]
    if resource.resource_type == SECURITY_GROUP:
        return [
            (block, rule.get("fromPort"), rule.get("toPort"), rule.get("protocol"))
            for rule in props.get("ingress") or []
            for block in (
                list(rule.get("cidrBlocks") or []) + list(rule.get("ipv6CidrBlocks") or [])
                or [None]
            )
        ]
    return []


def _opens(rule: tuple[str | None, Any, Any, Any], ports: Sequence[int]) -> bool:
    _, from_port, to_port, protocol = rule
    if str(protocol) in {"-1", "all"}:
        return True
    low, high = int(from_port or 0), int(to_port or 65535)
    return any(low <= port <= high for port in ports)


def _world_open_to_data_ports(resource: Any) -> bool:
    return any(rule[0] in WORLD and _opens(rule, DATA_PORTS) for rule in _ingress_rules(resource))


def _remote_admin_ports_opened(resource: Any) -> list[int]:
    """22 or 3389 opened by a port range, from anywhere (another group included).

    A rule for every protocol from another security group (nodes talking to
    each other) is traffic inside the cluster, not a way in: left to
    no-open-data-ports and the network ACLs; from a CIDR it counts.
    """
    opened: set[int] = set()
    for rule in _ingress_rules(resource):
        every_protocol = str(rule[3]) in {"-1", "all"}
        if every_protocol and rule[0] is None:
            continue
        opened |= {port for port in REMOTE_ADMIN_PORTS if _opens(rule, [port])}
    return sorted(opened)


def _no_remote_admin_ports(args: StackValidationArgs, report: ReportViolation) -> None:
    """No SSH, no RDP: shell access goes through AWS Systems Manager."""
    for resource in args.resources:
        opened = _remote_admin_ports_opened(resource)
        if opened:
            report(f"{resource.name} opens {' and '.join(map(str, opened))} (SSH/RDP): shell "
                   "access goes through Systems Manager Session Manager, never a port",
                   resource.urn)  # fmt: skip


def _default_security_groups_closed(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every VPC's default group is adopted and holds no rule (it admits its own members)."""
    closed = {
        dependency.urn
        for group in args.resources
        if group.resource_type == DEFAULT_SECURITY_GROUP
        and not group.props.get("ingress")
        and not group.props.get("egress")
        for dependency in [
            *(group.dependencies or []),
            *(group.property_dependencies or {}).get("vpcId", []),
        ]
    }
    for vpc in (r for r in args.resources if r.resource_type == VPC):
        if vpc.urn not in closed:
            report(f"VPC {vpc.name}'s default security group keeps AWS's rules", vpc.urn)


def _first_match(rules: Sequence[Mapping[str, Any]], port: int) -> str | None:
    """The action of the lowest-numbered ACL rule admitting ``port`` from anywhere."""
    for rule in sorted(rules, key=lambda r: int(r.get("ruleNo") or 0)):
        if rule.get("cidrBlock") not in WORLD and rule.get("ipv6CidrBlock") not in WORLD:
            continue
        protocol = str(rule.get("protocol"))
        low, high = int(rule.get("fromPort") or 0), int(rule.get("toPort") or 0)
        if protocol in {"-1", "all"} or (protocol in {"tcp", "6"} and low <= port <= high):
            return str(rule.get("action"))
    return None


def _network_acls(args: StackValidationArgs, report: ReportViolation) -> None:
    """No subnet admits SSH or RDP from the internet at the network ACL (AWS's default does)."""
    adopted = set()
    for acl in args.resources:
        if acl.resource_type != DEFAULT_NETWORK_ACL:
            continue
        adopted |= {
            d.urn
            for d in [
                *(acl.dependencies or []),
                *(acl.property_dependencies or {}).get("defaultNetworkAclId", []),
            ]
        }
        ingress = list(acl.props.get("ingress") or [])
        for port in REMOTE_ADMIN_PORTS:
            if _first_match(ingress, port) != "deny":
                report(f"{acl.name} admits port {port} from the internet", acl.urn)
    for vpc in (r for r in args.resources if r.resource_type == VPC):
        if vpc.urn not in adopted:
            report(f"VPC {vpc.name}'s default network ACL admits everything (not adopted)", vpc.urn)


def _rules_described(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type in (INGRESS_RULE, SECURITY_GROUP) and not resource.props.get(
            "description"
        ):
            report(f"{resource.name} has no description", resource.urn)


def _no_open_data_ports(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if _world_open_to_data_ports(resource):
            report(f"{resource.name} opens PostgreSQL or Redis ports to the internet", resource.urn)


def _walk_strings(value: Any) -> Iterable[str]:
    """Every string inside ``value``; unknown (not yet computed) parts are skipped."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                continue
            yield from _walk_strings(item)
    elif isinstance(value, Sequence):
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                continue
            yield from _walk_strings(item)


def _isolated(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    project = str(config.get("project", "stagecraft"))
    # "<project>/<stack>" is what matters: the organization differs per backend.
    allowed_references = {_project_and_stack(s) for s in config.get("allowedStackReferences", [])}
    # Names of the shared stack's own resources that a small stack uses and that
    # would read as another small stack's ("stagecraft-dev-small-stack-jobs").
    shared_names = tuple(config.get("sharedResourceNames", []))
    # The weekly anonymised copy crosses exactly here (data-sync-confined checks how).
    data_sync_peers = set(config.get("dataSyncPeers", []))
    # First the references themselves: the one thing that must never be missed.
    for resource in args.resources:
        if resource.resource_type == STACK_REFERENCE:
            target = str(resource.props.get("name") or resource.name)
            if _project_and_stack(target) not in allowed_references:
                report(
                    f"references stack '{target}', which this environment may not use",
                    resource.urn,
                )
    for stack in sorted({_stack_of(r.urn) for r in args.resources}):
        known = sorted({*config.get("environments", []), stack}, key=len, reverse=True)
        # The longest name wins, so "stagecraft-dev-alice-db" is dev-alice's,
        # not dev's; other small stacks (pr-<n>, dev-<name>) are foreign too.
        names = "|".join([*map(re.escape, known), r"pr-\d+", r"dev-[a-z0-9]+(?:-[a-z0-9]+)*"])
        pattern = re.compile(rf"(?<![a-z0-9]){re.escape(project)}-({names})(?![a-z0-9])")
        for resource in args.resources:
            if _stack_of(resource.urn) != stack or resource.resource_type == STACK_REFERENCE:
                continue
            for text in _walk_strings(resource.props):
                foreign = next(
                    (
                        m.group(1)
                        for m in pattern.finditer(text)
                        if m.group(1) != stack
                        and not text[m.start() :].startswith(shared_names)
                        and not _data_sync_crossing(
                            resource.urn, text[m.start() :], project, m.group(1), data_sync_peers
                        )
                    ),
                    None,
                )
                if foreign:
                    report(
                        f"{resource.name} refers to environment '{foreign}': {text[:120]}",
                        resource.urn,
                    )
                    break


DATA_EXPORT = "stagecraft:index:DataExport"
DATA_IMPORT = "stagecraft:index:DataImport"


def _data_sync_crossing(urn: str, name: str, project: str, peer: str, peers: set[str]) -> bool:
    """The one reference to another environment the data sync makes, where config allows it.

    Production's dumps bucket and key name the peer's import role; the
    peer's import role and job name production's dumps bucket. Nothing else.
    """
    if peer not in peers:
        return False
    stem = f"{re.escape(project)}-{re.escape(peer)}"
    if f"${DATA_EXPORT}$" in urn:
        return re.match(rf"{stem}-data-import(?![a-z0-9-])", name) is not None
    if f"${DATA_IMPORT}$" in urn:
        return re.match(rf"{stem}-data-sync-\d{{12}}(?![a-z0-9-])", name) is not None
    return False


def _project_and_stack(reference: str) -> str:
    return "/".join(reference.split("/")[-2:])


def _stack_of(urn: str) -> str:
    return urn.split("::", maxsplit=1)[0].removeprefix("urn:pulumi:")


def _plain(value: Any) -> Any:
    """A policy property (read-only proxies) as plain data, unknown parts left out."""
    if isinstance(value, Mapping):
        out = {}
        for key in value:
            try:
                out[key] = _plain(value[key])
            except UnknownValueError:
                continue
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = []
        for index in range(len(value)):
            try:
                items.append(_plain(value[index]))
            except UnknownValueError:
                continue
        return items
    return value


def _pod_security(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every pod template meets the Pod Security Standard its namespace enforces.

    Only namespaces this stack creates are judged (their labels are in the
    plan); a pod the namespace would refuse never starts, so its Job never
    completes and `pulumi up` times out.
    """
    resources = [(r.resource_type, _plain(r.props)) for r in args.resources]
    levels = pod_security.namespace_levels(resources)
    for resource, (resource_type, props) in zip(args.resources, resources, strict=True):
        spec = pod_security.pod_spec_of(resource_type, props)
        namespace = (props.get("metadata") or {}).get("namespace")
        if spec is None or namespace not in levels:
            continue
        for problem in pod_security.violations(spec, levels[namespace]):
            report(
                f"{resource.name}: {problem}; namespace {namespace} enforces {levels[namespace]}",
                resource.urn,
            )


# --------------------------------------------------------------------------- #
# The rules
# --------------------------------------------------------------------------- #


def _secret_rotation(args: StackValidationArgs, report: ReportViolation) -> None:
    if not args.get_config().get("requireRotation", False):
        args.not_applicable("this environment's policy config does not require rotation")
    rotated = {
        str(r.props.get("secretId")) for r in args.resources if r.resource_type == SECRET_ROTATION
    }
    for secret in (r for r in args.resources if r.resource_type == SECRET):
        if secret.urn not in rotated and secret.props.get("arn") not in rotated:
            report(f"{secret.name} has no rotation schedule", secret.urn)


# system:serviceaccount:<namespace with one *>:<service account>
_SERVICE_ACCOUNT_FAMILY = re.compile(r"system:serviceaccount:[a-z0-9-]*\*[a-z0-9-]*:[a-z0-9-]+")


def _web_identity_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A role a token can assume names its audience and one exact subject."""
    statements = [
        st
        for st in iam_statements(iam_document(args.props.get("assumeRolePolicy")))
        if st.get("Effect") == "Allow"
        and "sts:AssumeRoleWithWebIdentity" in as_strings(st.get("Action"))
    ]
    if not statements:
        args.not_applicable("no web identity can assume this role")
        return
    repository = args.get_config().get("githubRepository") or ""
    for statement in statements:
        federated = as_strings((statement.get("Principal") or {}).get("Federated"))
        issuers = [arn.split(":oidc-provider/", 1)[-1] for arn in federated]
        conditions = statement.get("Condition") or {}
        exact = conditions.get("StringEquals") or {}
        patterns = conditions.get("StringLike") or {}
        for issuer in issuers:
            audience, subject = exact.get(f"{issuer}:aud"), exact.get(f"{issuer}:sub")
            if not audience:
                report(
                    f"{args.name} trusts {issuer} for any audience: pin `{issuer}:aud`", args.urn
                )
            pattern = patterns.get(f"{issuer}:sub")
            if not subject and pattern and issuer != "token.actions.githubusercontent.com":
                # A Kubernetes ServiceAccount of a family of namespaces: the
                # account's name exact, the wildcard inside the namespace only.
                if not all(_SERVICE_ACCOUNT_FAMILY.fullmatch(p) for p in as_strings(pattern)):
                    report(
                        f"{args.name} trusts {pattern}: a wildcard may stand only inside the "
                        "namespace of one named ServiceAccount",
                        args.urn,
                    )
                continue
            if not subject:
                report(
                    f"{args.name} trusts any subject of {issuer}: pin `{issuer}:sub` with "
                    "StringEquals (no wildcards)",
                    args.urn,
                )
            elif issuer == "token.actions.githubusercontent.com" and repository:
                owner, _, name = repository.partition("/")
                pinned = any(
                    re.fullmatch(rf"repo:{re.escape(owner)}(@\d+)?/{re.escape(name)}(@\d+)?:.+", s)
                    for s in as_strings(subject)
                )
                if not pinned:
                    report(f"{args.name} trusts {subject}, not a job of {repository}", args.urn)


def _wildcard_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """`*` never; a whole service (`ec2:*`) on every resource only with a stated reason."""
    justified = dict(args.get_config().get("justifiedStatements") or {})
    for statement in iam_statements(iam_document(args.props.get("policy"))):
        if statement.get("Effect") != "Allow":
            continue
        actions = as_strings(statement.get("Action"))
        resources = as_strings(statement.get("Resource"))
        sid = str(statement.get("Sid") or "(no Sid)")
        if "*" in actions or "*:*" in actions:
            report(f"{args.name}: statement {sid} allows every action", args.urn)
            continue
        whole = [a for a in actions if a.endswith(":*")]
        if whole and "*" in resources and sid not in justified:
            report(
                f"{args.name}: statement {sid} allows {', '.join(whole)} on every resource; "
                "scope it, or give its Sid a reason under justifiedStatements",
                args.urn,
            )


# One database user on one instance:
# arn:<partition>:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<user>
_ONE_DATABASE_USER = re.compile(
    r"arn:aws[a-z-]*:rds-db:[a-z0-9-]+:\d{12}:dbuser:db-[A-Z0-9]+/[A-Za-z_][A-Za-z0-9_$]*"
)


def _database_logins_scoped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """`rds-db:connect` names one database user on one instance, never a pattern."""
    for statement in iam_statements(iam_document(args.props.get("policy"))):
        if statement.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in as_strings(statement.get("Action"))]
        if not any(a in ("*", "rds-db:*", "rds-db:connect") for a in actions):
            continue
        sid = str(statement.get("Sid") or "(no Sid)")
        for resource in as_strings(statement.get("Resource")):
            if not _ONE_DATABASE_USER.fullmatch(resource):
                report(
                    f"{args.name}: statement {sid} lets it log in to databases as {resource}: "
                    "name one database user on one instance "
                    "(arn:aws:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<user>)",
                    args.urn,
                )


def _buckets_hardened(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket: no public access, TLS only, versioned, encrypted, access-logged."""
    buckets = [r for r in args.resources if r.resource_type == S3_BUCKET]
    if not buckets:
        args.not_applicable("this stack has no S3 buckets")
        return

    def bucket_of(resource: Any) -> str:
        return str(resource.props.get("bucket") or "")

    settings: dict[str, dict[str, Any]] = {}
    for resource in args.resources:
        if resource.resource_type in (
            S3_PUBLIC_ACCESS_BLOCK,
            S3_VERSIONING,
            S3_ENCRYPTION,
            S3_LOGGING,
            S3_POLICY,
        ):
            settings.setdefault(resource.resource_type, {})[bucket_of(resource)] = resource.props
    log_targets = {
        str(props.get("targetBucket")) for props in settings.get(S3_LOGGING, {}).values()
    }
    for bucket in buckets:
        name = bucket_of(bucket)
        block = settings.get(S3_PUBLIC_ACCESS_BLOCK, {}).get(name) or {}
        if not all(
            block.get(k)
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        ):
            report(f"{name}: public access is not blocked on all four settings", bucket.urn)
        policy = iam_document((settings.get(S3_POLICY, {}).get(name) or {}).get("policy"))
        if not denies_plain_http(iam_statements(policy)):
            report(f"{name}: requests without TLS are not denied", bucket.urn)
        versioning = settings.get(S3_VERSIONING, {}).get(name) or {}
        if (versioning.get("versioningConfiguration") or {}).get("status") != "Enabled":
            report(f"{name}: versioning is off", bucket.urn)
        rules = (settings.get(S3_ENCRYPTION, {}).get(name) or {}).get("rules") or []
        algorithms = {
            (r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for r in rules
        }
        # S3 delivers access logs only into SSE-S3 buckets.
        allowed = {"aws:kms", "aws:kms:dsse"} | ({"AES256"} if name in log_targets else set())
        if not algorithms or not algorithms <= allowed:
            report(
                f"{name}: default encryption is {sorted(a or '?' for a in algorithms) or 'off'}"
                f"; needs {' or '.join(sorted(allowed))}",
                bucket.urn,
            )
        if name not in log_targets and name not in settings.get(S3_LOGGING, {}):
            report(f"{name}: server access logging is off", bucket.urn)


def _load_balancer_attribute(props: Mapping[str, Any], key: str) -> str | None:
    spec = props.get("spec") or {}
    for attribute in spec.get("loadBalancerAttributes") or []:
        if attribute.get("key") == key:
            return str(attribute.get("value"))
    return None


def _alb_https_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The class's listeners: a certificate (HTTPS), and HTTP redirected to 443."""
    spec = args.props.get("spec") or {}
    if not spec.get("certificateArn"):
        report(f"{args.name}: no certificateArn, so the ALB listens in plain HTTP", args.urn)
    if str(spec.get("sslRedirectPort") or "") != "443":
        report(f"{args.name}: sslRedirectPort is not 443, so HTTP is served, not redirected",
               args.urn)  # fmt: skip


def _alb_tls_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The HTTPS listener's policy refuses TLS 1.0 and 1.1."""
    spec = args.props.get("spec") or {}
    policy = spec.get("sslPolicy")
    if policy not in TLS12_LISTENER_POLICIES:
        report(
            f"{args.name}: sslPolicy {_shown(policy)} is not a TLS 1.2+ policy "
            f"(the controller's own default, ELBSecurityPolicy-2016-08, accepts TLS 1.0)",
            args.urn,
        )


def _alb_invalid_headers(args: ResourceValidationArgs, report: ReportViolation) -> None:
    key = "routing.http.drop_invalid_header_fields.enabled"
    if _load_balancer_attribute(args.props, key) != "true":
        report(f"{args.name}: {key} is not true", args.urn)


# --------------------------------------------------------------------------- #
# Audit trail, alarms and their topic
# --------------------------------------------------------------------------- #


def _trail_required(args: StackValidationArgs, report: ReportViolation) -> None:
    """The stack that owns the account's audit trail has one recording everything."""
    trails = [r for r in args.resources if r.resource_type == TRAIL]
    if not trails:
        if args.get_config().get("requireTrail"):
            # Said of the environment's key, which would encrypt the trail.
            key = next((r.urn for r in args.resources if r.resource_type == KMS_KEY), None)
            report("no CloudTrail trail: every action in the account goes unrecorded", key)
        else:
            args.not_applicable("this stack's policy config does not ask for the trail")
        return
    for trail in trails:
        props = trail.props
        if not props.get("isMultiRegionTrail"):
            report(f"{trail.name}: records one region only (isMultiRegionTrail)", trail.urn)
        if props.get("includeGlobalServiceEvents") is False:
            report(f"{trail.name}: misses global services (IAM, STS)", trail.urn)
        if props.get("enableLogging") is False:
            report(f"{trail.name}: logging is stopped", trail.urn)
        selectors = props.get("eventSelectors") or [
            {"readWriteType": "All", "includeManagementEvents": True}
        ]
        if not any(
            (s.get("readWriteType") or "All") == "All" and s.get("includeManagementEvents", True)
            for s in selectors
        ):
            report(f"{trail.name}: does not record read and write management events", trail.urn)


def _trail_validated(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.props.get("enableLogFileValidation"):
        report(f"{args.name}: log file validation is off: a changed or deleted file would "
               "not show", args.urn)  # fmt: skip


def _trail_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.props.get("kmsKeyId"):
        report(f"{args.name}: log files are not encrypted with a customer-managed key", args.urn)


def _trail_to_cloudwatch(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not (args.props.get("cloudWatchLogsGroupArn") and args.props.get("cloudWatchLogsRoleArn")):
        report(f"{args.name}: not delivered to CloudWatch Logs (no log group and role)", args.urn)


def _topic_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    key = str(args.props.get("kmsMasterKeyId") or "")
    if not key:
        report(f"{args.name}: messages are not encrypted at rest", args.urn)
    elif key.endswith("alias/aws/sns"):
        # CloudWatch cannot use the AWS-managed key: alarms would fail to publish.
        report(f"{args.name}: encrypted with AWS's own SNS key, which CloudWatch alarms "
               "cannot publish with", args.urn)  # fmt: skip


def _alarm_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("actionsEnabled") is False:
        report(f"{args.name}: its actions are disabled", args.urn)
    if not args.props.get("alarmActions"):
        report(f"{args.name}: notifies nobody (no alarm action)", args.urn)


def _alarm_dimension(alarm: Any, key: str) -> set[str]:
    """The known values of dimension ``key`` (an id made at creation is unknown at preview)."""
    props = _plain(alarm.props)
    found = set()
    value = (props.get("dimensions") or {}).get(key)
    if value:
        found.add(str(value))
    for query in props.get("metricQueries") or []:
        value = ((query.get("metric") or {}).get("dimensions") or {}).get(key)
        if value:
            found.add(str(value))
    return found


def _alarm_metrics(alarm: Any) -> set[str]:
    props = _plain(alarm.props)
    names = {str(props.get("metricName") or "")}
    names |= {
        str((q.get("metric") or {}).get("metricName") or "")
        for q in props.get("metricQueries") or []
    }
    return names - {""}


# What every stateful or capacity resource must be watched on, by metric.
DATABASE_ALARM_METRICS = {"CPUUtilization", "FreeableMemory", "DatabaseConnections"}
PRIMARY_ALARM_METRICS = {"FreeStorageSpace"}
REPLICA_ALARM_METRICS = {"ReplicaLag"}
CACHE_ALARM_METRICS = {"EngineCPUUtilization", "DatabaseMemoryUsagePercentage", "Evictions"}
CACHE_REPLICA_METRICS = {"ReplicationLag"}


def _stateful_resources_alarmed(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every database, replica, cache node and NAT gateway, and the node group, has its alarms."""
    if not args.get_config().get("requireAlarms"):
        args.not_applicable("this stack's policy config does not ask for alarms")
        return
    alarms = [r for r in args.resources if r.resource_type == METRIC_ALARM]
    watched: dict[tuple[str, str], set[str]] = {}
    for alarm in alarms:
        for key in (
            "DBInstanceIdentifier",
            "CacheClusterId",
            "NatGatewayId",
            "AutoScalingGroupName",
        ):
            for value in _alarm_dimension(alarm, key):
                watched.setdefault((key, value), set()).update(_alarm_metrics(alarm))

    def need(resource: Any, key: str, value: str, metrics: set[str], what: str) -> None:
        missing = metrics - watched.get((key, value), set())
        if missing:
            report(f"{what} {value}: no alarm on {', '.join(sorted(missing))}", resource.urn)

    for db in (r for r in args.resources if r.resource_type == RDS_INSTANCE):
        identifier = str(db.props.get("identifier") or db.name)
        replica = bool(db.props.get("replicateSourceDb"))
        extra = REPLICA_ALARM_METRICS if replica else PRIMARY_ALARM_METRICS
        need(db, "DBInstanceIdentifier", identifier, DATABASE_ALARM_METRICS | extra,
             "replica" if replica else "database")  # fmt: skip
    for group in (r for r in args.resources if r.resource_type == CACHE_GROUP):
        group_id = str(group.props.get("replicationGroupId") or group.name)
        count = int(group.props.get("numCacheClusters") or 1)
        extra = CACHE_REPLICA_METRICS if count > 1 else set()
        for number in range(1, count + 1):
            need(group, "CacheClusterId", f"{group_id}-{number:03d}",
                 CACHE_ALARM_METRICS | extra, "cache node")  # fmt: skip
    # A NAT gateway's id exists only once it does: counted, not matched.
    nat_alarms = [a for a in alarms if "ErrorPortAllocation" in _alarm_metrics(a)]
    nats = [r for r in args.resources if r.resource_type == NAT_GATEWAY]
    for nat in nats[len(nat_alarms) :]:
        report(f"{len(nats)} NAT gateways but {len(nat_alarms)} ErrorPortAllocation alarms: "
               f"{nat.name} is not watched", nat.urn)  # fmt: skip
    node_alarmed = any("GroupInServiceInstances" in _alarm_metrics(a) for a in alarms)
    for group in (r for r in args.resources if r.resource_type == NODE_GROUP):
        if not node_alarmed:
            report("the node group has no alarm on its in-service nodes", group.urn)


def _bucket_lifecycles(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket has a lifecycle that at least clears abandoned multipart uploads."""
    buckets = [r for r in args.resources if r.resource_type == S3_BUCKET]
    if not buckets:
        args.not_applicable("this stack has no S3 buckets")
        return
    # At a first preview a lifecycle's `bucket` (the bucket's id) is unknown:
    # matched by name where known, counted otherwise.
    lifecycles = {
        str(_plain(r.props).get("bucket") or r.urn): _plain(r.props).get("rules") or []
        for r in args.resources
        if r.resource_type == S3_LIFECYCLE
    }

    def clears_uploads(rules: Sequence[Mapping[str, Any]]) -> bool:
        return any(
            (r.get("abortIncompleteMultipartUpload") or {}).get("daysAfterInitiation")
            and r.get("status") == "Enabled"
            for r in rules
        )

    names = [str(b.props.get("bucket") or "") for b in buckets]
    if not any(name in lifecycles for name in names):
        # Nothing to match by yet: as many lifecycles as buckets, each clearing uploads.
        if len(lifecycles) < len(buckets):
            report(f"{len(buckets)} buckets but {len(lifecycles)} lifecycle configurations",
                   buckets[0].urn)  # fmt: skip
        for key, rules in lifecycles.items():
            if not clears_uploads(rules):
                report(f"{key}: abandoned multipart uploads are kept (and billed) for ever",
                       None)  # fmt: skip
        return
    for bucket, name in zip(buckets, names, strict=True):
        rules = lifecycles.get(name)
        if rules is None:
            report(f"{name}: no lifecycle configuration", bucket.urn)
        elif not clears_uploads(rules):
            report(f"{name}: abandoned multipart uploads are kept (and billed) for ever",
                   bucket.urn)  # fmt: skip


def _alb_deletion_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.get_config().get("requireDeletionProtection"):
        args.not_applicable("deletion protection not required by this stack's policy config")
        return
    if _load_balancer_attribute(args.props, "deletion_protection.enabled") != "true":
        report(f"{args.name}: deletion_protection.enabled is not true", args.urn)


def _charts_pinned(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every Helm release names its repository and one exact chart version."""
    releases = [r for r in args.resources if r.resource_type == HELM_RELEASE]
    if not releases:
        args.not_applicable("no Helm releases")
        return
    for release in releases:
        props = release.props
        version = str(props.get("version") or "")
        repository = (props.get("repositoryOpts") or {}).get("repo")
        if not _EXACT_VERSION.fullmatch(version):
            report(f"{release.name}: chart version {_shown(version or None)} is not one exact "
                   "version", release.urn)  # fmt: skip
        if not repository:
            report(f"{release.name}: no chart repository: whatever `helm` finds first is "
                   "installed", release.urn)  # fmt: skip


def _external_dns_confined(args: StackValidationArgs, report: ReportViolation) -> None:
    """external-dns writes into its own zone and domain only (and never deletes, where
    the policy config asks)."""
    releases = [
        r for r in args.resources
        if r.resource_type == HELM_RELEASE and r.props.get("chart") == "external-dns"
    ]  # fmt: skip
    if not releases:
        args.not_applicable("no external-dns release")
        return
    upsert_only = bool(args.get_config().get("requireUpsertOnly"))
    for release in releases:
        values = release.props.get("values") or {}
        if not values.get("domainFilters"):
            report(f"{release.name}: no domainFilters: it may write any domain it can reach",
                   release.urn)  # fmt: skip
        if not (values.get("extraArgs") or {}).get("zone-id-filter"):
            report(f"{release.name}: no zone-id-filter: it may write any zone it can list",
                   release.urn)  # fmt: skip
        if upsert_only and values.get("policy") != "upsert-only":
            report(f"{release.name}: policy {_shown(values.get('policy'))}, not upsert-only: it "
                   "deletes records", release.urn)  # fmt: skip
        # Its role (the release depends on it: the ServiceAccount names it)
        # may change records of named zones only, never every zone.
        for role in [d for d in release.dependencies if d.resource_type == IAM_ROLE]:
            for policy in args.resources:
                if policy.resource_type != IAM_ROLE_POLICY or role not in policy.dependencies:
                    continue
                for statement in iam_statements(iam_document(policy.props.get("policy"))):
                    actions = as_strings(statement.get("Action"))
                    if statement.get("Effect") != "Allow" or not any(
                        a in ("route53:ChangeResourceRecordSets", "route53:*", "*") for a in actions
                    ):
                        continue
                    wild = [r for r in as_strings(statement.get("Resource"))
                            if r == "*" or r.endswith("hostedzone/*")]  # fmt: skip
                    if wild:
                        report(f"{policy.name}: may change records of every zone "
                               f"({', '.join(wild)}), not only its own", policy.urn)  # fmt: skip


# --------------------------------------------------------------------------- #
# Budgets and schedules
# --------------------------------------------------------------------------- #


def _budget_defined(args: StackValidationArgs, report: ReportViolation) -> None:
    """A stack has a budget of its own resources that tells someone, before and after."""
    budgets = [r for r in args.resources if r.resource_type == BUDGET]
    if not budgets:
        if args.get_config().get("requireBudget"):
            key = next((r.urn for r in args.resources if r.resource_type == KMS_KEY), None)
            report("no AWS budget: nobody hears of an overrun before the bill", key)
        else:
            args.not_applicable("this stack's policy config does not ask for a budget")
        return
    for budget in budgets:
        props = budget.props
        filters = [
            value
            for f in props.get("costFilters") or []
            if f.get("name") == "TagKeyValue"
            for value in f.get("values") or []
        ]
        if not any(str(value).startswith("user:") for value in filters):
            report(f"{budget.name}: counts the whole account, not the stack's tagged resources",
                   budget.urn)  # fmt: skip
        notifications = props.get("notifications") or []
        for notification in notifications:
            if not (notification.get("subscriberEmailAddresses")
                    or notification.get("subscriberSnsTopicArns")):  # fmt: skip
                report(f"{budget.name}: a {notification.get('notificationType')} notification "
                       "with no subscriber", budget.urn)  # fmt: skip
        if not any(n.get("notificationType") == "FORECASTED" for n in notifications):
            report(f"{budget.name}: no forecast notification: told only after the money is spent",
                   budget.urn)  # fmt: skip


def _stops_something(schedule: Any) -> bool:
    target = schedule.props.get("target") or {}
    action = str(target.get("arn", "")).rsplit(":", 1)[-1]
    request = iam_document(target.get("input"))
    desired = (request.get("ScalingConfig") or {}).get("DesiredSize")
    return action.startswith("stop") or desired == 0


def _always_on(args: StackValidationArgs, report: ReportViolation) -> None:
    """Where policy config says the stack runs around the clock, no schedule stops it."""
    if not args.get_config().get("forbidOffHours"):
        args.not_applicable("this stack's policy config allows an off-hours schedule")
        return
    for schedule in (r for r in args.resources if r.resource_type == SCHEDULE):
        if _stops_something(schedule):
            report(f"{schedule.name}: stops or scales to zero "
                   f"({schedule.props.get('scheduleExpression')})", schedule.urn)  # fmt: skip


def _scheduler_roles_scoped(args: StackValidationArgs, report: ReportViolation) -> None:
    """A role EventBridge Scheduler assumes: for one schedule group, on named resources only."""
    roles = [
        r
        for r in args.resources
        if r.resource_type == IAM_ROLE
        and any(
            SCHEDULER_PRINCIPAL in as_strings((s.get("Principal") or {}).get("Service"))
            for s in iam_statements(iam_document(r.props.get("assumeRolePolicy")))
        )
    ]
    if not roles:
        args.not_applicable("no role EventBridge Scheduler assumes")
        return
    for role in roles:
        for statement in iam_statements(iam_document(role.props.get("assumeRolePolicy"))):
            conditions = statement.get("Condition") or {}
            source = {k for block in conditions.values() for k in block}
            if not {"aws:SourceArn", "aws:SourceAccount"} & source:
                report(f"{role.name}: any schedule in any account may use it (no aws:SourceArn "
                       "or aws:SourceAccount condition)", role.urn)  # fmt: skip
        for policy in args.resources:
            if policy.resource_type != IAM_ROLE_POLICY or role not in policy.dependencies:
                continue
            for statement in iam_statements(iam_document(policy.props.get("policy"))):
                if statement.get("Effect") != "Allow":
                    continue
                wild = [r for r in as_strings(statement.get("Resource")) if r == "*"
                        or r.endswith(":*")]  # fmt: skip
                actions = [a for a in as_strings(statement.get("Action")) if "*" in a]
                if wild or actions:
                    report(f"{policy.name}: {', '.join(actions + wild)}: a schedule's role "
                           "names the actions and the one resource it acts on",
                           policy.urn)  # fmt: skip


def _s3_actions(statement: Mapping[str, Any]) -> set[str]:
    return {a for a in as_strings(statement.get("Action")) if a.lower().startswith("s3:")}


def _data_sync_confined(args: StackValidationArgs, report: ReportViolation) -> None:
    """Production's dumps: its export job only writes, the allowed import roles only read."""
    config = args.get_config()
    project = str(config.get("project", "stagecraft"))
    readers = {f"{project}-{stack}-data-import" for stack in config.get("readers", [])}
    sources = tuple(f"{project}-{stack}-data-sync-" for stack in config.get("sources", []))
    exported = [r for r in args.resources if f"${DATA_EXPORT}$" in r.urn]
    imported = [r for r in args.resources if f"${DATA_IMPORT}$" in r.urn]
    if not exported and not imported:
        args.not_applicable("this stack neither exports nor imports production data")
        return
    for resource in exported:
        if resource.resource_type == S3_POLICY:
            statements = iam_statements(iam_document(resource.props.get("policy")))
            # Readers by full ARN: the name, and an account the config allows
            # (default: this stack's own, the writer's), so a role of the same
            # name in a stranger's account is no reader.
            writers = [
                arn for st in statements if "s3:PutObject" in _s3_actions(st)
                for arn in _excepted_principals(st)
            ]  # fmt: skip
            accounts = set(config.get("readerAccounts", [])) or (
                {_account_of(arn) for arn in writers} - {"?"}
            )
            denies = {
                action
                for st in statements
                if st.get("Effect") == "Deny" and st.get("Principal") == "*"
                for action in _s3_actions(st)
            }
            for needed in ("s3:PutObject", "s3:GetObject"):
                if needed not in denies:
                    report(f"{resource.name}: no deny of {needed} to every other principal: "
                           "any role whose IAM policy allows it gets in", resource.urn)  # fmt: skip
            for st in statements:
                principal = st.get("Principal")
                named = _excepted_principals(st) + (
                    as_strings(principal.get("AWS")) if isinstance(principal, Mapping) else []
                )
                actions = _s3_actions(st)
                for arn in named:
                    role = arn.rsplit("/", 1)[-1]
                    if actions & {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"} and (
                        role not in readers or _account_of(arn) not in accounts
                    ):
                        report(f"{resource.name}: {arn} may read production's dumps; this "
                               f"stack's policy config allows only {sorted(readers) or 'nobody'} "
                               f"of account {', '.join(sorted(accounts)) or '?'}",
                               resource.urn)  # fmt: skip
                    if "s3:PutObject" in actions and not role.startswith(
                        f"{_stack_prefix(resource.urn, project)}-data-export"
                    ):
                        report(f"{resource.name}: {role} may write dumps; only this stack's "
                               "export job may", resource.urn)  # fmt: skip
        if resource.resource_type == IAM_ROLE_POLICY:
            for st in iam_statements(iam_document(resource.props.get("policy"))):
                extra = _s3_actions(st) - {"s3:PutObject"}
                if st.get("Effect") == "Allow" and extra:
                    report(f"{resource.name}: the export job may {', '.join(sorted(extra))}; "
                           "it only writes dumps", resource.urn)  # fmt: skip
    for resource in imported:
        if resource.resource_type != IAM_ROLE_POLICY:
            continue
        for st in iam_statements(iam_document(resource.props.get("policy"))):
            if st.get("Effect") != "Allow":
                continue
            extra = _s3_actions(st) - {"s3:GetObject", "s3:ListBucket"}
            if extra:
                report(f"{resource.name}: the import job may {', '.join(sorted(extra))} on "
                       "production's dumps; it only reads them", resource.urn)  # fmt: skip
            for arn in as_strings(st.get("Resource")) if _s3_actions(st) else []:
                bucket = arn.split(":::", 1)[-1]
                if not sources or not bucket.startswith(sources):
                    allowed = list(config.get("sources", [])) or "none"
                    report(f"{resource.name}: reads {bucket}, which is not the dumps bucket of "
                           f"a source this stack's policy config allows ({allowed})",
                           resource.urn)  # fmt: skip


def _excepted_principals(statement: Mapping[str, Any]) -> list[str]:
    """The role ARNs a Deny spares (`ArnNotEquals aws:PrincipalArn`)."""
    spared = (statement.get("Condition") or {}).get("ArnNotEquals") or {}
    return as_strings(spared.get("aws:PrincipalArn"))


def _account_of(arn: str) -> str:
    """The account of an ARN (`arn:aws:iam::<account>:role/...`), `?` if it has none."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else "?"


def _stack_prefix(urn: str, project: str) -> str:
    return f"{project}-{_stack_of(urn)}"


def _dependencies(resource: Any, prop: str) -> list[str]:
    """The URNs ``prop`` of ``resource`` was computed from (the resources it names)."""
    return list((resource.property_dependencies or {}).get(prop, []))


def _bastions_hardened(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every EC2 instance (the Session Manager bastion) is reachable through Systems
    Manager only: no public address, no key pair, no inbound rule; IMDSv2 only, and
    a root volume encrypted with a customer-managed key."""
    resources = list(args.resources)
    for instance in (r for r in resources if r.resource_type == EC2_INSTANCE):
        props, urn = instance.props, instance.urn
        if props.get("associatePublicIpAddress") is not False:
            report(f"{instance.name} may get a public IP address (associatePublicIpAddress "
                   "is not false)", urn)  # fmt: skip
        if props.get("keyName"):
            report(f"{instance.name} has an SSH key pair ({props.get('keyName')}): shell "
                   "access goes through Session Manager", urn)  # fmt: skip
        if (props.get("metadataOptions") or {}).get("httpTokens") != "required":
            report(f"{instance.name} may use IMDSv1 (metadataOptions.httpTokens is not "
                   "required)", urn)  # fmt: skip
        root = props.get("rootBlockDevice") or {}
        if str(root.get("encrypted")).lower() != "true" or not root.get("kmsKeyId"):
            report(f"{instance.name}'s root volume is not encrypted with a customer-managed "
                   "key", urn)  # fmt: skip
        # Its groups by id (known once they exist) and by URN where the engine
        # sends property dependencies (a first `pulumi preview`).
        group_ids = {str(g) for g in _plain(props.get("vpcSecurityGroupIds")) or []}
        group_urns = set(_dependencies(instance, "vpcSecurityGroupIds")) | {
            d.urn for d in instance.dependencies or [] if d.resource_type == SECURITY_GROUP
        }
        for resource in resources:
            if not _ingress_rules(resource):
                continue
            if resource.resource_type == SECURITY_GROUP:
                admits = resource.urn in group_urns
            elif resource.resource_type in (INGRESS_RULE, SECURITY_GROUP_RULE):
                target = _plain(resource.props.get("securityGroupId"))
                admits = str(target) in group_ids or bool(
                    set(_dependencies(resource, "securityGroupId")) & group_urns
                )
            else:
                admits = False
            if admits:
                report(f"{instance.name} admits inbound traffic ({resource.name}): Session "
                       "Manager needs none, its agent dials out", resource.urn)  # fmt: skip


def _session_logs_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A shell session document logs every session to CloudWatch, encrypted, and
    encrypts the session itself with a KMS key; nobody runs as another OS user."""
    props = args.props
    content = iam_document(props.get("content"))
    if props.get("documentType") != "Session" or content.get("sessionType") != "Standard_Stream":
        args.not_applicable("only shell (Standard_Stream) session documents log sessions")
    inputs = content.get("inputs") or {}
    name = props.get("name")
    if not inputs.get("cloudWatchLogGroupName"):
        report(f"session document {name} logs sessions nowhere (no cloudWatchLogGroupName)",
               args.urn)  # fmt: skip
    if inputs.get("cloudWatchEncryptionEnabled") is not True:
        report(f"session document {name} logs to a group it does not require encrypted "
               "(cloudWatchEncryptionEnabled is not true)", args.urn)  # fmt: skip
    if not inputs.get("kmsKeyId"):
        report(f"session document {name} does not encrypt session data with a KMS key "
               "(no kmsKeyId)", args.urn)  # fmt: skip
    if inputs.get("runAsEnabled") is True:
        report(f"session document {name} lets sessions run as another OS user (runAsEnabled)",
               args.urn)  # fmt: skip


def _rds_not_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("publiclyAccessible"):
        report("publiclyAccessible is true", args.urn)


_MIN_DAYS = {"type": "integer", "minimum": 0, "maximum": 35}

RULES: tuple[Rule, ...] = (
    Rule("rds-storage-encrypted", "RDS storage must be encrypted at rest.", Severity.CRITICAL,
         "Set storage_encrypted=True with a KMS key (needs a new instance from a snapshot).",
         "RDS.3", ("CKV_AWS_16",), (RDS_INSTANCE,),
         _require("storageEncrypted", "storageEncrypted is not true")),
    Rule("rds-not-public", "RDS instances must not be publicly accessible.", Severity.CRITICAL,
         "Set publicly_accessible=False and keep the instance in private subnets.",
         "RDS.2", ("CKV_AWS_17",), (RDS_INSTANCE,),
         _rds_not_public),
    Rule("rds-multi-az", "RDS primaries must run Multi-AZ.", Severity.HIGH,
         "Set stagecraft:dbMultiAz: true in the stack file.",
         "RDS.5", ("CKV_AWS_157",), (RDS_INSTANCE,),
         _require("multiAz", "multiAz is not true", primaries_only=True)),
    Rule("rds-backup-retention", "RDS automated backups must be kept long enough.",
         Severity.HIGH, "Raise stagecraft:dbBackupRetentionDays to the policy's minimumDays.",
         "RDS.11", (), (RDS_INSTANCE,), _rds_backup_retention,
         config={"minimumDays": {**_MIN_DAYS, "default": 7}},
         control_settings={"minimumDays": 7}),
    Rule("rds-deletion-protection", "RDS instances must have deletion protection.",
         Severity.HIGH, "Set stagecraft:dbDeletionProtection: true.",
         "RDS.8", ("CKV_AWS_293",), (RDS_INSTANCE,),
         _require("deletionProtection", "deletionProtection is not true")),
    Rule("rds-iam-authentication", "RDS must accept IAM database authentication.",
         Severity.MEDIUM, "Set stagecraft:dbIamAuthentication: true.",
         "RDS.10", ("CKV_AWS_161",), (RDS_INSTANCE,),
         _require("iamDatabaseAuthenticationEnabled", "IAM database authentication is off")),
    Rule("rds-performance-insights", "Performance Insights must be on, encrypted with a "
         "customer-managed key.", Severity.LOW, "Set stagecraft:dbPerformanceInsights: true.",
         None, ("CKV_AWS_353", "CKV_AWS_354"), (RDS_INSTANCE,), _rds_performance_insights),
    Rule("rds-enhanced-monitoring", "RDS enhanced monitoring must be on.", Severity.LOW,
         "Set stagecraft:dbMonitoringIntervalSeconds to 1-60.",
         "RDS.6", ("CKV_AWS_118",), (RDS_INSTANCE,), _rds_enhanced_monitoring),
    Rule("rds-logs-exported", "PostgreSQL logs must be exported to CloudWatch.",
         Severity.MEDIUM, "Export the postgresql and upgrade logs "
         "(enabled_cloudwatch_logs_exports).",
         "RDS.36", ("CKV_AWS_129",), (RDS_INSTANCE,), _rds_logs_exported),
    Rule("rds-auto-minor-upgrades", "RDS must apply minor engine upgrades automatically.",
         Severity.MEDIUM, "Leave auto_minor_version_upgrade on.",
         "RDS.13", ("CKV_AWS_226",), (RDS_INSTANCE,), _rds_auto_minor_upgrade),
    Rule("rds-copy-tags-to-snapshots", "RDS snapshots must carry the instance's tags.",
         Severity.LOW, "Set copy_tags_to_snapshot=True.",
         "RDS.17", (), (RDS_INSTANCE,),
         _require("copyTagsToSnapshot", "copyTagsToSnapshot is not true")),
    Rule("rds-non-default-port", "RDS must not listen on the engine's default port, where "
         "policy config asks for it.", Severity.LOW, "Set a non-default port.",
         "RDS.23", (), (RDS_INSTANCE,), _rds_default_port,
         config={"requireNonDefaultPort": {"type": "boolean", "default": False}},
         control_settings={"requireNonDefaultPort": True}),
    Rule("rds-non-default-admin-username", "The RDS master user must not have a well-known "
         "default name.", Severity.MEDIUM, "Set stagecraft:dbMasterUsername to a non-default "
         "name (needs a new instance).",
         "RDS.25", (), (RDS_INSTANCE,), _rds_default_username,
         config={"forbiddenUsernames": {"type": "array", "items": {"type": "string"},
                                        "default": ["postgres", "admin", "root"]}}),
    Rule("elasticache-encryption-at-rest", "ElastiCache must encrypt data at rest.",
         Severity.HIGH, "Set at_rest_encryption_enabled=True (needs a new replication group).",
         "ElastiCache.4", ("CKV_AWS_29",), (CACHE_GROUP,),
         _require("atRestEncryptionEnabled", "at-rest encryption is off")),
    Rule("elasticache-encryption-in-transit", "ElastiCache must encrypt data in transit.",
         Severity.HIGH, "Set transit_encryption_enabled=True.",
         "ElastiCache.5", ("CKV_AWS_30",), (CACHE_GROUP,),
         _require("transitEncryptionEnabled", "in-transit encryption is off")),
    Rule("elasticache-auth", "Redis must require AUTH (with in-transit encryption).",
         Severity.HIGH, "Set an auth_token (generated) with transit encryption on.",
         "ElastiCache.6", ("CKV_AWS_31",), (CACHE_GROUP,), _cache_auth),
    Rule("elasticache-auto-minor-upgrades", "ElastiCache must apply minor engine upgrades "
         "automatically.", Severity.MEDIUM, "Leave auto_minor_version_upgrade on.",
         "ElastiCache.2", (), (CACHE_GROUP,), _cache_auto_minor_upgrade),
    Rule("elasticache-automatic-failover", "Redis replication groups must fail over "
         "automatically.", Severity.MEDIUM, "Set stagecraft:cacheNodeCount to 2 or more.",
         "ElastiCache.3", (), (CACHE_GROUP,),
         _require("automaticFailoverEnabled", "automatic failover is off")),
    Rule("elasticache-snapshot-retention", "Redis snapshots must be kept.", Severity.MEDIUM,
         "Raise stagecraft:cacheSnapshotRetentionDays to the policy's minimumDays.",
         "ElastiCache.1", (), (CACHE_GROUP,), _cache_snapshots,
         config={"minimumDays": {**_MIN_DAYS, "default": 1}},
         control_settings={"minimumDays": 1}),
    Rule("elasticache-no-default-subnet-group", "ElastiCache must not use the default subnet "
         "group.", Severity.HIGH, "Create the cache in its own subnet group.",
         "ElastiCache.7", (), (CACHE_GROUP,), _cache_subnet_group),
    Rule("elasticache-customer-managed-key", "ElastiCache must encrypt with a customer-managed "
         "KMS key.", Severity.MEDIUM, "Set kms_key_id to the environment's key.",
         None, ("CKV_AWS_191",), (CACHE_GROUP,),
         _require("kmsKeyId", "no customer-managed KMS key")),
    Rule("eks-endpoint-restricted", "The EKS API endpoint must be private, or public only to "
         "listed CIDRs where policy config allows that.", Severity.HIGH,
         "Set stagecraft:clusterEndpointPublic: false, or list "
         "stagecraft:clusterPublicAccessCidrs where a public endpoint is allowed.",
         "EKS.1", ("CKV_AWS_38", "CKV_AWS_39"), (EKS_CLUSTER,), _eks_endpoint,
         config={"allowPublicWithCidrs": {"type": "boolean", "default": True}},
         control_settings={"allowPublicWithCidrs": False}),
    Rule("eks-secrets-encryption", "EKS must envelope-encrypt Kubernetes secrets with KMS.",
         Severity.HIGH, "Set encryption_config with resources ['secrets'] and a KMS key.",
         "EKS.3", ("CKV_AWS_58",), (EKS_CLUSTER,), _eks_secrets_encryption),
    Rule("eks-control-plane-logging", "EKS must send the control-plane logs policy config "
         "requires (production: all five).", Severity.MEDIUM,
         "List them in stagecraft:clusterLogTypes.",
         "EKS.8", ("CKV_AWS_37",), (EKS_CLUSTER,), _eks_logging,
         config={"requiredLogTypes": {"type": "array", "items": {"type": "string"},
                                      "default": ["api", "audit", "authenticator"]}},
         control_settings={"requiredLogTypes": ["api", "audit", "authenticator",
                                                 "controllerManager", "scheduler"]}),
    Rule("log-groups-encrypted-and-retained", "Log groups must be KMS-encrypted, expire, and "
         "keep the audit trail long enough.", Severity.MEDIUM,
         "Create log groups through encrypted_log_group(); raise "
         "stagecraft:auditLogRetentionDays.",
         "CloudWatch.16", ("CKV_AWS_158", "CKV_AWS_66", "CKV_AWS_338"), (LOG_GROUP,),
         _log_groups, config={"auditMinimumDays": {"type": "integer", "minimum": 1,
                                                   "default": 90}},
         control_settings={"auditMinimumDays": 365}),
    Rule("kms-key-rotation", "Customer-managed KMS keys must rotate automatically.",
         Severity.MEDIUM, "Set enable_key_rotation=True.", "KMS.4", ("CKV_AWS_7",),
         (KMS_KEY,), _kms_rotation),
    Rule("launch-template-hardened", "Node launch templates must require IMDSv2 and encrypt "
         "their volumes with a customer key.", Severity.HIGH,
         "Set metadata_options http_tokens=required and encrypted block device mappings.",
         "EC2.170", ("CKV_AWS_79", "CKV_AWS_8"), (LAUNCH_TEMPLATE,), _launch_template),
    Rule("eks-supported-version", "EKS must run a supported Kubernetes version.",
         Severity.HIGH, "Upgrade stagecraft:kubernetesVersion one minor version at a time.",
         "EKS.2", (), (EKS_CLUSTER,), _eks_version,
         config={"supportedVersions": {"type": "array", "items": {"type": "string"},
                                       "default": SUPPORTED_KUBERNETES_VERSIONS}}),
    Rule("secretsmanager-customer-managed-key", "Secrets Manager secrets must use a "
         "customer-managed KMS key.", Severity.MEDIUM, "Set kms_key_id on the secret.",
         None, ("CKV_AWS_149",), (SECRET,),
         _require("kmsKeyId", "encrypted with the AWS-managed key, not a customer key")),
    Rule("secretsmanager-rotation", "Secrets must rotate automatically, where policy config "
         "requires it.", Severity.MEDIUM, "Attach a rotation schedule (SecretRotation) or let "
         "the owning service manage the secret.",
         "SecretsManager.1", ("CKV2_AWS_57",), (),
         validate_stack=_secret_rotation,
         config={"requireRotation": {"type": "boolean", "default": False}},
         control_settings={"requireRotation": True}),
    Rule("vpc-flow-logs", "Every VPC must have flow logs.", Severity.MEDIUM,
         "Set stagecraft:vpcFlowLogs: true.",
         "EC2.6", ("CKV2_AWS_11",), (), validate_stack=_flow_logs),
    Rule("vpc-default-security-group-closed", "Every VPC's default security group must allow "
         "no traffic.", Severity.HIGH, "Adopt it with aws.ec2.DefaultSecurityGroup and no rules.",
         "EC2.2", ("CKV2_AWS_12",), (), validate_stack=_default_security_groups_closed),
    Rule("network-acl-no-remote-admin", "No network ACL may admit SSH or RDP from the "
         "internet.", Severity.HIGH, "Adopt the default ACL (aws.ec2.DefaultNetworkAcl) with "
         "deny rules for 22 and 3389 before any allow.", "EC2.21",
         ("CKV_AWS_231", "CKV_AWS_232"), (), validate_stack=_network_acls),
    Rule("security-group-rules-described", "Security groups and their rules must say what "
         "they are for.", Severity.LOW, "Give each a description.", None, ("CKV_AWS_23",), (),
         validate_stack=_rules_described),
    Rule("no-remote-admin-ports", "No security group may open SSH (22) or RDP (3389), from "
         "anywhere.", Severity.CRITICAL, "Remove the rule; reach instances through Systems "
         "Manager Session Manager.", "EC2.13", ("CKV_AWS_24", "CKV_AWS_25"), (),
         validate_stack=_no_remote_admin_ports),
    Rule("no-open-data-ports", "No security group may open the database or cache ports to "
         "0.0.0.0/0.", Severity.CRITICAL, "Admit only the cluster's security group.",
         "EC2.19", (), (), validate_stack=_no_open_data_ports),
    Rule("required-tags", "Every taggable AWS resource must carry the environment's tags.",
         Severity.MEDIUM, "Create resources through the environment's provider, whose "
         "default tags set them.", None, (), (), validate_stack=_required_tags,
         config={"requiredTags": {"type": "array", "items": {"type": "string"},
                                  "default": list(REQUIRED_TAGS)}}),
    Rule("stateful-resources-protected", "Databases, caches, clusters and keys must be "
         "`protect`ed, where policy config requires it.", Severity.HIGH,
         "Set stagecraft:protectStatefulResources: true.", None, (), (),
         validate_stack=_protected_in_production,
         config={"requireProtection": {"type": "boolean", "default": False}}),
    Rule("pod-security-standards", "Every pod must pass the Pod Security Standard its "
         "namespace enforces.", Severity.HIGH, "Set the pod's securityContext (runAsNonRoot, "
         "seccompProfile RuntimeDefault) and each container's (allowPrivilegeEscalation: "
         "false, capabilities drop ALL).", None,
         ("CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_23", "CKV_K8S_31", "CKV_K8S_37"), (),
         validate_stack=_pod_security),
    Rule("iam-web-identity-trust-pinned", "A role that a web identity (GitHub Actions, a "
         "Kubernetes ServiceAccount) may assume pins the token's audience and exact subject.",
         Severity.CRITICAL, "Add StringEquals conditions on <issuer>:aud and <issuer>:sub; "
         "for GitHub, `repo:<owner>/<repo>:<context>`.", None, ("CKV_AWS_358",), (IAM_ROLE,),
         _web_identity_trust,
         config={"githubRepository": {"type": "string", "default": ""}}),
    Rule("iam-no-wildcard-actions", "No IAM policy allows every action; a whole service on "
         "every resource only where its reason is recorded.", Severity.HIGH,
         "Name the actions and resources, or record the statement's reason under "
         "justifiedStatements in the policy config.", "IAM.21", ("CKV_AWS_62", "CKV_AWS_63"),
         (IAM_ROLE_POLICY, IAM_POLICY), _wildcard_actions,
         config={"justifiedStatements": {"type": "object", "default": {}}},
         control_settings={"justifiedStatements": {}}),
    Rule("rds-db-connect-scoped", "An IAM policy lets a principal log in to a database (IAM "
         "authentication) as one named database user on one named instance, never any user or "
         "any instance.", Severity.HIGH, "Name the user and the instance's DbiResourceId: "
         "arn:aws:rds-db:<region>:<account>:dbuser:db-<id>/<user>.", None, (),
         (IAM_ROLE_POLICY,), _database_logins_scoped),
    Rule("s3-buckets-hardened", "S3 buckets block public access, deny requests without TLS, "
         "keep versions, encrypt by default (KMS) and log access.", Severity.HIGH,
         "Give the bucket a public access block, a TLS-only bucket policy, versioning, KMS "
         "default encryption and server access logging.", "S3.8",
         ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV_AWS_21", "CKV_AWS_18",
          "CKV_AWS_145"), (), validate_stack=_buckets_hardened),
    Rule("alb-https-only", "The environment's ALB serves HTTPS with a certificate and "
         "redirects HTTP.", Severity.HIGH, "Give the IngressClassParams a certificateArn and "
         "sslRedirectPort \"443\" (stagecraft:domain with loadBalancerController).",
         "ELB.1", ("CKV2_AWS_20", "CKV_AWS_2"), (INGRESS_CLASS_PARAMS,), _alb_https_only),
    Rule("alb-tls-policy", "The ALB's HTTPS listener refuses TLS 1.0 and 1.1.", Severity.HIGH,
         "Set stagecraft:ingressTlsPolicy to a TLS 1.2+ policy.", "ELB.17", ("CKV_AWS_103",),
         (INGRESS_CLASS_PARAMS,), _alb_tls_policy),
    Rule("alb-drops-invalid-headers", "The ALB drops HTTP headers with invalid names.",
         Severity.MEDIUM, "Set routing.http.drop_invalid_header_fields.enabled=true in the "
         "IngressClassParams' loadBalancerAttributes.", "ELB.4", ("CKV_AWS_131",),
         (INGRESS_CLASS_PARAMS,), _alb_invalid_headers),
    Rule("alb-deletion-protection", "The ALB has deletion protection, where policy config "
         "requires it.", Severity.MEDIUM, "Set stagecraft:ingressDeletionProtection: true.",
         "ELB.6", ("CKV_AWS_150",), (INGRESS_CLASS_PARAMS,), _alb_deletion_protection,
         config={"requireDeletionProtection": {"type": "boolean", "default": False}},
         control_settings={"requireDeletionProtection": True}),
    Rule("cloudtrail-enabled", "The stack that owns the account's audit trail has a trail of "
         "read and write management events in every region.", Severity.HIGH,
         "Set stagecraft:cloudTrail: true in the stack that owns the account's trail "
         "(production).", "CloudTrail.1", ("CKV_AWS_67",), (), validate_stack=_trail_required,
         config={"requireTrail": {"type": "boolean", "default": False}}),
    Rule("cloudtrail-log-validation", "CloudTrail log files are validated (signed digests).",
         Severity.MEDIUM, "Set enable_log_file_validation=True on the trail.", "CloudTrail.4",
         ("CKV_AWS_36",), (TRAIL,), _trail_validated),
    Rule("cloudtrail-encrypted", "CloudTrail log files are encrypted with a customer-managed "
         "KMS key.", Severity.MEDIUM, "Set kms_key_id on the trail (the environment's key).",
         "CloudTrail.2", ("CKV_AWS_35",), (TRAIL,), _trail_encrypted),
    Rule("cloudtrail-cloudwatch-logs", "CloudTrail delivers to CloudWatch Logs, where it can be "
         "searched and alarmed on.", Severity.LOW, "Set cloud_watch_logs_group_arn and "
         "cloud_watch_logs_role_arn on the trail.", "CloudTrail.5", ("CKV2_AWS_10",), (TRAIL,),
         _trail_to_cloudwatch),
    Rule("sns-topics-encrypted", "SNS topics are encrypted with a customer-managed KMS key "
         "CloudWatch may use.", Severity.MEDIUM, "Set kms_master_key_id to the environment's "
         "key (its policy admits cloudwatch.amazonaws.com).", "SNS.1", ("CKV_AWS_26",),
         (SNS_TOPIC,), _topic_encrypted),
    Rule("alarms-notify", "Every CloudWatch alarm has its actions on and notifies someone.",
         Severity.MEDIUM, "Give the alarm alarm_actions (the environment's SNS topic) and "
         "leave actions_enabled true.", "CloudWatch.15", ("CKV_AWS_319",), (METRIC_ALARM,),
         _alarm_actions),
    Rule("stateful-resources-alarmed", "Every database, replica, cache node and NAT gateway, "
         "and the node group, has its CloudWatch alarms, where policy config requires them.",
         Severity.HIGH, "List a receiver in stagecraft:alertReceivers (the alarms come with "
         "it).", None, (), (), validate_stack=_stateful_resources_alarmed,
         config={"requireAlarms": {"type": "boolean", "default": False}}),
    Rule("budget-defined", "The stack has an AWS budget of its own tagged resources, with a "
         "forecast notification, each notification telling someone, where policy config "
         "requires it.", Severity.MEDIUM, "Set stagecraft:monthlyBudgetUsd and "
         "budgetAlertEmails (or alertReceivers with budgetAlertTopic).", None, (), (),
         validate_stack=_budget_defined,
         config={"requireBudget": {"type": "boolean", "default": False}}),
    Rule("always-on", "No schedule stops the database or scales a node group to zero, where "
         "policy config says the stack runs around the clock.", Severity.HIGH,
         "Remove stagecraft:workingHours.", None, (), (), validate_stack=_always_on,
         config={"forbidOffHours": {"type": "boolean", "default": False}}),
    Rule("scheduler-roles-scoped", "A role EventBridge Scheduler assumes is limited to this "
         "account's schedules and names the actions and resources it acts on.",
         Severity.HIGH, "Condition its trust on aws:SourceArn (the schedule group) and list "
         "the resource ARNs in its policy.", None, (), (),
         validate_stack=_scheduler_roles_scoped),
    Rule("s3-buckets-lifecycle", "Every S3 bucket has a lifecycle that clears abandoned "
         "multipart uploads.", Severity.LOW, "Add a lifecycle rule with "
         "abort_incomplete_multipart_upload.", "S3.13", ("CKV2_AWS_61", "CKV_AWS_300"), (),
         validate_stack=_bucket_lifecycles),
    Rule("helm-charts-pinned", "Every Helm chart comes from a named repository at one exact "
         "version.", Severity.HIGH, "Pin it in infra/charts.py (repository, chart, version).",
         None, (), (), validate_stack=_charts_pinned),
    Rule("external-dns-confined", "external-dns writes only its environment's domain and "
         "zone; it never deletes records where policy config says so.", Severity.HIGH,
         "Give it domainFilters and zone-id-filter (ExternalDns does), and "
         "stagecraft:externalDnsPolicy: upsert-only.", None, (), (),
         validate_stack=_external_dns_confined,
         config={"requireUpsertOnly": {"type": "boolean", "default": False}}),
    Rule("external-secrets-scoped", "The External Secrets Operator reads only its own "
         "environment's secrets: no identity of its own, namespaced stores only, each reading as "
         "a ServiceAccount whose role names `<project>-<stack>/` secrets and decrypts through "
         "Secrets Manager only.", Severity.CRITICAL,
         "Build it with ThirdPartySecrets (infra/components/third_party_secrets.py): its reader "
         "role is limited to `<prefix>/third-party/*`.", None, (), (),
         validate_stack=external_secrets_scoped,
         config={"project": {"type": "string", "default": "stagecraft"}}),
    Rule("environment-isolation", "No resource may reference another environment's stack or "
         "resources.", Severity.CRITICAL, "Remove the cross-environment reference.",
         None, (), (), validate_stack=_isolated,
         config={
             "project": {"type": "string", "default": "stagecraft"},
             "environments": {"type": "array", "items": {"type": "string"},
                              "default": ["dev", "staging", "production"]},
             "allowedStackReferences": {"type": "array", "items": {"type": "string"},
                                        "default": []},
             "sharedResourceNames": {"type": "array", "items": {"type": "string"},
                                     "default": []},
             "dataSyncPeers": {"type": "array", "items": {"type": "string"}, "default": []},
         }),
    Rule("bastion-hardened", "An EC2 instance (the Session Manager bastion) has no public "
         "address, no SSH key and no inbound rule; IMDSv2 only; its root volume is encrypted "
         "with a customer-managed key.", Severity.HIGH, "Keep the bastion as "
         "infra/components/access/session_manager.py makes it: private subnet, "
         "associate_public_ip_address=False, no key_name, no ingress rule, http_tokens "
         "'required', root_block_device encrypted with the environment's key.", "EC2.8",
         ("CKV_AWS_79", "CKV_AWS_88", "CKV_AWS_8"), (), validate_stack=_bastions_hardened),
    Rule("session-logs-encrypted", "A shell session document logs every session to an "
         "encrypted CloudWatch log group and encrypts session data with a KMS key; no Run As.",
         Severity.HIGH, "Set cloudWatchLogGroupName, cloudWatchEncryptionEnabled: true and "
         "kmsKeyId (the environment's key), runAsEnabled: false in the document's inputs.",
         None, ("CKV_AWS_112", "CKV_AWS_113"), (SSM_DOCUMENT,), _session_logs_encrypted),
    Rule("data-sync-confined", "Production's anonymised dumps: only its export job writes "
         "them, only the import roles policy config names read them, and an import job only "
         "reads.", Severity.CRITICAL,
         "Keep dataExportReaderRoleArns to the stacks the policy config's readers lists.",
         None, (), (), validate_stack=_data_sync_confined,
         config={
             "project": {"type": "string", "default": "stagecraft"},
             "readers": {"type": "array", "items": {"type": "string"}, "default": []},
             "readerAccounts": {"type": "array", "items": {"type": "string"}, "default": []},
             "sources": {"type": "array", "items": {"type": "string"}, "default": []},
         }),
    Rule("backups-copied-and-locked", "An AWS Backup plan copies the database's backups to a "
         "vault in another region; every vault has a customer KMS key of its own and a vault "
         "lock, where policy config requires backups.", Severity.HIGH,
         "Set stagecraft:awsBackup: true, backupCopyRegion (another region) and "
         "backupVaultLock: governance or compliance.", None, (), (),
         validate_stack=backups_copied_and_locked,
         config={"requireBackups": {"type": "boolean", "default": False}}),
)  # fmt: skip


RULES_BY_NAME = {rule.name: rule for rule in RULES}


def policies() -> list[Policy]:
    return [rule.to_policy() for rule in RULES]
