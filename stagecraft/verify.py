"""`stagecraft verify`: is the live account what the stack file says?

The stack is planned offline (no state, no Pulumi CLI); the account is read
with botocore, read-only calls only (Describe*, List*, Get*), and each
resource an auditor cares about is compared field by field with the plan:
RDS instances and their replicas, the Redis replication group, the EKS
cluster and node group, security group ingress, the KMS key, secrets and
log groups, and the environment's tags on each. Resources tagged with the
stack (or named like its resources) that the plan does not hold are
reported as unmanaged; planned ones that do not exist, as missing.

What AWS changes by design is told apart from drift: the node group's
running size (the autoscaler's), storage grown by RDS storage autoscaling
up to its maximum, the minor engine version RDS upgrades to.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from infra.components.account.policies import DRIFT_READ_ACTIONS
from stagecraft.offline.engine import Plan, PlannedResource

# What this check may call: the drift role's permissions (bootstrap) and the
# least-privilege policy the README gives auditors.
READ_ACTIONS = DRIFT_READ_ACTIONS

Kind = Literal["drift", "missing", "unmanaged", "expected"]

# Exit codes: 0 matches (or drift outside production without --strict),
# 1 drift, 3 the account could not be read (never a false "no drift").
EXIT_DRIFT = 1
EXIT_UNVERIFIED = 3

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
KMS_KEY = "aws:kms/key:Key"
KMS_ALIAS = "aws:kms/alias:Alias"
SECRET = "aws:secretsmanager/secret:Secret"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ZONE = "aws:route53/zone:Zone"
CERTIFICATE = "aws:acm/certificate:Certificate"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
# DescribeAlarms takes at most 100 names a call.
ALARMS_PER_CALL = 100


# The policy of the pack, and so its controls, that a drifted field breaks.
FIELD_POLICIES: dict[str, str] = {
    "MultiAZ": "rds-multi-az",
    "StorageEncrypted": "rds-storage-encrypted",
    "BackupRetentionPeriod": "rds-backup-retention",
    "DeletionProtection": "rds-deletion-protection",
    "PubliclyAccessible": "rds-not-public",
    "IAMDatabaseAuthenticationEnabled": "rds-iam-authentication",
    "AutomaticFailover": "elasticache-automatic-failover",
    "AtRestEncryptionEnabled": "elasticache-encryption-at-rest",
    "TransitEncryptionEnabled": "elasticache-encryption-in-transit",
    "AUTH (user groups)": "elasticache-auth",
    "endpointPublicAccess": "eks-endpoint-restricted",
    "publicAccessCidrs": "eks-endpoint-restricted",
    "secrets encryption": "eks-secrets-encryption",
    "logging": "eks-control-plane-logging",
    "KeyRotationEnabled": "kms-key-rotation",
    "EnabledCloudwatchLogsExports": "rds-logs-exported",
    "TransitEncryptionMode": "elasticache-encryption-in-transit",
    "retentionInDays": "log-groups-encrypted-and-retained",
    "kmsKeyId": "log-groups-encrypted-and-retained",
    "ingress": "no-open-data-ports",
    "VpcSecurityGroups": "no-open-data-ports",
    "default ingress": "vpc-default-security-group-closed",
    "default egress": "vpc-default-security-group-closed",
    "tags": "required-tags",
}


class VerifyError(Exception):
    """The account could not be read: credentials, permissions, throttling."""


@dataclass(frozen=True)
class Finding:
    kind: Kind
    resource: str  # what an auditor finds it by: identifier, name or ARN
    type: str
    field: str = ""
    expected: Any = None
    actual: Any = None
    note: str = ""

    @property
    def policy(self) -> str | None:
        return FIELD_POLICIES.get(self.field)

    @property
    def controls(self) -> list[str]:
        from policy.rules import RULES_BY_NAME

        rule = RULES_BY_NAME.get(self.policy or "")
        return rule.controls if rule else []

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource": self.resource,
            "type": self.type,
            "field": self.field,
            "expected": self.expected,
            "actual": self.actual,
            "policy": self.policy,
            "controls": self.controls,
            "note": self.note,
        }


@dataclass
class Verification:
    stack: str
    region: str
    production: bool
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0

    @property
    def drift(self) -> list[Finding]:
        return [f for f in self.findings if f.kind != "expected"]

    def exit_code(self, *, strict: bool) -> int:
        return EXIT_DRIFT if self.drift and (self.production or strict) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "production": self.production,
            "resourcesChecked": self.checked,
            "drift": len(self.drift),
            "findings": [f.to_json() for f in self.findings],
        }


# --------------------------------------------------------------------------- #
# Reading the account
# --------------------------------------------------------------------------- #


_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "SignatureDoesNotMatch",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}


class Account:
    """botocore clients for one region, every call wrapped so a failure is one VerifyError."""

    def __init__(self, region: str) -> None:
        import botocore.config
        import botocore.session

        self._session = botocore.session.get_session()
        # The SDKs' standard retries ride out short throttling; what still
        # fails stops the check rather than passing it.
        self._config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 5})
        self.region = region
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.create_client(
                service, region_name=self.region, config=self._config
            )
        return self._clients[service]

    def call(
        self, service: str, operation: str, *, missing: Iterable[str] = (), **kwargs: Any
    ) -> dict[str, Any] | None:
        """``operation`` of ``service``; None when AWS answers with one of ``missing``.

        A paginated operation is followed to its last page, the lists of every
        page joined: a resource on page two is as much there as one on page one.
        """
        import botocore.exceptions

        client = self.client(service)
        try:
            if not client.can_paginate(operation):
                return dict(getattr(client, operation)(**kwargs))
            pages = client.get_paginator(operation).paginate(**kwargs)
            merged: dict[str, Any] = {}
            for page in pages:
                for key, value in page.items():
                    if isinstance(value, list):
                        merged.setdefault(key, []).extend(value)
                    else:
                        merged.setdefault(key, value)
            return merged
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in set(missing):
                return None
            action = f"{service}:{_action_name(operation)}"
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _DENIED or status == 403:
                raise VerifyError(
                    f"{action} was refused ({code}): the credentials may not read this; "
                    "use a role with ReadOnlyAccess or the policy in README 'Drift check'"
                ) from None
            if code in _THROTTLED:
                raise VerifyError(
                    f"{action} was throttled after retries ({code}); run the check again "
                    "later. Nothing was concluded"
                ) from None
            message = error.response.get("Error", {}).get("Message", "")
            raise VerifyError(f"{action} failed: {code} {message}".strip()) from None
        except botocore.exceptions.NoCredentialsError:
            raise VerifyError(
                "no AWS credentials found (AWS_PROFILE, aws sso login, or the workflow's "
                "OIDC role); nothing was checked"
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise VerifyError(f"{service}:{_action_name(operation)}: {error}") from None


# Operations whose IAM action is not named after them.
_ACTIONS_NAMED_OTHERWISE = {"get_public_access_block": "GetBucketPublicAccessBlock"}


def _action_name(operation: str) -> str:
    if operation in _ACTIONS_NAMED_OTHERWISE:
        return _ACTIONS_NAMED_OTHERWISE[operation]
    return "".join(part.capitalize() for part in operation.split("_")).replace("Db", "DB")


# --------------------------------------------------------------------------- #
# Comparing
# --------------------------------------------------------------------------- #


def _auto_named(planned: str, live: str) -> bool:
    """``live`` is ``planned`` itself or Pulumi's auto-name of it (``-`` and 7 hex)."""
    suffix = live.removeprefix(f"{planned}-")
    return live == planned or (
        suffix != live and len(suffix) == 7 and all(c in "0123456789abcdef" for c in suffix)
    )


@dataclass(frozen=True)
class SecretAgePolicy:
    """The environment's `secretRotationDays`: no secret's value may be older."""

    max_days: int
    now: dt.datetime


class _Comparison:
    def __init__(
        self,
        plan: Plan,
        account: Account,
        environment_tags: Mapping[str, str],
        secret_age: SecretAgePolicy | None = None,
    ):
        self.plan, self.account, self.tags = plan, account, dict(environment_tags)
        self.secret_age = secret_age
        self.findings: list[Finding] = []
        self.known_arns: set[str] = set()
        self.checked = 0
        self.key_arn: str | None = None
        # The plan's (offline) security group ids and the live ones they are.
        self.group_ids: dict[str, str] = {}
        self.cluster_group_id: str | None = None

    def differs(
        self, resource: str, type_token: str, name: str, expected: Any, actual: Any, note: str = ""
    ) -> None:
        if _normal(expected) != _normal(actual):
            self.findings.append(
                Finding("drift", resource, type_token, name, expected, actual, note)
            )

    def expected(
        self, resource: str, type_token: str, name: str, planned: Any, actual: Any, why: str
    ) -> None:
        if _normal(planned) != _normal(actual):
            self.findings.append(
                Finding("expected", resource, type_token, name, planned, actual, why)
            )

    def describe(
        self,
        resource: str,
        type_token: str,
        service: str,
        operation: str,
        *,
        not_found: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """One planned resource read live; None, and reported missing, where AWS has none."""
        self.checked += 1
        found = self.account.call(service, operation, missing=(not_found,), **kwargs)
        if found is None:
            self.missing(resource, type_token)
        return found

    def missing(self, resource: str, type_token: str) -> None:
        self.findings.append(
            Finding("missing", resource, type_token, note="planned, but not in the account")
        )

    def check_tags(self, resource: str, type_token: str, live: Mapping[str, str]) -> None:
        for key in ("environment", "stack"):
            if live.get(key) != self.tags.get(key):
                self.findings.append(
                    Finding(
                        "drift",
                        resource,
                        type_token,
                        "tags",
                        f"{key}={self.tags.get(key)}",
                        f"{key}={live.get(key)}" if key in live else f"no {key} tag",
                    )
                )


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(_normal(v) for v in value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _tag_map(tags: Sequence[Mapping[str, str]] | None, key: str = "Key") -> dict[str, str]:
    value = "Value" if key == "Key" else "TagValue"
    return {t[key]: t[value] for t in tags or []}


def _key(c: _Comparison) -> None:
    """The environment's KMS key, found by its alias: rotation on, tags.

    `alias/<project>-<stack>`; a component's own key (the data-sync dumps')
    has a longer alias and is not the one secrets and logs are encrypted with.
    """
    environment_alias = f"alias/{c.plan.project}-{c.plan.stack}"
    aliases = [a for a in c.plan.of_type(KMS_ALIAS) if a.inputs["name"] == environment_alias]
    if not aliases:
        return
    alias = str(aliases[0].inputs["name"])
    described = c.describe(
        alias, KMS_KEY, "kms", "describe_key", not_found="NotFoundException", KeyId=alias
    )
    if described is None:
        return
    key = described["KeyMetadata"]
    c.key_arn = str(key["Arn"])
    c.differs(alias, KMS_KEY, "KeyState", "Enabled", key.get("KeyState"))
    c.known_arns.add(c.key_arn)
    rotation = c.account.call("kms", "get_key_rotation_status", KeyId=key["KeyId"]) or {}
    c.differs(alias, KMS_KEY, "KeyRotationEnabled", True, rotation.get("KeyRotationEnabled"))
    tags = c.account.call("kms", "list_resource_tags", KeyId=key["KeyId"]) or {}
    c.check_tags(alias, KMS_KEY, _tag_map(tags.get("Tags"), "TagKey"))


def _expected_key(c: _Comparison, planned: Any) -> Any:
    """The plan names the environment's key by the offline ARN; live, it is the alias's key."""
    return c.key_arn if planned and c.key_arn else planned


def _databases(c: _Comparison) -> None:
    groups = c.plan.of_type(RDS_PARAMETER_GROUP)
    for instance in c.plan.of_type(RDS_INSTANCE):
        planned = instance.inputs
        identifier = str(planned["identifier"])
        found = c.describe(
            identifier,
            RDS_INSTANCE,
            "rds",
            "describe_db_instances",
            not_found="DBInstanceNotFound",
            DBInstanceIdentifier=identifier,
        )
        if found is None:
            continue
        live = found["DBInstances"][0]
        c.known_arns.add(str(live["DBInstanceArn"]))
        replica = "replicateSourceDb" in planned
        for name, expected in (
            ("DBInstanceClass", planned.get("instanceClass")),
            ("StorageEncrypted", planned.get("storageEncrypted")),
            ("KmsKeyId", _expected_key(c, planned.get("kmsKeyId"))),
            ("PubliclyAccessible", planned.get("publiclyAccessible", False)),
            ("IAMDatabaseAuthenticationEnabled", planned.get("iamDatabaseAuthenticationEnabled")),
            ("BackupRetentionPeriod", planned.get("backupRetentionPeriod")),
            ("DeletionProtection", planned.get("deletionProtection", False)),
            *([] if replica else [("MultiAZ", planned.get("multiAz", False))]),
        ):
            if expected is not None:
                c.differs(identifier, RDS_INSTANCE, name, expected, live.get(name))
        planned_groups = [
            c.group_ids.get(str(g), str(g)) for g in planned.get("vpcSecurityGroupIds") or []
        ]
        live_groups = [g["VpcSecurityGroupId"] for g in live.get("VpcSecurityGroups") or []]
        c.differs(identifier, RDS_INSTANCE, "VpcSecurityGroups", planned_groups, live_groups)
        if replica:
            c.differs(identifier, RDS_INSTANCE, "ReadReplicaSourceDBInstanceIdentifier",
                      planned.get("replicateSourceDb"),
                      live.get("ReadReplicaSourceDBInstanceIdentifier"))  # fmt: skip
        exports = planned.get("enabledCloudwatchLogsExports")
        if exports is not None:
            c.differs(identifier, RDS_INSTANCE, "EnabledCloudwatchLogsExports", exports,
                      live.get("EnabledCloudwatchLogsExports") or [])  # fmt: skip
        _storage(c, identifier, planned, live)
        engine = str(planned.get("engineVersion") or "")
        actual_engine = str(live.get("EngineVersion") or "")
        if engine and actual_engine != engine:
            if actual_engine.split(".", maxsplit=1)[0] == engine.split(".", maxsplit=1)[0]:
                c.expected(
                    identifier,
                    RDS_INSTANCE,
                    "EngineVersion",
                    engine,
                    actual_engine,
                    "a minor version RDS upgrades to by itself (autoMinorVersionUpgrade)",
                )
            else:
                c.differs(identifier, RDS_INSTANCE, "EngineVersion", engine, actual_engine)
        planned_group = str(planned.get("parameterGroupName") or "")
        group = next(
            (g for g in groups if _auto_named(str(g.inputs.get("name") or g.name), planned_group)),
            None,
        )
        _parameters(c, identifier, live, group)
        tags = c.account.call("rds", "list_tags_for_resource", ResourceName=live["DBInstanceArn"])
        c.check_tags(identifier, RDS_INSTANCE, _tag_map((tags or {}).get("TagList")))


def _storage(
    c: _Comparison, identifier: str, planned: Mapping[str, Any], live: Mapping[str, Any]
) -> None:
    size, ceiling = planned.get("allocatedStorage"), planned.get("maxAllocatedStorage")
    actual = live.get("AllocatedStorage")
    if size is None or actual == size:
        return
    if ceiling and isinstance(actual, int) and size < actual <= ceiling:
        c.expected(
            identifier,
            RDS_INSTANCE,
            "AllocatedStorage",
            size,
            actual,
            f"grown by storage autoscaling, within maxAllocatedStorage {ceiling}",
        )
    else:
        c.differs(identifier, RDS_INSTANCE, "AllocatedStorage", size, actual)


def _parameters(
    c: _Comparison, identifier: str, live: Mapping[str, Any], group: PlannedResource | None
) -> None:
    """The planned parameters (rds.force_ssl among them) in the group the instance uses."""
    if group is None:
        return
    names = [g["DBParameterGroupName"] for g in live.get("DBParameterGroups") or []]
    planned_name = str(group.inputs.get("name") or group.name)
    live_name = next((n for n in names if _auto_named(planned_name, n)), None)
    if live_name is None:
        c.differs(identifier, RDS_INSTANCE, "DBParameterGroups", planned_name, names)
        return
    page = c.account.call("rds", "describe_db_parameters", DBParameterGroupName=live_name) or {}
    values = {p["ParameterName"]: p.get("ParameterValue") for p in page.get("Parameters", [])}
    for parameter in group.inputs.get("parameters") or []:
        c.differs(
            f"{identifier} ({live_name})",
            RDS_PARAMETER_GROUP,
            str(parameter["name"]),
            str(parameter["value"]),
            values.get(str(parameter["name"])),
        )


def _caches(c: _Comparison) -> None:
    for group in c.plan.of_type(CACHE):
        planned = group.inputs
        group_id = str(planned["replicationGroupId"])
        found = c.describe(
            group_id,
            CACHE,
            "elasticache",
            "describe_replication_groups",
            not_found="ReplicationGroupNotFoundFault",
            ReplicationGroupId=group_id,
        )
        if found is None:
            continue
        live = found["ReplicationGroups"][0]
        c.known_arns.add(str(live.get("ARN")))
        c.differs(
            group_id, CACHE, "CacheNodeType", planned.get("nodeType"), live.get("CacheNodeType")
        )
        c.differs(
            group_id,
            CACHE,
            "nodes",
            planned.get("numCacheClusters"),
            len(live.get("MemberClusters") or []),
        )
        enabled = {True: "enabled", False: "disabled"}
        c.differs(
            group_id,
            CACHE,
            "AutomaticFailover",
            enabled[bool(planned.get("automaticFailoverEnabled"))],
            str(live.get("AutomaticFailover", "")).replace("enabling", "enabled"),
        )
        c.differs(
            group_id,
            CACHE,
            "MultiAZ",
            enabled[bool(planned.get("multiAzEnabled"))],
            live.get("MultiAZ"),
        )
        c.differs(
            group_id,
            CACHE,
            "AtRestEncryptionEnabled",
            bool(planned.get("atRestEncryptionEnabled")),
            live.get("AtRestEncryptionEnabled"),
        )
        c.differs(
            group_id,
            CACHE,
            "TransitEncryptionEnabled",
            bool(planned.get("transitEncryptionEnabled")),
            live.get("TransitEncryptionEnabled"),
        )
        if live.get("TransitEncryptionMode"):
            # `preferred` still reports TransitEncryptionEnabled but admits plain text.
            c.differs(group_id, CACHE, "TransitEncryptionMode", "required",
                      live.get("TransitEncryptionMode"))  # fmt: skip
        c.differs(
            group_id,
            CACHE,
            "KmsKeyId",
            _expected_key(c, planned.get("kmsKeyId")),
            live.get("KmsKeyId"),
        )
        c.differs(
            group_id,
            CACHE,
            "AUTH (user groups)",
            planned.get("userGroupIds") or [],
            live.get("UserGroupIds") or [],
        )
        tags = c.account.call("elasticache", "list_tags_for_resource", ResourceName=live["ARN"])
        c.check_tags(group_id, CACHE, _tag_map((tags or {}).get("TagList")))


def _clusters(c: _Comparison) -> None:
    for cluster in c.plan.of_type(EKS_CLUSTER):
        planned = cluster.inputs
        name = str(planned["name"])
        found = c.describe(
            name,
            EKS_CLUSTER,
            "eks",
            "describe_cluster",
            not_found="ResourceNotFoundException",
            name=name,
        )
        if found is None:
            continue
        live = found["cluster"]
        c.known_arns.add(str(live.get("arn")))
        c.differs(name, EKS_CLUSTER, "version", planned.get("version"), live.get("version"))
        vpc, live_vpc = planned.get("vpcConfig") or {}, live.get("resourcesVpcConfig") or {}
        # The group EKS makes for the cluster (older clusters: the first listed).
        c.cluster_group_id = live_vpc.get("clusterSecurityGroupId") or next(
            iter(live_vpc.get("securityGroupIds") or []), None
        )
        c.differs(
            name,
            EKS_CLUSTER,
            "endpointPublicAccess",
            bool(vpc.get("endpointPublicAccess")),
            live_vpc.get("endpointPublicAccess"),
        )
        c.differs(
            name, EKS_CLUSTER, "endpointPrivateAccess", True, live_vpc.get("endpointPrivateAccess")
        )
        if vpc.get("endpointPublicAccess"):
            c.differs(
                name,
                EKS_CLUSTER,
                "publicAccessCidrs",
                vpc.get("publicAccessCidrs") or [],
                live_vpc.get("publicAccessCidrs") or [],
            )
        encrypted = any(
            "secrets" in e.get("resources", []) for e in live.get("encryptionConfig") or []
        )
        c.differs(name, EKS_CLUSTER, "secrets encryption", True, encrypted)
        logging = [
            t
            for entry in (live.get("logging") or {}).get("clusterLogging", [])
            if entry.get("enabled")
            for t in entry.get("types", [])
        ]
        c.differs(
            name, EKS_CLUSTER, "logging", planned.get("enabledClusterLogTypes") or [], logging
        )
        c.check_tags(name, EKS_CLUSTER, live.get("tags") or {})
        _node_groups(c, name)


def _node_groups(c: _Comparison, cluster: str) -> None:
    listed = c.account.call("eks", "list_nodegroups", clusterName=cluster) or {}
    names = list(listed.get("nodegroups") or [])
    for group in c.plan.of_type(NODE_GROUP):
        planned = group.inputs
        if planned.get("clusterName") != cluster:
            continue
        wanted = str(planned.get("nodeGroupName") or group.name)
        live_name = next((n for n in names if _auto_named(wanted, n)), None)
        c.checked += 1
        if live_name is None:
            c.missing(f"{cluster}/{wanted}", NODE_GROUP)
            continue
        names.remove(live_name)
        live = (
            c.account.call(
                "eks", "describe_nodegroup", clusterName=cluster, nodegroupName=live_name
            )
            or {}
        )["nodegroup"]
        resource = f"{cluster}/{live_name}"
        scaling, live_scaling = planned.get("scalingConfig") or {}, live.get("scalingConfig") or {}
        c.differs(
            resource,
            NODE_GROUP,
            "instanceTypes",
            planned.get("instanceTypes"),
            live.get("instanceTypes"),
        )
        scheduled = any(
            group.urn in schedule.dependencies
            for schedule in c.plan.of_type("aws:scheduler/schedule:Schedule")
        )
        c.differs(
            resource, NODE_GROUP, "maxSize", scaling.get("maxSize"), live_scaling.get("maxSize")
        )
        if scheduled:
            # Outside working hours the off-hours schedule has set it to 0.
            c.expected(resource, NODE_GROUP, "minSize", scaling.get("minSize"),
                       live_scaling.get("minSize"),
                       "the off-hours schedule's to set (0 at night)")  # fmt: skip
        else:
            c.differs(
                resource, NODE_GROUP, "minSize", scaling.get("minSize"), live_scaling.get("minSize")
            )
        c.expected(
            resource,
            NODE_GROUP,
            "desiredSize",
            scaling.get("desiredSize"),
            live_scaling.get("desiredSize"),
            "the Cluster Autoscaler's to set between minSize and maxSize",
        )
        c.check_tags(resource, NODE_GROUP, live.get("tags") or {})
    for extra in names:
        c.findings.append(
            Finding(
                "unmanaged",
                f"{cluster}/{extra}",
                NODE_GROUP,
                note="a node group the plan does not hold",
            )
        )


def _security_groups(c: _Comparison) -> None:
    """Ingress as planned, source by source; nothing else, nothing from anywhere.

    Matched first (every planned group, and the cluster's own group, which
    EKS makes), so that a rule's source group compares by its live id.
    """
    rules_by_group: dict[str, list[Mapping[str, Any]]] = {}
    for rule in c.plan.of_type(INGRESS_RULE):
        rules_by_group.setdefault(str(rule.inputs.get("securityGroupId")), []).append(rule.inputs)
    matched: list[tuple[str, Mapping[str, Any]]] = []
    for group in c.plan.of_type(SECURITY_GROUP):
        wanted = str(group.inputs.get("name") or group.name)
        described = c.account.call(
            "ec2",
            "describe_security_groups",
            Filters=[{"Name": "group-name", "Values": [f"{wanted}*"]}],
        )
        matches = [
            g
            for g in (described or {}).get("SecurityGroups", [])
            if _auto_named(wanted, g["GroupName"])
        ]
        c.checked += 1
        if not matches:
            c.missing(wanted, SECURITY_GROUP)
            continue
        live = matches[0]
        c.group_ids[str(group.id)] = str(live["GroupId"])
        c.known_arns.add(
            f"arn:aws:ec2:{c.account.region}:{live['OwnerId']}:security-group/{live['GroupId']}"
        )
        matched.append((str(group.id), live))
    cluster_group = c.plan.outputs.get("nodeSecurityGroupId")
    if c.cluster_group_id and cluster_group:
        c.group_ids[str(cluster_group)] = c.cluster_group_id
        described = (
            c.account.call("ec2", "describe_security_groups", GroupIds=[c.cluster_group_id]) or {}
        )
        for live in described.get("SecurityGroups", []):
            matched.append((str(cluster_group), live))
    for planned_id, live in matched:
        expected = Counter(_rule_shape(r, c.group_ids) for r in rules_by_group.get(planned_id, []))
        found = c.account.call(
            "ec2",
            "describe_security_group_rules",
            Filters=[{"Name": "group-id", "Values": [live["GroupId"]]}],
        )
        actual = Counter(
            _rule_shape(r, c.group_ids)
            for r in (found or {}).get("SecurityGroupRules", [])
            if not r["IsEgress"]
            # EKS's own rule on the cluster group: its members talk to each other.
            and not (
                planned_id == str(cluster_group)
                and (r.get("ReferencedGroupInfo") or {}).get("GroupId") == live["GroupId"]
            )
        )
        for extra in sorted((actual - expected).elements()):
            c.findings.append(
                Finding(
                    "drift", live["GroupName"], SECURITY_GROUP, "ingress", "not in the plan", extra
                )
            )
        for gone in sorted((expected - actual).elements()):
            c.findings.append(
                Finding("drift", live["GroupName"], SECURITY_GROUP, "ingress", gone, "missing")
            )
        if planned_id != str(cluster_group):
            c.check_tags(live["GroupName"], SECURITY_GROUP, _tag_map(live.get("Tags")))


def _rule_shape(rule: Mapping[str, Any], group_ids: Mapping[str, str]) -> str:
    """`tcp 5432-5432 from <source>`: a CIDR, a prefix list, or a group by its live id."""
    protocol = rule.get("ipProtocol") or rule.get("IpProtocol")
    low = rule.get("fromPort", rule.get("FromPort"))
    high = rule.get("toPort", rule.get("ToPort"))
    planned_group = rule.get("referencedSecurityGroupId")
    live_group = (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
    source = (
        rule.get("cidrIpv4") or rule.get("CidrIpv4") or rule.get("cidrIpv6")
        or rule.get("CidrIpv6")
        or (f"prefix list {rule.get('prefixListId') or rule.get('PrefixListId')}"
            if rule.get("prefixListId") or rule.get("PrefixListId") else None)
        or (f"group {group_ids.get(str(planned_group), planned_group)}" if planned_group else None)
        or (f"group {live_group}" if live_group else "an unknown source")
    )  # fmt: skip
    return f"{protocol} {low}-{high} from {source}"


def _default_security_group(c: _Comparison) -> None:
    """The VPC's default group, adopted with no rules: it must still have none."""
    if not c.plan.of_type(DEFAULT_SECURITY_GROUP):
        return
    vpcs = (
        c.account.call(
            "ec2", "describe_vpcs", Filters=[{"Name": "tag:stack", "Values": [c.tags["stack"]]}]
        )
        or {}
    )
    for vpc in vpcs.get("Vpcs", []):
        found = (
            c.account.call(
                "ec2",
                "describe_security_groups",
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                    {"Name": "group-name", "Values": ["default"]},
                ],
            )
            or {}
        )
        for group in found.get("SecurityGroups", []):
            c.checked += 1
            rules = (
                c.account.call(
                    "ec2",
                    "describe_security_group_rules",
                    Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}],
                )
                or {}
            )
            for rule in rules.get("SecurityGroupRules", []):
                direction = "egress" if rule["IsEgress"] else "ingress"
                c.findings.append(
                    Finding("drift", f"{vpc['VpcId']} default", DEFAULT_SECURITY_GROUP,
                            f"default {direction}", "no rules", _rule_shape(rule, c.group_ids))
                )  # fmt: skip


def _secrets(c: _Comparison) -> None:
    for secret in c.plan.of_type(SECRET):
        name = str(secret.inputs.get("name") or secret.name)
        live = c.describe(
            name,
            SECRET,
            "secretsmanager",
            "describe_secret",
            not_found="ResourceNotFoundException",
            SecretId=name,
        )
        if live is None:
            continue
        c.known_arns.add(str(live["ARN"]))
        if live.get("DeletedDate"):
            c.differs(name, SECRET, "DeletedDate", None, str(live["DeletedDate"]),
                      "scheduled for deletion")  # fmt: skip
        c.differs(
            name,
            SECRET,
            "KmsKeyId",
            _expected_key(c, secret.inputs.get("kmsKeyId")),
            live.get("KmsKeyId"),
        )
        c.check_tags(name, SECRET, _tag_map(live.get("Tags")))
        _secret_age(c, name, live)


def _secret_age(c: _Comparison, name: str, live: Mapping[str, Any]) -> None:
    """Nothing rotates these automatically (README 'Secrets that are not ours to
    generate'): a value older than the age policy is drift from what config says."""
    policy = c.secret_age
    changed = live.get("LastChangedDate") or live.get("CreatedDate")
    if policy is None or not isinstance(changed, dt.datetime):
        return
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=dt.UTC)
    age = (policy.now - changed).days
    if age > policy.max_days:
        c.findings.append(
            Finding(
                "drift", name, SECRET, "LastChangedDate",
                f"within {policy.max_days} days (secretRotationDays)",
                changed.date().isoformat(),
                f"{age} days old: rotate it by hand (README 'Secrets that are not ours to "
                "generate')",
            )
        )  # fmt: skip


def _log_groups(c: _Comparison) -> None:
    for group in c.plan.of_type(LOG_GROUP):
        name = str(group.inputs.get("name") or group.name)
        found = c.account.call("logs", "describe_log_groups", logGroupNamePrefix=name) or {}
        live = next((g for g in found.get("logGroups", []) if g["logGroupName"] == name), None)
        c.checked += 1
        if live is None:
            c.missing(name, LOG_GROUP)
            continue
        arn = str(live.get("logGroupArn") or live["arn"].removesuffix(":*"))
        c.known_arns.add(arn)
        c.differs(
            name,
            LOG_GROUP,
            "retentionInDays",
            group.inputs.get("retentionInDays"),
            live.get("retentionInDays"),
        )
        c.differs(
            name,
            LOG_GROUP,
            "kmsKeyId",
            _expected_key(c, group.inputs.get("kmsKeyId")),
            live.get("kmsKeyId"),
        )
        tags = c.account.call("logs", "list_tags_for_resource", resourceArn=arn) or {}
        c.check_tags(name, LOG_GROUP, tags.get("tags") or {})


# What the tag scan reports when the plan does not hold it. Node instances
# (and their volumes, interfaces) come and go with the autoscaler and carry
# the node group's name; a replication group's member clusters are its own.
_SCANNED = (
    "rds:db",
    "elasticache:replicationgroup",
    "eks:cluster",
    "kms:key",
    "secretsmanager:secret",
    "logs:log-group",
    "ec2:security-group",
)


def _unmanaged(c: _Comparison, prefix: str) -> None:
    """Tagged with the stack (or named like its resources) and not in the plan."""
    page = (
        c.account.call(
            "resourcegroupstaggingapi",
            "get_resources",
            TagFilters=[{"Key": "stack", "Values": [c.tags["stack"]]}],
            ResourceTypeFilters=list(_SCANNED),
        )
        or {}
    )
    arns = {m["ResourceARN"] for m in page.get("ResourceTagMappingList", [])}
    # An untagged database or cache named like this stack's.
    for db in (c.account.call("rds", "describe_db_instances") or {}).get("DBInstances", []):
        if str(db["DBInstanceIdentifier"]).startswith(prefix):
            arns.add(str(db["DBInstanceArn"]))
    for group in (c.account.call("elasticache", "describe_replication_groups") or {}).get(
        "ReplicationGroups", []
    ):
        if str(group["ReplicationGroupId"]).startswith(prefix):
            arns.add(str(group["ARN"]))
    for arn in sorted(arns - c.known_arns):
        c.findings.append(
            Finding(
                "unmanaged",
                arn,
                arn.split(":")[2],
                note="in the account with this stack's "
                "tags or name, not in the plan: left over, or made by hand",
            )
        )


def _dns(c: _Comparison) -> None:
    """The environment's public zone, and its certificate issued for the apex and wildcard."""
    for zone in c.plan.of_type(ZONE):
        name = str(zone.inputs["name"])
        found = c.account.call("route53", "list_hosted_zones_by_name", DNSName=name)
        live = next(
            (
                z for z in (found or {}).get("HostedZones", [])
                if z["Name"].rstrip(".") == name and not z.get("Config", {}).get("PrivateZone")
            ),
            None,
        )  # fmt: skip
        c.checked += 1
        if live is None:
            c.missing(name, ZONE)
            continue
        zone_id = str(live["Id"]).rsplit("/", 1)[-1]
        tags = c.account.call("route53", "list_tags_for_resource", ResourceType="hostedzone",
                              ResourceId=zone_id) or {}  # fmt: skip
        c.check_tags(name, ZONE, _tag_map(tags.get("ResourceTagSet", {}).get("Tags")))
    certificates = c.plan.of_type(CERTIFICATE)
    if not certificates:
        return
    listed = c.account.call("acm", "list_certificates") or {}
    summaries = listed.get("CertificateSummaryList", [])
    for certificate in certificates:
        domain = str(certificate.inputs["domainName"])
        wanted = sorted([domain, *(certificate.inputs.get("subjectAlternativeNames") or [])])
        c.checked += 1
        candidates = [s for s in summaries if s.get("DomainName") == domain]
        if not candidates:
            c.missing(domain, CERTIFICATE)
            continue
        described = [
            (c.account.call("acm", "describe_certificate", CertificateArn=s["CertificateArn"])
             or {}).get("Certificate", {})
            for s in candidates
        ]  # fmt: skip
        # An issued one covering every planned name, if there is one.
        live = next(
            (d for d in described if d.get("Status") == "ISSUED"
             and sorted(d.get("SubjectAlternativeNames") or []) == wanted),
            described[0],
        )  # fmt: skip
        c.known_arns.add(str(live.get("CertificateArn")))
        c.differs(domain, CERTIFICATE, "Status", "ISSUED", live.get("Status"))
        c.differs(domain, CERTIFICATE, "SubjectAlternativeNames", wanted,
                  sorted(live.get("SubjectAlternativeNames") or []))  # fmt: skip


def _alarms(c: _Comparison) -> None:
    """Each alarm is there, and still notifies (an alarm with its actions off tells nobody)."""
    planned = {str(a.inputs.get("name") or a.name): a for a in c.plan.of_type(METRIC_ALARM)}
    names = sorted(planned)
    live: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), ALARMS_PER_CALL):
        found = (
            c.account.call(
                "cloudwatch", "describe_alarms", AlarmNames=names[start : start + ALARMS_PER_CALL]
            )
            or {}
        )
        live.update({a["AlarmName"]: a for a in found.get("MetricAlarms", [])})
    for name in names:
        c.checked += 1
        alarm = live.get(name)
        if alarm is None:
            c.missing(name, METRIC_ALARM)
            continue
        inputs = planned[name].inputs
        c.differs(name, METRIC_ALARM, "ActionsEnabled", True, alarm.get("ActionsEnabled"),
                  "its actions are off: it notifies nobody")  # fmt: skip
        c.differs(name, METRIC_ALARM, "AlarmActions", inputs.get("alarmActions"),
                  alarm.get("AlarmActions"))  # fmt: skip
        c.differs(name, METRIC_ALARM, "Threshold", float(inputs.get("threshold") or 0),
                  float(alarm.get("Threshold") or 0))  # fmt: skip


def _trails(c: _Comparison) -> None:
    """The trail records (a stopped trail is the classic way to act unseen), validated,
    encrypted, in every region."""
    for trail in c.plan.of_type(TRAIL):
        name = str(trail.inputs.get("name") or trail.name)
        found = c.describe(name, TRAIL, "cloudtrail", "describe_trails",
                           not_found="TrailNotFoundException", trailNameList=[name])  # fmt: skip
        live = next(iter((found or {}).get("trailList") or []), None)
        if live is None:
            if found is not None:
                c.missing(name, TRAIL)
            continue
        status = c.account.call("cloudtrail", "get_trail_status", Name=name) or {}
        c.differs(name, TRAIL, "IsLogging", True, status.get("IsLogging"),
                  "logging is stopped: nothing is recorded")  # fmt: skip
        c.differs(name, TRAIL, "IsMultiRegionTrail", trail.inputs.get("isMultiRegionTrail"),
                  live.get("IsMultiRegionTrail"))  # fmt: skip
        c.differs(name, TRAIL, "LogFileValidationEnabled",
                  trail.inputs.get("enableLogFileValidation"),
                  live.get("LogFileValidationEnabled"))  # fmt: skip
        c.differs(name, TRAIL, "KmsKeyId", _expected_key(c, trail.inputs.get("kmsKeyId")),
                  live.get("KmsKeyId"))  # fmt: skip
        c.differs(name, TRAIL, "S3BucketName", trail.inputs.get("s3BucketName"),
                  live.get("S3BucketName"), "its files go to another bucket")  # fmt: skip
        selectors = c.account.call("cloudtrail", "get_event_selectors", TrailName=name) or {}
        basic = selectors.get("EventSelectors") or []
        everything = not basic and not selectors.get("AdvancedEventSelectors")
        everything = everything or any(
            s.get("ReadWriteType") == "All" and s.get("IncludeManagementEvents") for s in basic
        )
        c.differs(name, TRAIL, "EventSelectors", "read and write management events",
                  "read and write management events" if everything else basic,
                  "no longer records every management event")  # fmt: skip


def _buckets(c: _Comparison) -> None:
    """Each bucket is there and still blocks public access on all four settings."""
    blocked = {str(b.inputs.get("bucket")) for b in c.plan.of_type(PUBLIC_ACCESS_BLOCK)}
    for bucket in c.plan.of_type(BUCKET):
        name = str(bucket.inputs.get("bucket") or bucket.name)
        if c.describe(name, BUCKET, "s3", "get_bucket_location",
                      not_found="NoSuchBucket", Bucket=name) is None:  # fmt: skip
            continue
        if name not in blocked:
            continue
        found = c.account.call("s3", "get_public_access_block", Bucket=name,
                               missing=("NoSuchPublicAccessBlockConfiguration",)) or {}  # fmt: skip
        settings = found.get("PublicAccessBlockConfiguration") or {}
        for setting in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                        "RestrictPublicBuckets"):  # fmt: skip
            c.differs(name, BUCKET, setting, True, settings.get(setting),
                      "public access is no longer blocked")  # fmt: skip


# Clusters, then security groups (their live ids), before what names them.
CHECKS: tuple[Callable[[_Comparison], None], ...] = (
    _key,
    _dns,
    _clusters,
    _security_groups,
    _default_security_group,
    _databases,
    _caches,
    _secrets,
    _log_groups,
    _alarms,
    _trails,
    _buckets,
)


def verify(
    plan: Plan,
    *,
    region: str,
    environment_tags: Mapping[str, str],
    prefix: str,
    production: bool,
    account: Account | None = None,
    max_secret_age_days: int | None = None,
    now: dt.datetime | None = None,
) -> Verification:
    """Compare the live account with ``plan``. Raises VerifyError when it cannot be read.

    ``max_secret_age_days``: the environment's age policy; a secret whose value
    changed longer ago is reported (as of ``now``, default the current time).
    """
    secret_age = (
        SecretAgePolicy(max_secret_age_days, now or dt.datetime.now(dt.UTC))
        if max_secret_age_days is not None
        else None
    )
    comparison = _Comparison(plan, account or Account(region), environment_tags, secret_age)
    for check in CHECKS:
        check(comparison)
    _unmanaged(comparison, prefix)
    order = {"missing": 0, "drift": 1, "unmanaged": 2, "expected": 3}
    findings = sorted(comparison.findings, key=lambda f: (order[f.kind], f.resource, f.field))
    return Verification(plan.stack, region, production, findings, comparison.checked)


# --------------------------------------------------------------------------- #
# Rendering
# --------------------------------------------------------------------------- #


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def render_markdown(result: Verification) -> str:
    drift = result.drift
    lines = [
        f"### stagecraft verify: {result.stack} ({result.region})",
        "",
        (
            f"**{len(drift)} differences** from the plan"
            if drift
            else "**No drift**: the account matches the plan"
        )
        + f" across {result.checked} resources checked.",
        "",
    ]
    if result.findings:
        lines += [
            "| | resource | type | field | expected | actual | breaks |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in result.findings:
            breaks = f"`{f.policy}` ({', '.join(f.controls)})" if f.policy else "-"
            cells = [
                f.kind,
                f"`{f.resource}`",
                f"`{f.type}`",
                f.field or "-",
                _shown(f.expected),
                _shown(f.actual) + (f" ({f.note})" if f.note else ""),
                breaks,
            ]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render_text(result: Verification) -> str:
    lines = [
        f"{result.stack} ({result.region}): {result.checked} resources checked, "
        f"{len(result.drift)} differences"
    ]
    for f in result.findings:
        where = f"{f.resource} [{f.type}]" + (f" {f.field}" if f.field else "")
        what = (
            f": expected {_shown(f.expected)}, found {_shown(f.actual)}"
            if f.kind in ("drift", "expected")
            else ""
        )
        policy = (
            f"  breaks {f.policy} ({', '.join(f.controls)})"
            if f.policy and (f.kind == "drift")
            else ""
        )
        note = f"  ({f.note})" if f.note else ""
        lines.append(f"  {f.kind.upper():9} {where}{what}{note}{policy}")
    return "\n".join(lines) + "\n"
