# ruff: noqa: E501  (the CASES table keeps one policy per line, which is worth the width)
"""The policy pack: every policy failing on a violating resource and passing on a compliant one.

The compliant case is the real production plan; each violation is the same
plan with one property, option or resource changed.  Both go through the
argument builder `stagecraft audit` uses.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from policy.harness import (
    CONFIG_DIR,
    PolicyConfigError,
    audit,
    evaluate_rule,
    load_policy_config,
    resolve,
)
from policy.rules import RULES, RULES_BY_NAME, policies
from stagecraft.cli.main import main
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from tests.conftest import REPO, REPOSITORY, edit_stack

PRODUCTION_CONFIG = load_policy_config(CONFIG_DIR / "production.json")

Mutation = Callable[[Plan], Plan]


def _edit(
    type_token: str,
    change: Callable[[PlannedResource], PlannedResource],
    *,
    only: Callable[[PlannedResource], bool] = lambda r: True,
) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        resources = [change(r) if r.type == type_token and only(r) else r for r in plan.resources]
        return dataclasses.replace(plan, resources=resources)

    return mutate


def _props(
    type_token: str, only: Callable[[PlannedResource], bool] = lambda r: True, **changes: Any
) -> Mutation:
    def change(resource: PlannedResource) -> PlannedResource:
        inputs = dict(resource.inputs)
        for key, value in changes.items():
            if value is _DELETE:
                inputs.pop(key, None)
            else:
                inputs[key] = value
        return dataclasses.replace(resource, inputs=inputs)

    return _edit(type_token, change, only=only)


_DELETE: Any = object()
RDS = "aws:rds/instance:Instance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
EKS = "aws:eks/cluster:Cluster"
LOG = "aws:cloudwatch/logGroup:LogGroup"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
PARAMS = "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams"
RELEASE = "kubernetes:helm.sh/v3:Release"
TRAIL = "aws:cloudtrail/trail:Trail"
TOPIC = "aws:sns/topic:Topic"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BACKUP_PLAN = "aws:backup/plan:Plan"
BACKUP_VAULT = "aws:backup/vault:Vault"
VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
_DAILY = {
    "ruleName": "daily",
    "targetVaultName": "stagecraft-production-backups",
    "schedule": "cron(0 7 * * ? *)",
}


def _without_one(type_token: str, name_suffix: str) -> Mutation:
    """``plan`` less the one resource of ``type_token`` whose name ends in ``name_suffix``."""

    def mutate(plan: Plan) -> Plan:
        kept = [
            r for r in plan.resources
            if not (r.type == type_token and r.name.endswith(name_suffix))
        ]  # fmt: skip
        assert len(kept) == len(plan.resources) - 1, name_suffix
        return dataclasses.replace(plan, resources=kept)

    return mutate


def _spec(**changes: Any) -> Mutation:
    """The IngressClassParams' spec with ``changes`` (None removes a key)."""

    def change(resource: PlannedResource) -> PlannedResource:
        spec = {**resource.inputs["spec"], **changes}
        spec = {k: v for k, v in spec.items() if v is not None}
        return dataclasses.replace(resource, inputs={**resource.inputs, "spec": spec})

    return _edit(PARAMS, change)


def _attribute(key: str, value: str) -> Mutation:
    def change(resource: PlannedResource) -> PlannedResource:
        spec = dict(resource.inputs["spec"])
        spec["loadBalancerAttributes"] = [
            {**a, "value": value} if a["key"] == key else a for a in spec["loadBalancerAttributes"]
        ]
        return dataclasses.replace(resource, inputs={**resource.inputs, "spec": spec})

    return _edit(PARAMS, change)


def _chart(chart: str, **changes: Any) -> Mutation:
    def change(resource: PlannedResource) -> PlannedResource:
        inputs = {**resource.inputs}
        for key, value in changes.items():
            if key == "values":
                inputs["values"] = {**inputs["values"], **value}
            elif value is _DELETE:
                inputs.pop(key, None)
            else:
                inputs[key] = value
        return dataclasses.replace(resource, inputs=inputs)

    return _edit(RELEASE, change, only=lambda r: r.inputs.get("chart") == chart)


def _reader(resource: PlannedResource) -> bool:
    """The External Secrets store's IRSA role policy."""
    return "third-party-secrets-reader" in resource.urn


def _reads(resource: str) -> str:
    """A reader policy granting GetSecretValue on ``resource``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": resource}
            ],
        }
    )


def _primary(resource: PlannedResource) -> bool:
    return "replicateSourceDb" not in resource.inputs


def _without(type_token: str) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        return dataclasses.replace(
            plan, resources=[r for r in plan.resources if r.type != type_token]
        )

    return mutate


def _with_extra(resource: Callable[[Plan], PlannedResource]) -> Mutation:
    def mutate(plan: Plan) -> Plan:
        return dataclasses.replace(plan, resources=[*plan.resources, resource(plan)])

    return mutate


def _open_rule(plan: Plan) -> PlannedResource:
    group = next(
        r for r in plan.of_type("aws:ec2/securityGroup:SecurityGroup") if "database" in r.name
    )
    return PlannedResource(
        urn=group.urn.replace(
            "securityGroup:SecurityGroup", "vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        )
        + "-world",
        type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name="database-from-anywhere",
        parent=group.parent,
        custom=True,
        protect=False,
        provider=group.provider,
        inputs={"cidrIpv4": "0.0.0.0/0", "fromPort": 5432, "toPort": 5432, "ipProtocol": "tcp"},
    )


def _untagged(plan: Plan) -> PlannedResource:
    return PlannedResource(
        urn="urn:pulumi:production::stagecraft::aws:s3/bucket:Bucket::stray",
        type="aws:s3/bucket:Bucket",
        name="stray",
        parent=None,
        custom=True,
        protect=False,
        provider=None,  # not created through the environment's tagged provider
        inputs={"bucket": "stray"},
    )


def _stack_reference(plan: Plan) -> PlannedResource:
    return PlannedResource(
        urn="urn:pulumi:production::stagecraft::pulumi:pulumi:StackReference::staging-ref",
        type="pulumi:pulumi:StackReference",
        name="staging-ref",
        parent=None,
        custom=True,
        protect=False,
        provider=None,
        inputs={"name": "acme/stagecraft/staging"},
    )


def _restricted_namespace_with_a_job_without_seccomp(plan: Plan) -> Plan:
    """The namespace enforcing `restricted`, and a Job there missing the seccomp profile."""
    resources = []
    for resource in plan.resources:
        if resource.type == "kubernetes:core/v1:Namespace":
            inputs = copy.deepcopy(resource.inputs)
            inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
            resource = dataclasses.replace(resource, inputs=inputs)  # noqa: PLW2901
        resources.append(resource)
    return dataclasses.replace(plan, resources=[*resources, _job_without_seccomp()])


def _job_without_seccomp() -> PlannedResource:
    container = {
        "name": "job",
        "image": "public.ecr.aws/docker/library/postgres:16.6-alpine",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return PlannedResource(
        urn="urn:pulumi:production::stagecraft::kubernetes:batch/v1:Job::one-off",
        type="kubernetes:batch/v1:Job",
        name="one-off",
        parent=None,
        custom=True,
        protect=False,
        provider=None,
        inputs={
            "metadata": {"name": "one-off", "namespace": "production"},
            "spec": {"template": {"spec": {"containers": [container]}}},
        },
    )


def _unprotect_cache(resource: PlannedResource) -> PlannedResource:
    return dataclasses.replace(resource, protect=False)


_SCHEDULER_GROUP = "arn:aws:scheduler:us-east-1:123456789012:schedule-group/stagecraft-production-x"


def _scheduler_role(*, resource: str = "arn:aws:rds:us-east-1:123456789012:db:stagecraft-production",
                    condition: bool = True) -> Mutation:  # fmt: skip
    """A role EventBridge Scheduler assumes, with its inline policy, added to the plan."""

    def mutate(plan: Plan) -> Plan:
        trust: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
        if condition:
            trust["Condition"] = {"StringEquals": {"aws:SourceArn": _SCHEDULER_GROUP}}
        base = "urn:pulumi:production::stagecraft::aws:iam/"
        role = PlannedResource(
            urn=f"{base}role:Role::off-hours", type="aws:iam/role:Role", name="off-hours",
            parent=None, custom=True, protect=False, provider=None,
            inputs={"assumeRolePolicy": json.dumps({"Statement": [trust]})},
        )  # fmt: skip
        statement = {"Effect": "Allow", "Action": ["rds:StopDBInstance"], "Resource": resource}
        policy = PlannedResource(
            urn=f"{base}rolePolicy:RolePolicy::off-hours", type="aws:iam/rolePolicy:RolePolicy",
            name="off-hours", parent=None, custom=True, protect=False, provider=None,
            inputs={"policy": json.dumps({"Statement": [statement]})}, dependencies=[role.urn],
        )  # fmt: skip
        return dataclasses.replace(plan, resources=[*plan.resources, role, policy])

    return mutate


def _database_stop_schedule(plan: Plan) -> PlannedResource:
    return PlannedResource(
        urn="urn:pulumi:production::stagecraft::aws:scheduler/schedule:Schedule::database-stop",
        type="aws:scheduler/schedule:Schedule", name="database-stop", parent=None, custom=True,
        protect=False, provider=None,
        inputs={"scheduleExpression": "cron(0 20 ? * MON-FRI *)", "target": {
            "arn": "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance",
            "input": json.dumps({"DbInstanceIdentifier": "stagecraft-production"})}},
    )  # fmt: skip


def _ssh_rule(plan: Plan) -> PlannedResource:
    """Port 22 from another security group: not the internet, and still refused."""
    return PlannedResource(
        urn="urn:pulumi:production::stagecraft::aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::bastion-ssh",
        type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name="bastion-ssh",
        parent=None, custom=True, protect=False, provider=None,
        inputs={"securityGroupId": "sg-0123", "referencedSecurityGroupId": "sg-0456",
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "description": "ssh"},
    )  # fmt: skip


def _rdp_range(plan: Plan) -> PlannedResource:
    """A private range whose port span includes 3389."""
    return PlannedResource(
        urn="urn:pulumi:production::stagecraft::aws:ec2/securityGroup:SecurityGroup::windows",
        type="aws:ec2/securityGroup:SecurityGroup", name="windows", parent=None, custom=True,
        protect=False, provider=None,
        inputs={"ingress": [{"protocol": "tcp", "fromPort": 3000, "toPort": 4000,
                             "cidrBlocks": ["10.0.0.0/8"]}]},
    )  # fmt: skip


def _bastion_inbound_rule(plan: Plan) -> PlannedResource:
    """An inbound rule on the bastion's own group, from inside the VPC: still refused."""
    (group,) = plan.one("aws:ec2/instance:Instance").inputs["vpcSecurityGroupIds"]
    return PlannedResource(
        urn="urn:pulumi:production::stagecraft::aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::bastion-https",
        type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name="bastion-https",
        parent=None, custom=True, protect=False, provider=None,
        inputs={"securityGroupId": group, "cidrIpv4": "10.30.0.0/16", "ipProtocol": "tcp",
                "fromPort": 443, "toPort": 443, "description": "https"},
    )  # fmt: skip


def _shell_document(**inputs: Any) -> Mutation:
    """The shell session document with its preferences (inputs) changed; None removes one."""

    def change(resource: PlannedResource) -> PlannedResource:
        content = json.loads(resource.inputs["content"])
        if content["sessionType"] != "Standard_Stream":
            return resource
        settings = {**content["inputs"], **inputs}
        content["inputs"] = {k: v for k, v in settings.items() if v is not None}
        return dataclasses.replace(
            resource, inputs={**resource.inputs, "content": json.dumps(content)}
        )

    return _edit("aws:ssm/document:Document", change)


BASTION = "aws:ec2/instance:Instance"
BUDGET = "aws:budgets/budget:Budget"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
DEV_IMPORT_ROLE = "arn:aws:iam::123456789012:role/stagecraft-dev-data-import"


def _dumps_policy(change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Mutation:
    """Production's data-sync bucket policy, its statements changed."""

    def edit(resource: PlannedResource) -> PlannedResource:
        document = json.loads(resource.inputs["policy"])
        document["Statement"] = change(document["Statement"])
        return dataclasses.replace(
            resource, inputs={**resource.inputs, "policy": json.dumps(document)}
        )

    return _edit(BUCKET_POLICY, edit, only=lambda r: "data-export" in r.name)


def _dev_reads_dumps(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for statement in statements:
        if statement.get("Sid") == "OnlyTheImportJobsRead":
            statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].append(DEV_IMPORT_ROLE)
        if statement.get("Sid") == "ImportJobsReadDumps":
            statement["Principal"]["AWS"].append(DEV_IMPORT_ROLE)
    return statements


def _stranger_reads_dumps(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A role named like staging's import role, in another account."""
    stranger = "arn:aws:iam::999999999999:role/stagecraft-staging-data-import"
    for statement in statements:
        if statement.get("Sid") == "ImportJobsReadDumps":
            statement["Principal"]["AWS"] = [stranger]
    return statements


def _export_role_reads(plan: Plan) -> Plan:
    def edit(resource: PlannedResource) -> PlannedResource:
        document = json.loads(resource.inputs["policy"])
        document["Statement"][0]["Action"] = ["s3:PutObject", "s3:GetObject"]
        return dataclasses.replace(
            resource, inputs={**resource.inputs, "policy": json.dumps(document)}
        )

    return _edit(ROLE_POLICY_TYPE, edit, only=lambda r: "data-export" in r.name)(plan)


ROLE_POLICY_TYPE = "aws:iam/rolePolicy:RolePolicy"


def _login_policy(resource: str, action: str = "rds-db:connect") -> Mutation:
    """The developers' role may log in to the database as ``resource``."""

    def edit(resource_: PlannedResource) -> PlannedResource:
        document = json.loads(resource_.inputs["policy"])
        for statement in document["Statement"]:
            if statement["Sid"] == "LogInToTheDatabase":
                statement["Action"], statement["Resource"] = action, resource
        return dataclasses.replace(
            resource_, inputs={**resource_.inputs, "policy": json.dumps(document)}
        )

    return _edit(ROLE_POLICY_TYPE, edit, only=lambda r: r.name.endswith("developers-grants"))


# (policy, how to break production, message the violation carries, extra policy config)
CASES: list[tuple[str, Mutation, str, dict[str, Any]]] = [
    ("alb-https-only", _spec(certificateArn=None), "no certificateArn", {}),
    ("alb-https-only", _spec(sslRedirectPort=None), "HTTP is served, not redirected", {}),
    ("alb-tls-policy", _spec(sslPolicy="ELBSecurityPolicy-2016-08"), "sslPolicy ELBSecurityPolicy-2016-08 is not a TLS 1.2+ policy", {}),
    ("alb-drops-invalid-headers", _attribute("routing.http.drop_invalid_header_fields.enabled", "false"), "drop_invalid_header_fields.enabled is not true", {}),
    ("alb-deletion-protection", _attribute("deletion_protection.enabled", "false"), "deletion_protection.enabled is not true", {}),
    ("helm-charts-pinned", _chart("metrics-server", version="3.x"), "chart version 3.x is not one exact version", {}),
    ("helm-charts-pinned", _chart("external-dns", repositoryOpts=_DELETE), "no chart repository", {}),
    ("external-dns-confined", _chart("external-dns", values={"policy": "sync"}), "not upsert-only: it deletes records", {}),
    ("external-dns-confined", _chart("external-dns", values={"domainFilters": []}), "no domainFilters", {}),
    ("external-dns-confined", _chart("external-dns", values={"extraArgs": {}}), "no zone-id-filter", {}),
    ("external-secrets-scoped", _props("aws:iam/rolePolicy:RolePolicy", _reader, policy=_reads("arn:aws:secretsmanager:us-east-1:123456789012:secret:*")), "reads secrets outside stagecraft-production/ (arn:aws:secretsmanager:us-east-1:123456789012:secret:*)", {}),
    ("external-secrets-scoped", _props("aws:iam/rolePolicy:RolePolicy", _reader, policy=_reads("arn:aws:secretsmanager:us-east-1:123456789012:secret:stagecraft-staging/third-party/*")), "reads secrets outside stagecraft-production/", {}),
    ("external-secrets-scoped", _props("aws:iam/rolePolicy:RolePolicy", _reader, policy=_reads("arn:aws:secretsmanager:us-east-1:123456789012:secret:stagecraft-production*")), "reads secrets outside stagecraft-production/", {}),
    ("external-secrets-scoped", _props("aws:iam/rolePolicy:RolePolicy", _reader, policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]})), "may kms:Decrypt outside Secrets Manager", {}),
    ("external-secrets-scoped", _chart("external-secrets", values={"rbac": {}}), "may mint a token for any ServiceAccount", {}),
    ("external-secrets-scoped", _chart("external-secrets", values={"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x"}}}), "the operator's own ServiceAccount has an IAM role", {}),
    ("external-secrets-scoped", _props("kubernetes:external-secrets.io/v1:SecretStore", spec={"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1"}}}), "no auth.jwt.serviceAccountRef", {}),
    ("external-dns-confined", _props("aws:iam/rolePolicy:RolePolicy", lambda r: "external-dns" in r.name, policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "arn:aws:route53:::hostedzone/*"}]})), "may change records of every zone", {}),
    ("rds-storage-encrypted", _props(RDS, _primary, storageEncrypted=False), "storageEncrypted is not true", {}),
    ("rds-not-public", _props(RDS, publiclyAccessible=True), "publiclyAccessible is true", {}),
    ("rds-multi-az", _props(RDS, _primary, multiAz=False), "multiAz is not true", {}),
    ("rds-backup-retention", _props(RDS, _primary, backupRetentionPeriod=7), "is 7 days; the policy requires 30", {}),
    ("rds-deletion-protection", _props(RDS, _primary, deletionProtection=False), "deletionProtection is not true", {}),
    ("rds-iam-authentication", _props(RDS, iamDatabaseAuthenticationEnabled=False), "IAM database authentication is off", {}),
    ("rds-performance-insights", _props(RDS, performanceInsightsKmsKeyId=_DELETE), "not encrypted with a customer-managed key", {}),
    ("rds-enhanced-monitoring", _props(RDS, monitoringInterval=0), "enhanced monitoring is off", {}),
    ("rds-logs-exported", _props(RDS, enabledCloudwatchLogsExports=["postgresql"]), "not exported to CloudWatch: upgrade", {}),
    ("rds-auto-minor-upgrades", _props(RDS, autoMinorVersionUpgrade=False), "autoMinorVersionUpgrade is false", {}),
    ("rds-copy-tags-to-snapshots", _props(RDS, copyTagsToSnapshot=False), "copyTagsToSnapshot is not true", {}),
    ("rds-non-default-port", _props(RDS, port=5432), "default port 5432", {"requireNonDefaultPort": True}),
    ("rds-non-default-admin-username", _props(RDS, _primary, username="postgres"), "'postgres' is a well-known default", {}),
    ("elasticache-encryption-at-rest", _props(CACHE, atRestEncryptionEnabled=False), "at-rest encryption is off", {}),
    ("elasticache-encryption-in-transit", _props(CACHE, transitEncryptionEnabled=False), "in-transit encryption is off", {}),
    ("elasticache-auth", _props(CACHE, userGroupIds=_DELETE), "neither an AUTH token nor RBAC", {}),
    ("elasticache-auto-minor-upgrades", _props(CACHE, autoMinorVersionUpgrade=False), "autoMinorVersionUpgrade is false", {}),
    ("elasticache-automatic-failover", _props(CACHE, automaticFailoverEnabled=False), "automatic failover is off", {}),
    ("elasticache-snapshot-retention", _props(CACHE, snapshotRetentionLimit=1), "is 1 days; the policy requires 7", {}),
    ("elasticache-no-default-subnet-group", _props(CACHE, subnetGroupName="default"), "default subnet group", {}),
    ("elasticache-customer-managed-key", _props(CACHE, kmsKeyId=_DELETE), "no customer-managed KMS key", {}),
    ("eks-endpoint-restricted", _props(EKS, vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}), "public to the whole internet", {}),
    ("eks-secrets-encryption", _props(EKS, encryptionConfig=_DELETE), "not envelope-encrypted", {}),
    ("eks-control-plane-logging", _props(EKS, enabledClusterLogTypes=["api", "audit", "authenticator"]), "not enabled: controllerManager, scheduler", {}),
    ("log-groups-encrypted-and-retained", _props(LOG, lambda r: r.inputs["name"].endswith("/cluster"), retentionInDays=30), "keeps 30 days; the policy requires 365", {}),
    ("log-groups-encrypted-and-retained", _props(LOG, lambda r: r.inputs["name"].endswith("/sessions"), retentionInDays=90), "audit log group /aws/ssm/stagecraft-production/sessions keeps 90 days; the policy requires 365", {}),
    ("log-groups-encrypted-and-retained", _props(LOG, kmsKeyId=_DELETE), "is not encrypted with a customer-managed key", {}),
    ("log-groups-encrypted-and-retained", _props(LOG, retentionInDays=_DELETE), "keeps its logs for ever", {}),
    ("kms-key-rotation", _props("aws:kms/key:Key", enableKeyRotation=False), "automatic key rotation is off", {}),
    ("launch-template-hardened", _props(TEMPLATE, metadataOptions={"httpTokens": "optional"}), "may use IMDSv1", {}),
    ("launch-template-hardened", _props(TEMPLATE, blockDeviceMappings=_DELETE), "the account's default", {}),
    ("vpc-default-security-group-closed", _without("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"), "default security group keeps AWS's rules", {}),
    ("vpc-default-security-group-closed", _props("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", ingress=[{"protocol": "-1", "self": True}]), "default security group keeps AWS's rules", {}),
    ("network-acl-no-remote-admin", _without("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"), "default network ACL admits everything", {}),
    ("network-acl-no-remote-admin", _props("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl", ingress=[{"ruleNo": 100, "action": "allow", "protocol": "-1", "cidrBlock": "0.0.0.0/0", "fromPort": 0, "toPort": 0}]), "admits port 22 from the internet", {}),
    ("security-group-rules-described", _props("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", description=_DELETE), "has no description", {}),
    ("pod-security-standards", _restricted_namespace_with_a_job_without_seccomp, "has no seccompProfile RuntimeDefault", {}),
    ("eks-supported-version", _props(EKS, version="1.27"), "Kubernetes 1.27 is not in", {}),
    ("secretsmanager-customer-managed-key", _props("aws:secretsmanager/secret:Secret", kmsKeyId=_DELETE), "AWS-managed key", {}),
    ("secretsmanager-rotation", lambda plan: plan, "has no rotation schedule", {"requireRotation": True}),
    ("vpc-flow-logs", _without("aws:ec2/flowLog:FlowLog"), "has no flow log", {}),
    ("no-open-data-ports", _with_extra(_open_rule), "opens PostgreSQL or Redis ports to the internet", {}),
    ("required-tags", _with_extra(_untagged), "stray lacks tags: environment, project", {}),
    ("stateful-resources-protected", _edit(CACHE, _unprotect_cache), "stagecraft-production-cache", {}),
    ("environment-isolation", _props("aws:ec2/vpc:Vpc", tags={"Name": "stagecraft-staging-network"}), "refers to environment 'staging'", {}),
    ("cloudtrail-enabled", _without(TRAIL), "no CloudTrail trail: every action in the account goes unrecorded", {}),
    ("cloudtrail-enabled", _props(TRAIL, isMultiRegionTrail=False), "records one region only", {}),
    ("cloudtrail-enabled", _props(TRAIL, eventSelectors=[{"readWriteType": "WriteOnly", "includeManagementEvents": True}]), "does not record read and write management events", {}),
    ("cloudtrail-log-validation", _props(TRAIL, enableLogFileValidation=False), "log file validation is off", {}),
    ("cloudtrail-encrypted", _props(TRAIL, kmsKeyId=_DELETE), "log files are not encrypted with a customer-managed key", {}),
    ("cloudtrail-cloudwatch-logs", _props(TRAIL, cloudWatchLogsRoleArn=_DELETE), "not delivered to CloudWatch Logs", {}),
    ("sns-topics-encrypted", _props(TOPIC, kmsMasterKeyId=_DELETE), "messages are not encrypted at rest", {}),
    ("sns-topics-encrypted", _props(TOPIC, kmsMasterKeyId="alias/aws/sns"), "CloudWatch alarms cannot publish with", {}),
    ("alarms-notify", _props(ALARM, alarmActions=[]), "notifies nobody (no alarm action)", {}),
    ("alarms-notify", _props(ALARM, actionsEnabled=False), "its actions are disabled", {}),
    ("stateful-resources-alarmed", _without_one(ALARM, "-replica-1-replica-lag"), "replica stagecraft-production-replica-1: no alarm on ReplicaLag", {}),
    ("stateful-resources-alarmed", _without_one(ALARM, "-database-free-storage"), "database stagecraft-production: no alarm on FreeStorageSpace", {}),
    ("stateful-resources-alarmed", _without_one(ALARM, "-cache-002-evictions"), "cache node stagecraft-production-002: no alarm on Evictions", {}),
    ("stateful-resources-alarmed", _without_one(ALARM, "-nat-az3-port-allocation"), "3 NAT gateways but 2 ErrorPortAllocation alarms", {}),
    ("stateful-resources-alarmed", _without_one(ALARM, "-nodes-below-minimum"), "the node group has no alarm on its in-service nodes", {}),
    ("s3-buckets-lifecycle", _without_one(LIFECYCLE, "-traces-bucket-lifecycle"), "stagecraft-production-traces-123456789012: no lifecycle configuration", {}),
    ("s3-buckets-lifecycle", _props(LIFECYCLE, rules=[{"id": "x", "status": "Enabled", "filter": {}, "expiration": {"days": 30}}]), "abandoned multipart uploads are kept", {}),
    ("environment-isolation", _with_extra(_stack_reference), "references stack 'acme/stagecraft/staging'", {}),
    ("budget-defined", _without(BUDGET), "no AWS budget: nobody hears of an overrun before the bill", {}),
    ("budget-defined", _props(BUDGET, costFilters=[]), "counts the whole account, not the stack's tagged resources", {}),
    ("budget-defined", _props(BUDGET, notifications=[{"notificationType": "ACTUAL", "threshold": 80, "subscriberEmailAddresses": ["a@b.org"]}]), "no forecast notification: told only after the money is spent", {}),
    ("budget-defined", _props(BUDGET, notifications=[{"notificationType": "FORECASTED", "threshold": 100}]), "a FORECASTED notification with no subscriber", {}),
    ("always-on", _with_extra(_database_stop_schedule), "database-stop: stops or scales to zero (cron(0 20 ? * MON-FRI *))", {}),
    ("scheduler-roles-scoped", _scheduler_role(resource="*"), "off-hours: *: a schedule's role names the actions and the one resource it acts on", {}),
    ("scheduler-roles-scoped", _scheduler_role(condition=False), "off-hours: any schedule in any account may use it", {}),
    ("no-remote-admin-ports", _with_extra(_ssh_rule), "bastion-ssh opens 22 (SSH/RDP): shell access goes through Systems Manager Session Manager", {}),
    ("no-remote-admin-ports", _with_extra(_rdp_range), "windows opens 3389 (SSH/RDP)", {}),
    ("rds-db-connect-scoped", _login_policy("arn:aws:rds-db:us-east-1:123456789012:dbuser:*/stagecraft_readwrite"), "developers-grants: statement LogInToTheDatabase lets it log in to databases as arn:aws:rds-db:us-east-1:123456789012:dbuser:*/stagecraft_readwrite: name one database user on one instance", {}),
    ("rds-db-connect-scoped", _login_policy("*", action="rds-db:*"), "developers-grants: statement LogInToTheDatabase lets it log in to databases as *", {}),
    ("rds-db-connect-scoped", _login_policy("arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY0/*"), "as arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY0/*:", {}),
    ("bastion-hardened", _props(BASTION, associatePublicIpAddress=True), "may get a public IP address", {}),
    ("bastion-hardened", _props(BASTION, associatePublicIpAddress=_DELETE), "may get a public IP address", {}),
    ("bastion-hardened", _props(BASTION, keyName="ops"), "has an SSH key pair (ops)", {}),
    ("bastion-hardened", _props(BASTION, metadataOptions={"httpTokens": "optional"}), "may use IMDSv1", {}),
    ("bastion-hardened", _props(BASTION, rootBlockDevice={"encrypted": True}), "root volume is not encrypted with a customer-managed key", {}),
    ("bastion-hardened", _with_extra(_bastion_inbound_rule), "admits inbound traffic (bastion-https)", {}),
    ("session-logs-encrypted", _shell_document(cloudWatchEncryptionEnabled=False), "does not require encrypted", {}),
    ("session-logs-encrypted", _shell_document(cloudWatchLogGroupName=None), "logs sessions nowhere", {}),
    ("session-logs-encrypted", _shell_document(kmsKeyId=None), "does not encrypt session data with a KMS key", {}),
    ("session-logs-encrypted", _shell_document(runAsEnabled=True), "run as another OS user", {}),
    ("data-sync-confined", _dumps_policy(_dev_reads_dumps), "arn:aws:iam::123456789012:role/stagecraft-dev-data-import may read production's dumps; this stack's policy config allows only ['stagecraft-staging-data-import'] of account 123456789012", {}),
    ("data-sync-confined", _dumps_policy(_stranger_reads_dumps), "arn:aws:iam::999999999999:role/stagecraft-staging-data-import may read production's dumps", {}),
    ("data-sync-confined", _dumps_policy(lambda st: [s for s in st if s.get("Sid") != "OnlyTheImportJobsRead"]), "no deny of s3:GetObject to every other principal", {}),
    ("data-sync-confined", _export_role_reads, "the export job may s3:GetObject; it only writes dumps", {}),
    ("environment-isolation", _dumps_policy(_dev_reads_dumps), "refers to environment 'dev'", {}),
    ("backups-copied-and-locked", _without(BACKUP_PLAN), "no AWS Backup plan: the database's only backups live and die with the instance", {}),
    ("backups-copied-and-locked", _props(BACKUP_PLAN, rules=[_DAILY]), "rule daily copies no backup to another region (no copy action)", {}),
    ("backups-copied-and-locked", _props(BACKUP_PLAN, rules=[{**_DAILY, "copyActions": [{"destinationVaultArn": "arn:aws:backup:us-east-1:123456789012:backup-vault:stagecraft-production-backups-copy"}]}]), "rule daily copies into its own region (us-east-1): lost with it", {}),
    ("backups-copied-and-locked", _props(BACKUP_VAULT, kmsKeyArn=_DELETE), "stagecraft-production-backups: encrypted with AWS Backup's default key", {}),
    ("backups-copied-and-locked", _without_one(VAULT_LOCK, "-copy-vault-lock"), "stagecraft-production-backups-copy: no vault lock with a minimum retention", {}),
]  # fmt: skip


BOOTSTRAP_CONFIG = load_policy_config(CONFIG_DIR / "bootstrap.json")
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _trust(condition: dict[str, Any]) -> Mutation:
    """The deploy role's trust with its condition replaced."""

    def change(resource: PlannedResource) -> PlannedResource:
        document = json.loads(resource.inputs["assumeRolePolicy"])
        document["Statement"][0]["Condition"] = condition
        return dataclasses.replace(
            resource, inputs={**resource.inputs, "assumeRolePolicy": json.dumps(document)}
        )

    return _edit(
        ROLE, change, only=lambda r: r.inputs.get("name") == "stagecraft-ci-deploy-staging"
    )


def _statement(sid: str, action: Any) -> Mutation:
    """A statement added to every CI role's permissions."""

    def change(resource: PlannedResource) -> PlannedResource:
        document = json.loads(resource.inputs["policy"])
        document["Statement"].append(
            {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": "*"}
        )
        return dataclasses.replace(
            resource, inputs={**resource.inputs, "policy": json.dumps(document)}
        )

    return _edit(ROLE_POLICY, change)


GITHUB = "token.actions.githubusercontent.com"
BOOTSTRAP_CASES: list[tuple[str, Mutation, str]] = [
    ("iam-web-identity-trust-pinned", _trust({"StringLike": {f"{GITHUB}:sub": f"repo:{REPOSITORY.split('/')[0]}/*"}}), "trusts token.actions.githubusercontent.com for any audience"),
    ("iam-web-identity-trust-pinned", _trust({"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}}), "trusts any subject of token.actions.githubusercontent.com"),
    ("iam-web-identity-trust-pinned", _trust({"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com", f"{GITHUB}:sub": "repo:someone-else/stagecraft:environment:staging"}}), f"not a job of {REPOSITORY}"),
    ("iam-no-wildcard-actions", _statement("Everything", "*"), "statement Everything allows every action"),
    ("iam-no-wildcard-actions", _statement("AllOfS3", ["s3:*"]), "statement AllOfS3 allows s3:* on every resource"),
    ("s3-buckets-hardened", _props("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", blockPublicPolicy=False), "public access is not blocked"),
    ("s3-buckets-hardened", _without("aws:s3/bucketPolicy:BucketPolicy"), "requests without TLS are not denied"),
    ("s3-buckets-hardened", _props("aws:s3/bucketVersioning:BucketVersioning", versioningConfiguration={"status": "Suspended"}), "versioning is off"),
    ("s3-buckets-hardened", _without("aws:s3/bucketLogging:BucketLogging"), "server access logging is off"),
    ("s3-buckets-hardened", _props("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", only=lambda r: not r.inputs["bucket"].endswith("-logs"), rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]), "default encryption is ['AES256']; needs aws:kms or aws:kms:dsse"),
]  # fmt: skip


@pytest.fixture(scope="module")
def bootstrap_plan() -> Plan:
    return evaluate("bootstrap", project_dir=REPO / "bootstrap")


@pytest.mark.parametrize(
    ("name", "mutation", "message"), BOOTSTRAP_CASES, ids=[c[0] for c in BOOTSTRAP_CASES]
)
def test_account_policies_pass_the_bootstrap_and_fail_its_violations(
    bootstrap_plan, name, mutation, message
):
    rule = RULES_BY_NAME[name]
    passing = evaluate_rule(rule, bootstrap_plan, BOOTSTRAP_CONFIG)
    assert passing.status == "pass", passing.violations
    failing = evaluate_rule(rule, mutation(bootstrap_plan), BOOTSTRAP_CONFIG)
    assert failing.status == "fail"
    assert failing.enforcement == "mandatory"
    assert any(message in v.message for v in failing.violations), failing.violations


def test_the_justified_wildcard_is_shown_as_weaker_than_the_control(bootstrap_plan):
    verdict = evaluate_rule(
        RULES_BY_NAME["iam-no-wildcard-actions"], bootstrap_plan, BOOTSTRAP_CONFIG
    )
    assert verdict.status == "pass"
    assert verdict.weaker_than_control
    (threshold,) = verdict.thresholds
    assert "ProgramServices" in threshold.used


def test_every_small_stacks_service_account_trust_is_pinned(plans):
    # IRSA roles (the sandbox's reset Jobs) are web identities too.
    verdict = evaluate_rule(
        RULES_BY_NAME["iam-web-identity-trust-pinned"],
        plans["sandbox"] if "sandbox" in plans else evaluate("sandbox", project_dir=REPO),
        PRODUCTION_CONFIG,
    )
    assert verdict.status == "pass"


def test_every_policy_has_a_case():
    assert {name for name, *_ in CASES} | {name for name, *_ in BOOTSTRAP_CASES} == set(
        RULES_BY_NAME
    )


@pytest.mark.parametrize(("name", "mutation", "message", "extra"), CASES, ids=[c[0] for c in CASES])
def test_policy_passes_compliant_and_fails_violating(production, name, mutation, message, extra):
    rule = RULES_BY_NAME[name]
    config = {**PRODUCTION_CONFIG, name: {**PRODUCTION_CONFIG.get(name, {}), **extra}}
    if name == "rds-non-default-port":
        compliant = _props(RDS, port=6543)(production)
    elif name == "secretsmanager-rotation":
        compliant = _without("aws:secretsmanager/secret:Secret")(production)
    elif name == "scheduler-roles-scoped":
        compliant = _scheduler_role()(production)  # production itself has no schedules
    else:
        compliant = production
    passing = evaluate_rule(rule, compliant, config)
    assert passing.status == "pass", passing.violations
    failing = evaluate_rule(rule, mutation(production), config)
    assert failing.status == "fail"
    assert failing.enforcement == "mandatory"
    assert any(message in v.message for v in failing.violations), failing.violations
    assert all(v.urn for v in failing.violations)


def test_production_passes_every_mandatory_policy(production):
    result = audit(production, PRODUCTION_CONFIG)
    assert result.passed
    assert result.failed() == []
    assert {v.enforcement for v in result.verdicts} == {"mandatory"}


def _documented_failures() -> dict[str, set[str]]:
    text = (REPO / "policy" / "README.md").read_text()
    found = {}
    for stack, names in re.findall(r"^- (dev|sandbox|staging): (.+)$", text, re.MULTILINE):
        found[stack] = {n.strip() for n in names.split(",")}
    return found


@pytest.mark.parametrize("stack", ["dev", "sandbox", "staging"])
def test_dev_and_staging_fail_only_the_documented_advisory_policies(project, plans, stack):
    config = load_policy_config(CONFIG_DIR / f"{stack}.json")
    plan = plans[stack] if stack in plans else evaluate(stack, project_dir=REPO)
    result = audit(plan, config)
    assert result.passed  # advisory failures never block
    assert {v.rule.name for v in result.failed("advisory")} == _documented_failures()[stack]
    assert result.failed("mandatory") == []


def test_readme_documents_the_policies_it_runs():
    for rule in RULES:
        assert rule.description
        assert rule.remediation
    names = [p.name for p in policies()]
    assert len(names) == len(set(names))


def test_each_issue_control_is_mapped():
    controls = {c for rule in RULES for c in rule.controls}
    expected = {
        "Security Hub RDS.3", "CKV_AWS_16", "Security Hub RDS.2", "CKV_AWS_17",
        "Security Hub RDS.5", "CKV_AWS_157", "Security Hub RDS.11", "Security Hub RDS.8",
        "CKV_AWS_293", "Security Hub RDS.10", "CKV_AWS_161", "CKV_AWS_353", "CKV_AWS_354",
        "Security Hub RDS.6", "CKV_AWS_118", "Security Hub RDS.36", "Security Hub RDS.13",
        "Security Hub RDS.17", "Security Hub RDS.23", "Security Hub RDS.25",
        "Security Hub ElastiCache.4", "Security Hub ElastiCache.5", "Security Hub ElastiCache.6",
        "Security Hub ElastiCache.3", "Security Hub ElastiCache.1", "Security Hub ElastiCache.7",
        "CKV_AWS_191", "Security Hub EKS.1", "CKV_AWS_58", "Security Hub EKS.8",
        "Security Hub EKS.2", "CKV_AWS_149", "Security Hub SecretsManager.1",
    }  # fmt: skip
    assert expected <= controls


def test_enforcement_comes_from_config_files_not_code():
    production = load_policy_config(CONFIG_DIR / "production.json")
    staging = load_policy_config(CONFIG_DIR / "staging.json")
    rule = RULES_BY_NAME["rds-multi-az"]
    assert resolve(rule, production)[0] == "mandatory"
    assert resolve(rule, staging)[0] == "advisory"
    assert resolve(rule, {"all": "mandatory", "rds-multi-az": "disabled"})[0] == "disabled"
    assert resolve(RULES_BY_NAME["rds-backup-retention"], production)[1] == {"minimumDays": 30}
    assert resolve(RULES_BY_NAME["rds-backup-retention"], {})[1] == {"minimumDays": 7}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"rds-multi-zone": "mandatory"}', "'rds-multi-zone' is not a policy of this pack"),
        ('{"all": "blocking"}', "all has enforcement level 'blocking'"),
        ('{"rds-backup-retention": {"minDays": 3}}', "rds-backup-retention has no setting minDays"),
        ("{", "not JSON"),
    ],
)
def test_bad_policy_config_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PolicyConfigError, match=re.escape(message)):
        load_policy_config(path)


def test_pack_manifest_points_at_the_project_virtualenv():
    manifest = yaml.safe_load((REPO / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert (REPO / "policy" / manifest["runtime"]["options"]["virtualenv"]).resolve() == (
        REPO / ".venv"
    ).resolve()
    assert (REPO / "policy" / "__main__.py").is_file()


def test_cli_audit_production_passes(capsys):
    assert main(["--project-dir", str(REPO), "audit", "--stack", "production"]) == 0
    out = capsys.readouterr().out
    assert "production PASSES: 0 mandatory and 0 advisory failures" in out
    assert "Security Hub RDS.5, CKV_AWS_157" in out


def test_weakened_production_fails_naming_policy_and_control(scratch, capsys):
    # Production's own stack file cannot say it (its tier refuses it); the same
    # shape as a non-production stack, held to production's policy config, can.
    production = (scratch / "Pulumi.production.yaml").read_text()
    (scratch / "Pulumi.sandbox.yaml").write_text(
        production.replace("stagecraft:tier: production", "stagecraft:tier: non-production")
        .replace("vpcCidr: 10.30.0.0/16", "vpcCidr: 10.40.0.0/16")
        .replace("stagecraft:namespace: production", "stagecraft:namespace: sandbox")
    )
    edit_stack(
        scratch,
        "sandbox",
        # Only production exports its data (the tier rule refuses it elsewhere).
        **{
            "stagecraft:dbMultiAz": False,
            "stagecraft:dbBackupRetentionDays": 1,
            "stagecraft:dataExport": False,
            "stagecraft:dataExportReaderRoleArns": [],
        },
    )
    project = scratch
    args = [
        "--project-dir",
        str(project),
        "audit",
        "--stack",
        "sandbox",
        "--policy-config",
        str(CONFIG_DIR / "production.json"),
    ]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert re.search(r"rds-multi-az\s+│ Security Hub RDS\.5, CKV_AWS_157 .*FAIL", out)
    assert re.search(r"rds-backup-retention\s+│ Security Hub RDS\.11 .*FAIL", out)
    assert "sandbox FAILS: 2 mandatory" in out
    assert main([*args, "--format", "json"]) == 1
    import json

    document = json.loads(capsys.readouterr().out)
    failed = {v["policy"]: v for v in document["stacks"][0]["verdicts"] if v["status"] == "fail"}
    assert set(failed) == {"rds-multi-az", "rds-backup-retention"}
    assert failed["rds-multi-az"]["securityHub"] == "RDS.5"
    assert failed["rds-backup-retention"]["securityHub"] == "RDS.11"


def test_markdown_audit_for_the_pr_comment(capsys):
    assert main(["--project-dir", str(REPO), "audit", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### stagecraft: policy audit")
    assert "**production** passes every mandatory policy" in out
    assert "| rds-multi-az | Security Hub RDS.5, CKV_AWS_157 | high | advisory | ❌ fail |" in out


def test_a_verdict_under_a_weaker_threshold_than_the_controls_says_so(dev, production):
    # dev keeps 1 day of backups; Security Hub RDS.11 asks for 7 by default.
    weak = evaluate_rule(
        RULES_BY_NAME["rds-backup-retention"], dev, load_policy_config(CONFIG_DIR / "dev.json")
    )
    assert weak.status == "pass"
    assert weak.weaker_than_control
    assert [str(t) for t in weak.thresholds] == ["minimumDays 1 (weaker than the control's 7)"]
    strong = evaluate_rule(RULES_BY_NAME["rds-backup-retention"], production, PRODUCTION_CONFIG)
    assert [str(t) for t in strong.thresholds] == ["minimumDays 30"]
    assert not strong.weaker_than_control
    # A public endpoint limited to CIDRs passes dev's config, not EKS.1's own rule.
    endpoint = evaluate_rule(
        RULES_BY_NAME["eks-endpoint-restricted"], dev, load_policy_config(CONFIG_DIR / "dev.json")
    )
    assert endpoint.status == "pass"
    assert endpoint.weaker_than_control
    held_to_the_control = evaluate_rule(
        RULES_BY_NAME["eks-endpoint-restricted"], dev, PRODUCTION_CONFIG
    )
    assert held_to_the_control.status == "fail"


def test_every_tls_policy_the_config_accepts_passes_the_pack():
    from infra.config import ALB_TLS_POLICIES
    from policy.rules import TLS12_LISTENER_POLICIES

    assert set(ALB_TLS_POLICIES) <= TLS12_LISTENER_POLICIES


def test_alarms_are_judged_at_a_first_preview_whose_ids_are_unknown(production):
    """NAT gateway and Auto Scaling group ids exist only once they do: at a first
    preview the engine hands the policy an unknown there, which must not stop the
    rule (pulumi_policy would skip it as "could not run")."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    def unknown_ids(resource: PlannedResource) -> PlannedResource:
        inputs = copy.deepcopy(resource.inputs)
        if "NatGatewayId" in (inputs.get("dimensions") or {}):
            inputs["dimensions"]["NatGatewayId"] = UNKNOWN_STRING_VALUE
        for query in inputs.get("metricQueries") or []:
            if "AutoScalingGroupName" in ((query.get("metric") or {}).get("dimensions") or {}):
                query["metric"]["dimensions"]["AutoScalingGroupName"] = UNKNOWN_STRING_VALUE
        return dataclasses.replace(resource, inputs=inputs)

    first_preview = _edit(ALARM, unknown_ids)(production)
    rule = RULES_BY_NAME["stateful-resources-alarmed"]
    verdict = evaluate_rule(rule, first_preview, PRODUCTION_CONFIG)
    assert verdict.status == "pass", verdict.violations
    broken = _without_one(ALARM, "-database-free-storage")(first_preview)
    failing = evaluate_rule(rule, broken, PRODUCTION_CONFIG)
    assert [v.message for v in failing.violations] == [
        "database stagecraft-production: no alarm on FreeStorageSpace"
    ]


def test_a_copy_to_a_vault_not_yet_created_is_judged_by_the_vaults_region(production):
    """At a first preview the copy vault's ARN is unknown: the copy counts as going to
    another region when a vault of the plan's stack lives there (its provider's region)."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    def unknown_destination(resource: PlannedResource) -> PlannedResource:
        inputs = copy.deepcopy(resource.inputs)
        for rule in inputs["rules"]:
            for action in rule.get("copyActions") or []:
                action["destinationVaultArn"] = UNKNOWN_STRING_VALUE
        return dataclasses.replace(resource, inputs=inputs)

    first_preview = _edit(BACKUP_PLAN, unknown_destination)(production)
    rule = RULES_BY_NAME["backups-copied-and-locked"]
    assert evaluate_rule(rule, first_preview, PRODUCTION_CONFIG).status == "pass"
    # With no vault outside the stack's region, the same copy goes nowhere safe.
    same_region = _without_one(BACKUP_VAULT, "-copy-vault")(first_preview)
    failing = evaluate_rule(rule, same_region, PRODUCTION_CONFIG)
    assert "rule daily copies to no vault in another region" in [
        v.message.split(": ", 1)[1] for v in failing.violations
    ]
