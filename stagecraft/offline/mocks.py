"""A mock AWS that answers like the real one, so an offline plan reads like a real plan.

Every computed value (ids, ARNs, endpoints, generated names) is derived from a
hash of the resource's type and name (which carries the stack's name): the
same program gives the same plan on every machine, which is what lets two
revisions of a stack be compared, and two stacks never share an id, as two
real environments never do.  The account is the
documentation placeholder 123456789012; public addresses come from TEST-NET-3
(203.0.113.0/24), which routes nowhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from infra.aws_types import UNTAGGABLE_AWS_TYPES

PLACEHOLDER_ACCOUNT_ID = "123456789012"

# The zones each region offers, as (name letter, zone id number); the rest get
# three, the common minimum.  Names map to ids differently in every account;
# these are one plausible account's.  use1-az3 and usw1-az2 exist but EKS
# refuses them, so us-west-1 has a single zone EKS can use.
_ZONES = {
    "us-east-1": (("a", 1), ("b", 2), ("c", 4), ("d", 6), ("e", 3), ("f", 5)),
    "us-west-1": (("b", 1), ("c", 2)),
    "us-west-2": (("a", 1), ("b", 2), ("c", 3), ("d", 4)),
    "ap-northeast-1": (("a", 4), ("c", 1), ("d", 2)),
}
_DEFAULT_ZONES = (("a", 1), ("b", 2), ("c", 3))

# The default version of each EKS add-on per Kubernetes version, shaped like
# DescribeAddonVersions' answer.
_ADDON_DEFAULTS = {
    "vpc-cni": {"1.31": "v1.19.2", "1.32": "v1.19.5", "1.33": "v1.20.0", "1.34": "v1.20.4",
                "1.35": "v1.21.1"},
    # One default across the supported Kubernetes versions, as EKS lists it.
    "aws-ebs-csi-driver": dict.fromkeys(
        ("1.31", "1.32", "1.33", "1.34", "1.35"), "v1.48.0"
    ),
}  # fmt: skip

# Who runs the offline plan: the documentation account's platform-admin role,
# the identity the shipped stack files list as cluster admin.
OFFLINE_ROLE = "platform-admin"

_FAKE_CA_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDBTCCAe2gAwIBAgIIoffline0plan0certificate0authority0placeholder\n"
    "-----END CERTIFICATE-----\n"
)


class OfflineMockError(Exception):
    """The program asked the mock cloud something it cannot answer."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


_DIRECTIONS = {
    "north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}  # fmt: skip


def region_code(region: str) -> str:
    """The short code AWS uses in zone ids and cache endpoints: us-east-1 -> use1."""
    area, *middle, number = region.split("-")
    return area + "".join(_DIRECTIONS.get(word, word[:1]) for word in middle) + number


def partition_of(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of a region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


# An account that has run an Auto Scaling group before (most have): its
# service-linked role exists.
DEFAULT_SERVICE_LINKED_ROLES = frozenset({"autoscaling.amazonaws.com"})

# What the account's service-linked roles are called.
_SERVICE_LINKED_ROLE_NAMES = {
    "autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling",
    "eks.amazonaws.com": "AWSServiceRoleForAmazonEKS",
    "eks-nodegroup.amazonaws.com": "AWSServiceRoleForAmazonEKSNodegroup",
    "rds.amazonaws.com": "AWSServiceRoleForRDS",
    "elasticache.amazonaws.com": "AWSServiceRoleForElastiCache",
}


class StagecraftMocks(Mocks):
    """Realistic answers for the AWS, Kubernetes and random resources stagecraft uses."""

    def __init__(
        self,
        region: str,
        account: str = PLACEHOLDER_ACCOUNT_ID,
        existing_log_groups: frozenset[str] = frozenset(),
        service_linked_roles: frozenset[str] = DEFAULT_SERVICE_LINKED_ROLES,
        bootstrapped: bool = True,
    ) -> None:
        self.region = region
        # Log groups the account already has (a fresh account: none).
        self.existing_log_groups = existing_log_groups
        # Services whose service-linked role the account has.
        self.service_linked_roles = service_linked_roles
        # The bootstrap has run: the environments' permissions boundaries exist.
        self.bootstrapped = bootstrapped
        self.partition, self.dns_suffix = partition_of(region)
        # The stack's own awsAccountId: ARNs in the plan name the account it deploys to.
        self.account = account
        self._provider_default_tags: dict[str, dict[str, str]] = {}
        # The region of each provider that names one other than the stack's.
        self._provider_regions: dict[str, str] = {}
        # Outputs of the stacks a StackReference may read, by qualified name.
        self.stack_outputs: dict[str, dict[str, Any]] = {}
        self._builders: dict[str, Callable[[str, str, dict[str, Any]], tuple[str, dict[str, Any]]]]
        self._builders = {
            "aws:ec2/vpc:Vpc": self._vpc,
            "aws:ec2/subnet:Subnet": self._ec2("subnet", "subnet"),
            "aws:ec2/internetGateway:InternetGateway": self._ec2("igw", "internet-gateway"),
            "aws:ec2/routeTable:RouteTable": self._ec2("rtb", "route-table"),
            "aws:ec2/routeTableAssociation:RouteTableAssociation": self._ec2("rtbassoc", None),
            "aws:ec2/natGateway:NatGateway": self._nat_gateway,
            "aws:ec2/eip:Eip": self._eip,
            "aws:ec2/securityGroup:SecurityGroup": self._security_group,
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": self._ec2(
                "sgr", "security-group-rule"
            ),
            "aws:ec2/flowLog:FlowLog": self._ec2("fl", "vpc-flow-log"),
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": self._ec2(
                "sgr", "security-group-rule"
            ),
            "aws:ec2/instance:Instance": self._ec2_instance,
            "aws:iam/instanceProfile:InstanceProfile": self._instance_profile,
            "aws:ssm/document:Document": self._ssm_document,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:iam/role:Role": self._iam_role,
            "aws:iam/rolePolicy:RolePolicy": self._role_policy,
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment": self._policy_attachment,
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider": self._oidc_provider,
            "aws:iam/policy:Policy": self._iam_policy,
            "aws:iam/serviceLinkedRole:ServiceLinkedRole": self._service_linked_role,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:kms/key:Key": self._kms_key,
            "aws:kms/alias:Alias": self._kms_alias,
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
            "aws:eks/cluster:Cluster": self._eks_cluster,
            "aws:eks/nodeGroup:NodeGroup": self._node_group,
            "aws:eks/accessEntry:AccessEntry": self._access_entry,
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": self._access_association,
            "aws:rds/subnetGroup:SubnetGroup": self._named_group("rds", "subgrp"),
            "aws:rds/parameterGroup:ParameterGroup": self._named_group("rds", "pg"),
            "aws:rds/instance:Instance": self._rds_instance,
            "aws:elasticache/subnetGroup:SubnetGroup": self._named_group(
                "elasticache", "subnetgroup"
            ),
            "aws:elasticache/parameterGroup:ParameterGroup": self._named_group(
                "elasticache", "parametergroup"
            ),
            "aws:elasticache/replicationGroup:ReplicationGroup": self._replication_group,
            "aws:route53/zone:Zone": self._hosted_zone,
            "aws:route53/record:Record": self._dns_record,
            "aws:acm/certificate:Certificate": self._certificate,
            "aws:acm/certificateValidation:CertificateValidation": self._certificate_validation,
            "kubernetes:helm.sh/v3:Release": self._helm_release,
            "random:index/randomPassword:RandomPassword": self._random_password,
            "random:index/randomId:RandomId": self._random_id,
            "aws:sns/topic:Topic": self._sns_topic,
            "aws:sns/topicSubscription:TopicSubscription": self._sns_subscription,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self._metric_alarm,
            "aws:route53/healthCheck:HealthCheck": self._health_check,
            "aws:cloudtrail/trail:Trail": self._trail,
            "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": (
                self._slack_channel
            ),
            "aws:backup/vault:Vault": self._backup_vault,
            "aws:backup/plan:Plan": self._backup_plan,
            "aws:backup/restoreTestingPlan:RestoreTestingPlan": self._restore_testing_plan,
        }

    # ------------------------------------------------------------------ #
    # Mocks interface
    # ------------------------------------------------------------------ #

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = _ZONES.get(self.region, _DEFAULT_ZONES)
            short = region_code(self.region)
            return {
                "id": self.region,
                "names": [f"{self.region}{letter}" for letter, _ in zones],
                "zoneIds": [f"{short}-az{number}" for _, number in zones],
                "groupNames": [self.region] * len(zones),
            }, []
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "id": self.account,
                "accountId": self.account,
                "arn": f"arn:{self.partition}:sts::{self.account}:assumed-role/"
                f"{OFFLINE_ROLE}/stagecraft-offline-plan",
                "userId": "AROAOFFLINEPLAN000000:stagecraft-offline-plan",
            }, []
        if token == "aws:iam/getSessionContext:getSessionContext":
            arn = str(args.args.get("arn", ""))
            role = arn.split(":assumed-role/", 1)[-1].split("/", maxsplit=1)[0]
            return {
                "id": arn,
                "arn": arn,
                "issuerArn": f"arn:{self.partition}:iam::{self.account}:role/{role}",
                "issuerId": "AROAOFFLINEPLAN000000",
                "issuerName": role,
                "sessionName": "stagecraft-offline-plan",
            }, []
        if token == "aws:iam/getRoles:getRoles":
            prefix = str(args.args.get("pathPrefix", "/"))
            found = [
                (f"/aws-service-role/{service}/", _SERVICE_LINKED_ROLE_NAMES[service])
                for service in sorted(self.service_linked_roles)
                if f"/aws-service-role/{service}/".startswith(prefix)
            ]
            return {
                "id": self.region,
                "pathPrefix": prefix,
                "names": [name for _, name in found],
                "arns": [
                    self._arn("iam", f"role{path}{name}", regional=False) for path, name in found
                ],
            }, []
        if token == "aws:iam/getPolicy:getPolicy":
            arn = str(args.args.get("arn", ""))
            if not self.bootstrapped:
                # A failed read, as the provider reports one: the program sees
                # "invoke of ... failed" and may handle it.
                return {}, [("arn", f"reading IAM Policy ({arn}): NoSuchEntity: not found")]
            return {
                "id": arn,
                "arn": arn,
                "name": arn.rsplit("/", 1)[-1],
                "path": "/",
                "policy": "{}",
                "policyId": "ANPA" + self._hash("policy", arn)[:17].upper(),
                "tags": {},
            }, []
        if token == "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider":
            url = str(args.args.get("url", "")).removeprefix("https://")
            arn = self._arn("iam", f"oidc-provider/{url}", regional=False)
            return {
                "id": arn,
                "arn": arn,
                "url": url,
                "clientIdLists": ["sts.amazonaws.com"],
                "thumbprintLists": [],
                "tags": {},
            }, []
        if token == "aws:cloudwatch/getLogGroups:getLogGroups":
            prefix = str(args.args.get("logGroupNamePrefix", ""))
            names = sorted(n for n in self.existing_log_groups if n.startswith(prefix))
            return {
                "id": self.region,
                "logGroupNamePrefix": prefix,
                "logGroupNames": names,
                "arns": [self._arn("logs", f"log-group:{n}") for n in names],
            }, []
        if token == "aws:eks/getAddonVersion:getAddonVersion":
            addon, version = str(args.args["addonName"]), str(args.args["kubernetesVersion"])
            default = _ADDON_DEFAULTS.get(addon, {}).get(version)
            if default is None:
                raise OfflineMockError(f"no offline default version of {addon} for {version}")
            return {
                "id": addon,
                "addonName": addon,
                "kubernetesVersion": version,
                "version": f"{default}-eksbuild.1",
            }, []
        if token == "aws:index/getPartition:getPartition":
            return {
                "id": self.partition,
                "partition": self.partition,
                "dnsSuffix": self.dns_suffix,
                "reverseDnsPrefix": ".".join(reversed(self.dns_suffix.split("."))),
            }, []
        if token == "aws:secretsmanager/getSecretVersion:getSecretVersion":
            secret_id = str(args.args.get("secretId", ""))
            return {
                "id": f"{secret_id}|AWSCURRENT",
                "arn": secret_id,
                "secretId": secret_id,
                "secretString": "offline-placeholder-" + _digest(secret_id)[:24],
                "versionId": str(uuid.UUID(_digest(secret_id, "version")[:32])),
                "versionStages": ["AWSCURRENT"],
                "createdDate": "2026-01-01T00:00:00Z",
            }, []
        if token == "aws:ssm/getParameter:getParameter":
            # AWS's public parameters (the latest AMI ids) are the only ones read.
            name = str(args.args.get("name", ""))
            if not name.startswith("/aws/service/"):
                raise OfflineMockError(
                    f"the offline plan knows only AWS's public parameters: {name}"
                )
            value = f"ami-0{_digest(self.region, name)[:16]}"
            return {
                "id": name,
                "name": name,
                "arn": f"arn:{self.partition}:ssm:{self.region}::parameter{name}",
                "type": "String",
                "value": value,
                "insecureValue": value,
                "version": 1,
                "withDecryption": True,
            }, []
        if token == "aws:index/getRegion:getRegion":
            return {
                "id": self.region,
                "name": self.region,
                "region": self.region,
                "endpoint": f"ec2.{self.region}.{self.dns_suffix}",
                "description": self.region,
            }, []
        raise OfflineMockError(
            f"the offline plan has no answer for the invoke {token}; "
            "teach stagecraft/offline/mocks.py what AWS would return"
        )

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":  # a read: custom is not set
            return self._stack_reference(str(inputs.get("name") or args.resource_id))
        if not args.custom:
            return "", inputs  # components have no cloud identity
        if args.typ.startswith("pulumi:providers:"):
            provider_id = f"{args.name}-{self._hash(args.typ, args.name)[:8]}"
            default_tags = inputs.get("defaultTags") or {}
            if isinstance(default_tags, str):  # provider inputs arrive JSON-encoded
                default_tags = json.loads(default_tags)
            self._provider_default_tags[provider_id] = dict(default_tags.get("tags") or {})
            if inputs.get("region") and inputs["region"] != self.region:
                self._provider_regions[provider_id] = str(inputs["region"])
            return provider_id, inputs
        builder = self._builders.get(args.typ)
        if builder is not None:
            resource_id, state = builder(args.typ, args.name, inputs)
        else:
            resource_id, state = self._generic(args.typ, args.name, inputs)
        elsewhere = self._region_of(args.provider, inputs)
        if elsewhere:
            # A resource of a second region's provider: its ARN names that region.
            state = {
                key: value.replace(f":{self.region}:", f":{elsewhere}:", 1)
                if key == "arn" and isinstance(value, str)
                else value
                for key, value in state.items()
            }
            if resource_id and resource_id.startswith("arn:"):
                resource_id = resource_id.replace(f":{self.region}:", f":{elsewhere}:", 1)
        if args.typ.startswith("aws:") and args.typ not in UNTAGGABLE_AWS_TYPES:
            state["tagsAll"] = {
                **self._default_tags_for(args.provider),
                **(inputs.get("tags") or {}),
            }
        return resource_id, state

    # ------------------------------------------------------------------ #
    # Helpers
    # ------------------------------------------------------------------ #

    def _stack_reference(self, qualified_name: str) -> tuple[str, dict[str, Any]]:
        outputs = self.stack_outputs.get(qualified_name)
        if outputs is None:
            raise OfflineMockError(
                f"no offline plan of stack '{qualified_name}' was given to the mocks; "
                "the engine evaluates a stack's sharedStack before the stack itself"
            )
        return qualified_name, {
            "name": qualified_name,
            "outputs": outputs,
            "secretOutputNames": sorted(k for k, v in outputs.items() if v == "[secret]"),
        }

    def _hash(self, typ: str, name: str, *extra: str) -> str:
        return _digest(typ, name, *extra)

    def _default_tags_for(self, provider_ref: str | None) -> dict[str, str]:
        if not provider_ref:
            return {}
        return self._provider_default_tags.get(provider_ref.split("::")[-1], {})

    def _region_of(self, provider_ref: str | None, inputs: dict[str, Any]) -> str | None:
        """The region a resource lives in when it is not the stack's (its provider's, or
        its own `region` input), else None."""
        own = inputs.get("region")
        if own and own != self.region:
            return str(own)
        if not provider_ref:
            return None
        return self._provider_regions.get(provider_ref.split("::")[-1])

    def _arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    def _autoname(self, name: str, typ: str, *, lower: bool = False) -> str:
        """What Pulumi auto-naming produces: the logical name plus 7 random hex chars."""
        generated = f"{name}-{self._hash(typ, name, 'autoname')[:7]}"
        return generated.lower() if lower else generated

    def _ec2(
        self, id_prefix: str, arn_kind: str | None
    ) -> Callable[[str, str, dict[str, Any]], tuple[str, dict[str, Any]]]:
        def build(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            resource_id = f"{id_prefix}-{self._hash(typ, name)[:17]}"
            state = {**inputs, "ownerId": self.account}
            if arn_kind:
                state["arn"] = self._arn("ec2", f"{arn_kind}/{resource_id}")
            return resource_id, state

        return build

    # ------------------------------------------------------------------ #
    # Per-type answers
    # ------------------------------------------------------------------ #

    def _vpc(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        vpc_id = f"vpc-{self._hash(typ, name)[:17]}"
        return vpc_id, {
            **inputs,
            "arn": self._arn("ec2", f"vpc/{vpc_id}"),
            "defaultSecurityGroupId": f"sg-{_digest(vpc_id, 'default-sg')[:17]}",
            "mainRouteTableId": f"rtb-{_digest(vpc_id, 'main-rtb')[:17]}",
            "defaultNetworkAclId": f"acl-{_digest(vpc_id, 'default-acl')[:17]}",
            "ownerId": self.account,
        }

    def _nat_gateway(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        nat_id = f"nat-{self._hash(typ, name)[:17]}"
        octet = int(self._hash(typ, name, "ip")[:2], 16) % 254 + 1
        return nat_id, {
            **inputs,
            "connectivityType": "public",
            "publicIp": f"203.0.113.{octet}",
            "privateIp": f"10.0.{octet}.{octet}",
        }

    def _eip(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        allocation_id = f"eipalloc-{self._hash(typ, name)[:17]}"
        octet = int(self._hash(typ, name, "ip")[:2], 16) % 254 + 1
        return allocation_id, {
            **inputs,
            "allocationId": allocation_id,
            "publicIp": f"203.0.113.{octet}",
            "arn": self._arn("ec2", f"elastic-ip/{allocation_id}"),
        }

    def _hosted_zone(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        # Route 53 ids: "Z" and 20 or so upper-case letters and digits; four
        # name servers spread over the four TLDs AWS uses.
        zone_id = "Z" + self._hash(typ, name).upper()[:20]
        number = int(self._hash(typ, name, "ns")[:4], 16)
        servers = [
            f"ns-{(number + i * 509) % 2048}.awsdns-{(number + i) % 64:02d}.{tld}"
            for i, tld in enumerate(("com", "net", "org", "co.uk"))
        ]
        return zone_id, {
            **inputs,
            "zoneId": zone_id,
            "arn": f"arn:{self.partition}:route53:::hostedzone/{zone_id}",
            "nameServers": servers,
            "primaryNameServer": servers[0],
        }

    def _dns_record(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        record = str(inputs.get("name") or name).rstrip(".")
        return f"{inputs.get('zoneId')}_{record}_{inputs.get('type')}", {
            **inputs,
            "fqdn": record,
        }

    def _certificate(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        arn = self._arn("acm", f"certificate/{uuid.UUID(self._hash(typ, name)[:32])}")
        domain = str(inputs.get("domainName") or "")
        token = self._hash(typ, name, "validation")
        # ACM answers with one entry per name; an apex and its wildcard share
        # the same validation record.
        record = {
            "resourceRecordName": f"_{token[:32]}.{domain}.",
            "resourceRecordType": "CNAME",
            "resourceRecordValue": f"_{token[32:64]}.jkddzztszm.acm-validations.aws.",
        }
        names = [domain, *(inputs.get("subjectAlternativeNames") or [])]
        return arn, {
            **inputs,
            "arn": arn,
            "status": "PENDING_VALIDATION",
            "domainValidationOptions": [{"domainName": n, **record} for n in names],
        }

    def _certificate_validation(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return str(inputs.get("certificateArn")), dict(inputs)

    def _helm_release(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        release = str(inputs.get("name") or name)
        namespace = str(inputs.get("namespace") or "default")
        return f"{namespace}/{release}", {
            **inputs,
            "status": {
                "name": release,
                "namespace": namespace,
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "revision": 1,
                "status": "deployed",
            },
        }

    def _security_group(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        group_id = f"sg-{self._hash(typ, name)[:17]}"
        return group_id, {
            **inputs,
            "name": inputs.get("name") or self._autoname(name, typ),
            "arn": self._arn("ec2", f"security-group/{group_id}"),
            "ownerId": self.account,
        }

    def _ec2_instance(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        instance_id = f"i-0{self._hash(typ, name)[:16]}"
        return instance_id, {
            **inputs,
            "arn": self._arn("ec2", f"instance/{instance_id}"),
            "instanceState": "running",
            "primaryNetworkInterfaceId": f"eni-0{self._hash(typ, name, 'eni')[:16]}",
            "publicIp": "",
            "publicDns": "",
            "tenancy": "default",
        }

    def _instance_profile(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        profile_name = inputs.get("name") or self._autoname(name, typ)
        return profile_name, {
            **inputs,
            "name": profile_name,
            "path": inputs.get("path") or "/",
            "arn": self._arn("iam", f"instance-profile/{profile_name}", regional=False),
            "uniqueId": "AIPA" + self._hash(typ, name)[:17].upper(),
        }

    def _ssm_document(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        document_name = inputs.get("name") or self._autoname(name, typ)
        return document_name, {
            **inputs,
            "name": document_name,
            "arn": self._arn("ssm", f"document/{document_name}"),
            "owner": self.account,
            "status": "Active",
            "schemaVersion": "1.0",
            "documentVersion": "1",
            "defaultVersion": "1",
            "latestVersion": "1",
            "hashType": "Sha256",
            "hash": _digest(str(inputs.get("content", ""))),
        }

    def _log_group(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        log_name = inputs.get("name") or self._autoname(name, typ)
        return log_name, {
            **inputs,
            "name": log_name,
            "arn": self._arn("logs", f"log-group:{log_name}"),
        }

    def _iam_role(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        role_name = inputs.get("name") or self._autoname(name, typ)
        return role_name, {
            **inputs,
            "name": role_name,
            "arn": self._arn("iam", f"role/{role_name}", regional=False),
            "uniqueId": "AROA" + self._hash(typ, name)[:17].upper(),
        }

    def _role_policy(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        policy_name = inputs.get("name") or self._autoname(name, typ)
        return f"{inputs.get('role', 'role')}:{policy_name}", {**inputs, "name": policy_name}

    def _policy_attachment(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return f"{inputs.get('role', 'role')}-{self._hash(typ, name)[:20]}", inputs

    def _iam_policy(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        policy_name = inputs.get("name") or self._autoname(name, typ)
        arn = self._arn("iam", f"policy/{policy_name}", regional=False)
        return arn, {
            **inputs,
            "name": policy_name,
            "arn": arn,
            "policyId": "ANPA" + (self._hash(typ, name)[:17].upper()),
        }

    def _service_linked_role(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        service = str(inputs.get("awsServiceName", ""))
        role_name = _SERVICE_LINKED_ROLE_NAMES.get(service, f"AWSServiceRoleFor{name}")
        arn = self._arn("iam", f"role/aws-service-role/{service}/{role_name}", regional=False)
        return arn, {
            **inputs,
            "name": role_name,
            "arn": arn,
            "path": f"/aws-service-role/{service}/",
        }

    def _bucket(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        bucket = inputs.get("bucket") or self._autoname(name, typ, lower=True)
        return bucket, {
            **inputs,
            "bucket": bucket,
            "arn": f"arn:{self.partition}:s3:::{bucket}",
            "bucketDomainName": f"{bucket}.s3.{self.dns_suffix}",
            "bucketRegionalDomainName": f"{bucket}.s3.{self.region}.{self.dns_suffix}",
            "region": self.region,
        }

    def _oidc_provider(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        url = str(inputs.get("url", "")).removeprefix("https://")
        arn = self._arn("iam", f"oidc-provider/{url}", regional=False)
        return arn, {**inputs, "arn": arn}

    def _kms_key(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key_id = str(uuid.UUID(self._hash(typ, name)[:32]))
        return key_id, {
            **inputs,
            "keyId": key_id,
            "arn": self._arn("kms", f"key/{key_id}"),
            "keyUsage": "ENCRYPT_DECRYPT",
            "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "isEnabled": True,
        }

    def _kms_alias(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        alias = inputs.get("name") or f"alias/{name}"
        return alias, {
            **inputs,
            "name": alias,
            "arn": self._arn("kms", alias),
            "targetKeyArn": self._arn("kms", f"key/{inputs.get('targetKeyId', '')}"),
        }

    def _secret(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        secret_name = inputs.get("name") or self._autoname(name, typ)
        arn = self._arn("secretsmanager", f"secret:{secret_name}-{self._hash(typ, name)[:6]}")
        return arn, {**inputs, "name": secret_name, "arn": arn}

    def _secret_version(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        version_id = str(uuid.UUID(self._hash(typ, name)[:32]))
        secret_id = str(inputs.get("secretId", ""))
        return f"{secret_id}|{version_id}", {
            **inputs,
            "arn": secret_id,
            "versionId": version_id,
            "versionStages": ["AWSCURRENT"],
        }

    def _eks_cluster(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        cluster_name = inputs.get("name") or self._autoname(name, typ)
        endpoint_id = self._hash(typ, name, "endpoint")[:32].upper()
        oidc_id = self._hash(typ, name, "oidc")[:32].upper()
        vpc_config = dict(inputs.get("vpcConfig") or {})
        vpc_config.setdefault("clusterSecurityGroupId", f"sg-{self._hash(typ, name, 'csg')[:17]}")
        return cluster_name, {
            **inputs,
            "name": cluster_name,
            "arn": self._arn("eks", f"cluster/{cluster_name}"),
            "endpoint": f"https://{endpoint_id}.gr7.{self.region}.eks.{self.dns_suffix}",
            "certificateAuthority": {"data": base64.b64encode(_FAKE_CA_PEM.encode()).decode()},
            "identities": [
                {
                    "oidcs": [
                        {"issuer": f"https://oidc.eks.{self.region}.{self.dns_suffix}/id/{oidc_id}"}
                    ]
                }
            ],
            "vpcConfig": vpc_config,
            "platformVersion": "eks.1",
            "status": "ACTIVE",
            "clusterId": str(uuid.UUID(self._hash(typ, name, "id")[:32])),
        }

    def _node_group(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        group_name = inputs.get("nodeGroupName") or self._autoname(name, typ)
        cluster = inputs.get("clusterName", "cluster")
        group_uuid = str(uuid.UUID(self._hash(typ, name)[:32]))
        return f"{cluster}:{group_name}", {
            **inputs,
            "nodeGroupName": group_name,
            "arn": self._arn("eks", f"nodegroup/{cluster}/{group_name}/{group_uuid}"),
            "status": "ACTIVE",
            "resources": [{"autoscalingGroups": [{"name": f"eks-{group_name}-{group_uuid}"}]}],
        }

    def _access_entry(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        cluster, principal = inputs.get("clusterName", ""), inputs.get("principalArn", "")
        return f"{cluster}:{principal}", {
            **inputs,
            "accessEntryArn": self._arn(
                "eks", f"access-entry/{cluster}/role/{self.account}/{self._hash(typ, name)[:8]}"
            ),
        }

    def _access_association(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        cluster, principal = inputs.get("clusterName", ""), inputs.get("principalArn", "")
        return f"{cluster}#{principal}#{inputs.get('policyArn', '')}", inputs

    def _named_group(
        self, service: str, kind: str
    ) -> Callable[[str, str, dict[str, Any]], tuple[str, dict[str, Any]]]:
        """Subnet and parameter groups: lowercase auto-names, ARN `<service>:<kind>:<name>`."""

        def build(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            group_name = inputs.get("name") or self._autoname(name, typ, lower=True)
            return group_name, {
                **inputs,
                "name": group_name,
                "arn": self._arn(service, f"{kind}:{group_name}"),
            }

        return build

    def _rds_instance(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        identifier = inputs.get("identifier") or self._autoname(name, typ, lower=True)
        # RDS endpoints share one per-account-and-region hash: <id>.<hash>.<region>.rds...
        account_hash = "c" + _digest(self.account, self.region)[:11]
        address = f"{identifier}.{account_hash}.{self.region}.rds.{self.dns_suffix}"
        port = int(inputs.get("port") or 5432)
        state: dict[str, Any] = {
            **inputs,
            "identifier": identifier,
            "address": address,
            "port": port,
            "endpoint": f"{address}:{port}",
            "arn": self._arn("rds", f"db:{identifier}"),
            "resourceId": "db-" + self._hash(typ, name)[:26].upper(),
            "status": "available",
            "engine": inputs.get("engine", "postgres"),
            "masterUserSecrets": [],
        }
        if inputs.get("manageMasterUserPassword"):
            secret_uuid = str(uuid.UUID(self._hash(typ, name, "master")[:32]))
            state["masterUserSecrets"] = [
                {
                    "secretArn": self._arn(
                        "secretsmanager",
                        f"secret:rds!db-{secret_uuid}-{_digest(secret_uuid)[:6]}",
                    ),
                    "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                    "secretStatus": "active",
                }
            ]
        return identifier, state

    def _replication_group(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        group_id = inputs.get("replicationGroupId") or self._autoname(name, typ, lower=True)
        code = region_code(self.region)
        host_hash = self._hash(typ, name)[:6]
        count = int(inputs.get("numCacheClusters") or 1)
        return group_id, {
            **inputs,
            "replicationGroupId": group_id,
            "arn": self._arn("elasticache", f"replicationgroup:{group_id}"),
            "primaryEndpointAddress": (
                f"master.{group_id}.{host_hash}.{code}.cache.{self.dns_suffix}"
            ),
            "readerEndpointAddress": (
                f"replica.{group_id}.{host_hash}.{code}.cache.{self.dns_suffix}"
            ),
            "memberClusters": [f"{group_id}-{n:03d}" for n in range(1, count + 1)],
            "engineVersionActual": f"{inputs.get('engineVersion', '7.1')}.0",
        }

    def _random_password(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        length = int(inputs.get("length") or 16)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        seed = self._hash(typ, name, "password")
        value = "".join(
            alphabet[int(_digest(seed, str(i))[:4], 16) % len(alphabet)] for i in range(length)
        )
        return "none", {**inputs, "result": value, "bcryptHash": "$2a$10$" + seed[:53]}

    def _sns_topic(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        topic = inputs.get("name") or self._autoname(name, typ)
        arn = self._arn("sns", topic)
        return arn, {**inputs, "name": topic, "arn": arn, "owner": self.account}

    def _sns_subscription(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        arn = (
            f"{inputs.get('topic', self._arn('sns', 'topic'))}:{uuid.UUID(_digest(typ, name)[:32])}"
        )
        # An email subscription waits for its owner to confirm it.
        pending = inputs.get("protocol") == "email"
        return arn, {**inputs, "arn": arn, "confirmationWasAuthenticated": not pending,
                     "pendingConfirmation": pending, "ownerId": self.account}  # fmt: skip

    def _metric_alarm(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        alarm = inputs.get("name") or self._autoname(name, typ)
        return alarm, {**inputs, "name": alarm, "arn": self._arn("cloudwatch", f"alarm:{alarm}")}

    def _health_check(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        check_id = str(uuid.UUID(_digest(typ, name)[:32]))
        # Route 53's ARNs name neither a region nor an account.
        arn = f"arn:{self.partition}:route53:::healthcheck/{check_id}"
        return check_id, {**inputs, "arn": arn}

    def _trail(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        trail = inputs.get("name") or self._autoname(name, typ)
        arn = self._arn("cloudtrail", f"trail/{trail}")
        return arn, {**inputs, "name": trail, "arn": arn, "homeRegion": self.region}

    def _slack_channel(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        configuration = inputs.get("configurationName") or self._autoname(name, typ)
        arn = self._arn("chatbot", f"chat-configuration/slack-channel/{configuration}",
                        regional=False)  # fmt: skip
        return arn, {**inputs, "chatConfigurationArn": arn}

    def _backup_vault(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        vault = str(inputs.get("name") or self._autoname(name, typ))
        return vault, {**inputs, "name": vault, "recoveryPoints": 0,
                       "arn": self._arn("backup", f"backup-vault:{vault}")}  # fmt: skip

    def _backup_plan(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        plan_id = str(uuid.UUID(self._hash(typ, name)[:32]))
        return plan_id, {**inputs, "arn": self._arn("backup", f"backup-plan:{plan_id}"),
                         "version": self._hash(typ, name, "version")[:32]}  # fmt: skip

    def _restore_testing_plan(
        self, typ: str, name: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        plan = str(inputs.get("name") or name)
        arn = self._arn("backup", f"restore-testing-plan:{plan}-{self._hash(typ, name)[:8]}")
        return plan, {**inputs, "arn": arn}

    def _random_id(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        byte_length = int(inputs.get("byteLength") or 8)
        # New keepers draw a new id, as the provider replaces the resource.
        keepers = json.dumps(inputs.get("keepers") or {}, sort_keys=True)
        raw = bytes.fromhex(self._hash(typ, name, keepers)[: byte_length * 2])
        b64url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return b64url, {
            **inputs,
            "hex": raw.hex(),
            "dec": str(int.from_bytes(raw, "big")),
            "b64Std": base64.b64encode(raw).decode(),
            "b64Url": b64url,
        }

    def _generic(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        state = dict(inputs)
        if typ.startswith("kubernetes:"):
            metadata = dict(state.get("metadata") or {})
            metadata.setdefault("name", self._autoname(name, typ, lower=True))
            metadata["uid"] = str(uuid.UUID(self._hash(typ, name)[:32]))
            state["metadata"] = metadata
            namespace = metadata.get("namespace")
            object_id = f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
            return object_id, state
        return f"{name}-{self._hash(typ, name)[:8]}", state
