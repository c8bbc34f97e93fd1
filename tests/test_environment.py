"""Cross-cutting: one tagged provider, namespaced components, protection, outputs."""

from __future__ import annotations

import json

import pytest

from stagecraft.offline.engine import STACK_TYPE
from tests.conftest import shipped_value

COMPONENTS = {
    "stagecraft:index:Environment",
    "stagecraft:index:Secrets",
    "stagecraft:index:Network",
    "stagecraft:index:Cluster",
    "stagecraft:index:Database",
    "stagecraft:index:Cache",
    "stagecraft:index:ConnectionInfo",
    "stagecraft:index:Workloads",
    # The add-ons every full environment runs (each turned on in its stack file).
    "stagecraft:index:ClusterAddons",
    "stagecraft:index:ClusterAutoscaler",
    "stagecraft:index:MetricsServer",
    "stagecraft:index:DnsZone",
    "stagecraft:index:LoadBalancerController",
    "stagecraft:index:ExternalDns",
    "stagecraft:index:BlockStorage",
    # Every full environment has its AWS budget.
    "stagecraft:index:Budget",
    # Every shipped environment lists third-party secret slots.
    "stagecraft:index:ThirdPartySecrets",
    # Who may do what: the audience roles, the application's identity and the
    # Job that makes the database's IAM-authenticated roles.
    "stagecraft:index:Access",
    "stagecraft:index:ApplicationIdentity",
    "stagecraft:index:DatabaseJobs",
    # ... and its post-deploy smoke test (smokeTest is on by default).
    "stagecraft:index:SmokeTest",
}
# What a stack's monitoring and alerting config adds (dev turns all of it off).
MONITORING = {
    "stagecraft:index:AccessLogs",
    "stagecraft:index:Monitoring",
    "stagecraft:index:Metrics",
    "stagecraft:index:Logs",
    "stagecraft:index:Traces",
}

STATEFUL = {
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:eks/cluster:Cluster",
    "aws:kms/key:Key",
    "aws:route53/zone:Zone",
    # The audit trail and the buckets it and the telemetry are kept in.
    "aws:s3/bucket:Bucket",
    "aws:cloudtrail/trail:Trail",
    # AWS Backup's vaults (production's, here and in the copy region).
    "aws:backup/vault:Vault",
}


def test_components_are_namespaced_and_each_appears_once(plans):
    for plan in plans.values():
        components = [r.type for r in plan.resources if not r.custom and r.type != STACK_TYPE]
        # Staging's cluster hosts the pull requests' stacks: their deployers' access.
        hosted = ["stagecraft:index:SmallStackAccess"] if plan.stack == "staging" else []
        # Dev and staging host small stacks: their Ingresses are confined.
        if plan.stack in ("dev", "staging"):
            hosted.append("stagecraft:index:SmallStackIngress")
        if plan.stack != "dev":
            hosted += [*MONITORING, "stagecraft:index:Alerting"]
        if plan.stack == "production":
            hosted += ["stagecraft:index:LongTermMetrics", "stagecraft:index:AuditTrail"]
            # The weekly anonymised export (its database role is made by the
            # access-roles' DatabaseJobs, which every environment has).
            hosted += ["stagecraft:index:DataExport"]
            # AWS Backup of the database (awsBackup).
            hosted.append("stagecraft:index:Backup")
        if plan.stack == "staging":
            hosted.append("stagecraft:index:DataImport")
        # Dev shuts down outside working hours.
        if plan.stack == "dev":
            hosted.append("stagecraft:index:OffHours")
        # Each has a Session Manager bastion (the sandbox has none).
        hosted.append("stagecraft:index:SessionManager")
        assert sorted(components) == sorted([*COMPONENTS, *hosted])


def test_every_resource_hangs_below_the_environment(plans):
    for plan in plans.values():
        environment = plan.one("stagecraft:index:Environment")
        below = {r.urn for r in plan.descendants_of(environment.urn)}
        others = {r.urn for r in plan.resources} - below - {environment.urn}
        assert [plan.by_urn(u).type for u in others] == [STACK_TYPE]


@pytest.mark.parametrize(
    ("stack", "owner", "cost_center"),
    [
        ("dev", "platform-team", "engineering"),
        ("staging", "platform-team", "engineering"),
        ("production", "platform-team", "production-ops"),
    ],
)
def test_provider_default_tags_reach_every_aws_resource(plans, stack, owner, cost_center):
    plan = plans[stack]
    providers = plan.of_type("pulumi:providers:aws")
    provider = next(p for p in providers if p.name.endswith("-aws"))
    assert provider.inputs["region"] == "us-east-1"
    assert json.loads(provider.inputs["defaultTags"]) == {
        "tags": {
            "environment": stack,
            "project": "stagecraft",
            "stack": f"stagecraft/{stack}",
            "managed-by": "pulumi",
            "owner": owner,
            "cost-center": cost_center,
        }
    }
    aws_resources = [r for r in plan.resources if r.type.startswith("aws:")]
    assert len(aws_resources) > 40
    # AWS Chatbot's API lives in a few regions only: its one resource has its
    # own provider, with the same account pin and tags.
    chatbot = [r for r in aws_resources if r.type.startswith("aws:chatbot/")]
    # Likewise production's backup copy vault and its key, in the copy region.
    copy_region = [
        r for r in aws_resources if r.name.startswith(f"stagecraft-{stack}-backup-copy-vault")
    ]
    elsewhere = {r.provider for r in chatbot + copy_region}
    assert {r.provider for r in aws_resources if r not in chatbot + copy_region} == {provider.urn}
    assert {p.urn for p in providers if p is not provider} == elsewhere
    for other in providers:
        if other is not provider:
            assert other.inputs["defaultTags"] == provider.inputs["defaultTags"]
            assert other.inputs["allowedAccountIds"] == provider.inputs["allowedAccountIds"]


def test_exactly_the_stateful_resources_are_protected_in_production(production):
    protected = sorted((r.type, r.name) for r in production.resources if r.protect)
    assert {t for t, _ in protected} == STATEFUL
    # primary, replica, cache, cluster, key, DNS zone; the access-log, logs,
    # traces, metrics and trail buckets, and the trail; the data-sync bucket and key;
    # the two backup vaults and their keys
    assert len(protected) == 18


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_nothing_is_protected_outside_production(plans, stack):
    assert [r.name for r in plans[stack].resources if r.protect] == []


def test_stack_outputs(production):
    assert set(production.outputs) == {
        # shell access: what `aws ssm start-session` names (README "Shell access")
        "bastionInstanceId",
        "sessionDocumentName",
        "portForwardingDocumentName",
        "sessionLogGroup",
        "clusterName",
        "clusterEndpoint",
        "kubeconfig",
        "oidcProviderArn",
        "databaseEndpoint",
        "databaseIdentifier",
        "databaseSecretArn",
        "connectionInfoSecretArn",
        # Who may do what: the application's IRSA role, the audiences' roles.
        "applicationRoleArn",
        "audienceRoleArns",
        "redisEndpoint",
        "namespace",
        "vpcId",
        "privateSubnetIds",
        # for the pr-<n> / dev-<name> stacks sharing this cluster
        "oidcIssuerUrl",
        "nodeSecurityGroupId",
        "databaseAddress",
        "databasePort",
        "redisPort",
        "redisUserGroupId",
        "kmsKeyArn",
        "vpcCidr",
        "region",
        "ingressSourceCidrs",
        # where applications are reached
        "domain",
        "url",
        "zoneId",
        "nameServers",
        "certificateArn",
        "ingressClass",
        "ingressGroup",
        # monitoring, alerting and the audit trail
        "accessLogBucket",
        "monitoringNamespace",
        "grafanaAdminSecretArn",
        "logsBucket",
        "tracesBucket",
        "metricsBucket",
        "alertTopicArn",
        "trailArn",
        # cost controls
        "budgetName",
        # the weekly anonymised copy: what staging's stack file names
        "dataSyncBucket",
        "dataSyncKmsKeyArn",
        "dataExportRoleArn",
        # where an operator puts the third-party values, and who reads them
        "thirdPartySecretArns",
        "thirdPartySecretsReaderRoleArn",
        # what `stagecraft smoke-test` starts a run from
        "smokeTestCronJob",
        # AWS Backup: where the backups are, and the restore test
        "backupVaultName",
        "backupCopyVaultArn",
        "backupPlanId",
        "restoreTestingPlanName",
    }
    assert production.outputs["url"] == (
        f"https://{shipped_value('stagecraft:domain', 'production')}"
    )
    assert production.outputs["clusterName"] == "stagecraft-production"
    assert production.outputs["clusterEndpoint"].endswith(".gr7.us-east-1.eks.amazonaws.com")
    assert production.outputs["databaseEndpoint"].startswith("stagecraft-production.")
    assert production.outputs["databaseEndpoint"].endswith(".us-east-1.rds.amazonaws.com:5432")
    assert production.outputs["redisEndpoint"].startswith("master.stagecraft-production.")
    assert production.outputs["vpcId"].startswith("vpc-")
    assert len(production.outputs["privateSubnetIds"]) == 3
