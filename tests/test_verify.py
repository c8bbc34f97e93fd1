"""`stagecraft verify` against moto on loopback: the account as `pulumi up` leaves it, then
one change at a time through the AWS APIs, each reported with resource, field and values.

Where moto cannot represent a change, the test says so instead of faking it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.config import StackConfig
from stagecraft.cli.main import main
from stagecraft.offline.engine import Plan
from stagecraft.verify import Account, VerifyError, _auto_named, verify
from tests.conftest import ACCOUNT, REPO, moto_server, stack_config

REGION = "us-east-1"  # the shipped stacks' region


def _client(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(service, region_name=REGION)


def _tags(config: StackConfig) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in config.default_tags.items()]


def _auto(name: str) -> str:
    """What Pulumi's auto-naming makes of a logical name."""
    return f"{name}-1a2b3c4"


def provision(
    plan: Plan, config: StackConfig, *, cache_changes: dict[str, Any] | None = None
) -> dict[str, str]:
    """Create, through the AWS APIs, what `pulumi up` of ``plan`` leaves in the account
    (``cache_changes``: the replication group made otherwise, for what moto cannot modify)."""
    tags = _tags(config)
    tag_map = dict(config.default_tags)
    kms, rds, cache = _client("kms"), _client("rds"), _client("elasticache")
    eks, ec2, secrets, logs = (
        _client("eks"),
        _client("ec2"),
        _client("secretsmanager"),
        _client("logs"),
    )
    (alias,) = [
        a
        for a in plan.of_type("aws:kms/alias:Alias")
        if a.inputs["name"] == f"alias/{plan.project}-{plan.stack}"
    ]
    key = kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tag_map.items()])
    key_id, key_arn = key["KeyMetadata"]["KeyId"], key["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=alias.inputs["name"], TargetKeyId=key_id)
    kms.enable_key_rotation(KeyId=key_id)

    vpc = ec2.create_vpc(
        CidrBlock=config.network.vpc_cidr,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}],
    )["Vpc"]["VpcId"]
    # The program adopts the VPC's default group and empties it.
    (default,) = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    for rule in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [default["GroupId"]]}]
    )["SecurityGroupRules"]:
        revoke = (
            "revoke_security_group_egress"
            if rule["IsEgress"]
            else ("revoke_security_group_ingress")
        )
        getattr(ec2, revoke)(
            GroupId=default["GroupId"], SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
        )
    eks_group = ec2.create_security_group(
        GroupName="eks-cluster-sg", Description="made by EKS", VpcId=vpc
    )["GroupId"]
    # EKS's own rule on its group: the cluster's members reach each other.
    ec2.authorize_security_group_ingress(
        GroupId=eks_group,
        IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": eks_group}]}],
    )
    ids = {plan.outputs["nodeSecurityGroupId"]: eks_group}
    for group in plan.of_type("aws:ec2/securityGroup:SecurityGroup"):
        ids[group.id] = ec2.create_security_group(
            GroupName=_auto(group.name),
            Description=group.inputs["description"],
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
    for rule in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        group_id = ids[rule.inputs["securityGroupId"]]
        source = (
            {"IpRanges": [{"CidrIp": rule.inputs["cidrIpv4"]}]}
            if rule.inputs.get("cidrIpv4")
            # The nodes' group (EKS makes it), or a group of the plan (the bastion's).
            else {"UserIdGroupPairs": [{"GroupId": ids[rule.inputs["referencedSecurityGroupId"]]}]}
        )
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {"IpProtocol": rule.inputs["ipProtocol"], "FromPort": rule.inputs["fromPort"],
                 "ToPort": rule.inputs["toPort"], **source}
            ],
        )  # fmt: skip
    groups = {}
    for group in plan.of_type("aws:rds/parameterGroup:ParameterGroup"):
        name = _auto(group.name)
        rds.create_db_parameter_group(
            DBParameterGroupName=name,
            DBParameterGroupFamily=group.inputs["family"],
            Description=group.inputs["description"],
            Tags=tags,
        )
        rds.modify_db_parameter_group(
            DBParameterGroupName=name,
            Parameters=[
                {"ParameterName": p["name"], "ParameterValue": p["value"],
                 "ApplyMethod": p["applyMethod"]}
                for p in group.inputs["parameters"]
            ],
        )  # fmt: skip
        groups[group.name] = name
    instances = plan.of_type("aws:rds/instance:Instance")
    for db in [d for d in instances if "replicateSourceDb" not in d.inputs]:
        i = db.inputs
        rds.create_db_instance(
            DBInstanceIdentifier=i["identifier"],
            DBInstanceClass=i["instanceClass"],
            Engine="postgres",
            EngineVersion=i["engineVersion"],
            AllocatedStorage=i["allocatedStorage"],
            MaxAllocatedStorage=i["maxAllocatedStorage"],
            StorageType=i["storageType"],
            StorageEncrypted=i["storageEncrypted"],
            KmsKeyId=key_arn,
            MultiAZ=i["multiAz"],
            BackupRetentionPeriod=i["backupRetentionPeriod"],
            DeletionProtection=i["deletionProtection"],
            PubliclyAccessible=i.get("publiclyAccessible", False),
            EnableIAMDatabaseAuthentication=i["iamDatabaseAuthenticationEnabled"],
            EnableCloudwatchLogsExports=i["enabledCloudwatchLogsExports"],
            VpcSecurityGroupIds=[ids[g] for g in i["vpcSecurityGroupIds"]],
            DBParameterGroupName=next(
                live
                for planned, live in groups.items()
                if _auto_named(planned, i["parameterGroupName"])
            ),
            MasterUsername=i["username"],
            MasterUserPassword="not-a-real-password-0",
            Tags=tags,
        )
    for replica in [d for d in instances if "replicateSourceDb" in d.inputs]:
        rds.create_db_instance_read_replica(
            DBInstanceIdentifier=replica.inputs["identifier"],
            SourceDBInstanceIdentifier=replica.inputs["replicateSourceDb"],
            DBInstanceClass=replica.inputs["instanceClass"],
            EnableCloudwatchLogsExports=replica.inputs["enabledCloudwatchLogsExports"],
            Tags=tags,
        )
    for group in plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        i = group.inputs
        settings = {
            "ReplicationGroupId": i["replicationGroupId"],
            "ReplicationGroupDescription": i["description"],
            "Engine": "redis",
            "CacheNodeType": i["nodeType"],
            "NumCacheClusters": i["numCacheClusters"],
            "AutomaticFailoverEnabled": i["automaticFailoverEnabled"],
            "MultiAZEnabled": i["multiAzEnabled"],
            "AtRestEncryptionEnabled": i["atRestEncryptionEnabled"],
            "TransitEncryptionEnabled": i["transitEncryptionEnabled"],
            "KmsKeyId": key_arn,
            "UserGroupIds": i["userGroupIds"],
            "Tags": tags,
        }
        cache.create_replication_group(**{**settings, **(cache_changes or {})})
    (cluster,) = plan.of_type("aws:eks/cluster:Cluster")
    c = cluster.inputs
    eks.create_cluster(
        name=c["name"],
        version=c["version"],
        roleArn="arn:aws:iam::123456789012:role/cluster",
        resourcesVpcConfig={
            "subnetIds": ["subnet-1"],
            # moto gives a cluster no group of its own: the listed one stands in.
            "securityGroupIds": [eks_group],
            "endpointPublicAccess": c["vpcConfig"]["endpointPublicAccess"],
            "endpointPrivateAccess": True,
            **({"publicAccessCidrs": c["vpcConfig"]["publicAccessCidrs"]}
               if c["vpcConfig"].get("publicAccessCidrs") else {}),
        },
        logging={"clusterLogging": [{"types": c["enabledClusterLogTypes"], "enabled": True}]},
        encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key_arn}}],
        tags=tag_map,
    )  # fmt: skip
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        eks.create_nodegroup(
            clusterName=c["name"],
            nodegroupName=_auto(group.name),
            scalingConfig=group.inputs["scalingConfig"],
            subnets=["subnet-1"],
            nodeRole="arn:aws:iam::123456789012:role/nodes",
            instanceTypes=group.inputs["instanceTypes"],
            tags=tag_map,
        )
    route53, acm = _client("route53"), _client("acm")
    for zone in plan.of_type("aws:route53/zone:Zone"):
        created = route53.create_hosted_zone(Name=zone.inputs["name"], CallerReference=zone.name)
        route53.change_tags_for_resource(
            ResourceType="hostedzone",
            ResourceId=created["HostedZone"]["Id"].rsplit("/", 1)[-1],
            AddTags=tags,
        )
    for certificate in plan.of_type("aws:acm/certificate:Certificate"):
        acm.request_certificate(
            DomainName=certificate.inputs["domainName"],
            SubjectAlternativeNames=certificate.inputs["subjectAlternativeNames"],
            ValidationMethod="DNS",
            Tags=tags,
        )
    for secret in plan.of_type("aws:secretsmanager/secret:Secret"):
        secrets.create_secret(
            Name=secret.inputs["name"], KmsKeyId=key_arn, SecretString="x", Tags=tags
        )
    for group in plan.of_type("aws:cloudwatch/logGroup:LogGroup"):
        logs.create_log_group(logGroupName=group.inputs["name"], kmsKeyId=key_arn, tags=tag_map)
        logs.put_retention_policy(
            logGroupName=group.inputs["name"], retentionInDays=group.inputs["retentionInDays"]
        )
    s3, sns, cloudwatch = _client("s3"), _client("sns"), _client("cloudwatch")
    for bucket in plan.of_type("aws:s3/bucket:Bucket"):
        s3.create_bucket(Bucket=bucket.inputs["bucket"])
        s3.put_public_access_block(
            Bucket=bucket.inputs["bucket"],
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
            },
        )  # fmt: skip
    for topic in plan.of_type("aws:sns/topic:Topic"):
        sns.create_topic(Name=topic.inputs["name"], Attributes={"KmsMasterKeyId": key_arn})
    for alarm in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        a = alarm.inputs
        common = {
            "AlarmName": a["name"], "AlarmDescription": a["alarmDescription"],
            "ActionsEnabled": True, "AlarmActions": a["alarmActions"],
            "OKActions": a["okActions"], "EvaluationPeriods": a["evaluationPeriods"],
            "Threshold": a["threshold"], "ComparisonOperator": a["comparisonOperator"],
            "TreatMissingData": a["treatMissingData"],
        }  # fmt: skip
        if "metricQueries" in a:
            queries = [
                {"Id": q["id"], "Expression": q["expression"], "ReturnData": True}
                if "expression" in q else
                {"Id": q["id"], "ReturnData": False, "MetricStat": {
                    "Metric": {"Namespace": q["metric"]["namespace"],
                               "MetricName": q["metric"]["metricName"],
                               "Dimensions": [{"Name": k, "Value": v} for k, v
                                              in q["metric"]["dimensions"].items()]},
                    "Period": q["metric"]["period"], "Stat": q["metric"]["stat"]}}
                for q in a["metricQueries"]
            ]  # fmt: skip
            cloudwatch.put_metric_alarm(**common, Metrics=queries)
        else:
            cloudwatch.put_metric_alarm(
                **common, Namespace=a["namespace"], MetricName=a["metricName"],
                Dimensions=[{"Name": k, "Value": v} for k, v in a["dimensions"].items()],
                Statistic=a["statistic"], Period=a["period"],
            )  # fmt: skip
    cloudtrail = _client("cloudtrail")
    for trail in plan.of_type("aws:cloudtrail/trail:Trail"):
        t = trail.inputs
        cloudtrail.create_trail(
            Name=t["name"], S3BucketName=t["s3BucketName"], S3KeyPrefix=t["s3KeyPrefix"],
            IsMultiRegionTrail=t["isMultiRegionTrail"], KmsKeyId=key_arn,
            EnableLogFileValidation=t["enableLogFileValidation"],
        )  # fmt: skip
        cloudtrail.put_event_selectors(
            TrailName=t["name"],
            EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
        )
        cloudtrail.start_logging(Name=t["name"])
    return {"vpc": vpc, "key": key_arn, "eks_group": eks_group,
            **{f"sg:{k}": v for k, v in ids.items()}}  # fmt: skip


def _verify(plan: Plan, config: StackConfig, **options: Any) -> Any:
    return verify(
        plan,
        region=config.region,
        environment_tags=config.default_tags,
        prefix=config.resource_prefix,
        production=config.tier.tier == "production",
        **options,
    )


def _drift(result: Any) -> list[tuple[str, str, str, Any, Any]]:
    return [(f.kind, f.resource, f.field, f.expected, f.actual) for f in result.drift]


@pytest.fixture
def staging_config(project: Any) -> StackConfig:
    return stack_config(project, "staging")


@pytest.fixture
def staging_account(aws_on_moto: Any, staging: Plan, staging_config: StackConfig) -> dict[str, str]:
    return provision(staging, staging_config)


def test_an_account_as_pulumi_up_left_it_has_no_drift(staging, staging_config, staging_account):
    result = _verify(staging, staging_config)
    assert _drift(result) == []
    assert result.checked >= 12  # key, database, cache, cluster, node group, groups, ...
    assert result.exit_code(strict=True) == 0


def test_the_cli_says_so_on_a_matching_account(staging_account, capsys):
    code = main(["--project-dir", str(REPO), "verify", "--stack", "staging", "--strict"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "staging (us-east-1):" in out
    assert ", 0 differences" in out


def test_shortened_backup_retention_is_drift_with_its_policy(
    staging, staging_config, staging_account, capsys
):
    _client("rds").modify_db_instance(
        DBInstanceIdentifier="stagecraft-staging", BackupRetentionPeriod=1, ApplyImmediately=True
    )
    result = _verify(staging, staging_config)
    assert _drift(result) == [("drift", "stagecraft-staging", "BackupRetentionPeriod", 7, 1)]
    (finding,) = result.drift
    assert finding.policy == "rds-backup-retention"
    assert "Security Hub RDS.11" in finding.controls
    # Outside production drift is reported, and fails only with --strict.
    assert result.exit_code(strict=False) == 0
    assert result.exit_code(strict=True) == 1
    code = main(["--project-dir", str(REPO), "verify", "--stack", "staging", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["drift"] == 1
    assert document["findings"][0] | {"controls": []} == {
        "kind": "drift",
        "resource": "stagecraft-staging",
        "type": "aws:rds/instance:Instance",
        "field": "BackupRetentionPeriod",
        "expected": 7,
        "actual": 1,
        "policy": "rds-backup-retention",
        "controls": [],
        "note": "",
    }


def test_an_ingress_rule_opened_to_the_world_is_drift(staging, staging_config, staging_account):
    (planned,) = [
        g for g in staging.of_type("aws:ec2/securityGroup:SecurityGroup")
        if g.name.endswith("-database")
    ]  # fmt: skip
    database_group = staging_account[f"sg:{planned.id}"]
    _client("ec2").authorize_security_group_ingress(
        GroupId=database_group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )  # fmt: skip
    (finding,) = _verify(staging, staging_config).drift
    assert finding.resource.startswith("stagecraft-staging-database-")
    assert (finding.field, finding.expected, finding.actual) == (
        "ingress",
        "not in the plan",
        "tcp 5432-5432 from 0.0.0.0/0",
    )
    assert finding.policy == "no-open-data-ports"


def test_key_rotation_turned_off_and_log_retention_shortened(
    staging, staging_config, staging_account
):
    _client("kms").disable_key_rotation(KeyId=staging_account["key"])
    _client("logs").put_retention_policy(
        logGroupName="/aws/eks/stagecraft-staging/cluster", retentionInDays=1
    )
    assert _drift(_verify(staging, staging_config)) == [
        ("drift", "/aws/eks/stagecraft-staging/cluster", "retentionInDays", 90, 1),
        ("drift", "alias/stagecraft-staging", "KeyRotationEnabled", True, False),
    ]


def test_a_public_endpoint_opened_to_everyone(staging, staging_config, staging_account):
    _client("eks").update_cluster_config(
        name="stagecraft-staging",
        # moto replaces the whole config (AWS merges): the rest stays as it was.
        resourcesVpcConfig={
            "securityGroupIds": [staging_account["eks_group"]],
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
    )
    assert _drift(_verify(staging, staging_config)) == [
        (
            "drift",
            "stagecraft-staging",
            "publicAccessCidrs",
            staging.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]["publicAccessCidrs"],
            ["0.0.0.0/0"],
        )
    ]


def test_the_autoscalers_node_count_is_expected_not_drift(staging, staging_config, staging_account):
    eks = _client("eks")
    (name,) = [
        n
        for n in eks.list_nodegroups(clusterName="stagecraft-staging")["nodegroups"]
        if "spot" not in n
    ]
    eks.update_nodegroup_config(
        clusterName="stagecraft-staging", nodegroupName=name, scalingConfig={"desiredSize": 4}
    )
    result = _verify(staging, staging_config)
    assert result.drift == []
    (expected,) = [f for f in result.findings if f.kind == "expected"]
    assert (expected.field, expected.expected, expected.actual) == ("desiredSize", 2, 4)
    assert "Cluster Autoscaler" in expected.note


def test_unmanaged_databases_tagged_or_only_named_like_the_stacks(
    staging, staging_config, staging_account
):
    rds = _client("rds")
    common = {"DBInstanceClass": "db.t3.micro", "Engine": "postgres", "AllocatedStorage": 20,
              "MasterUsername": "someone", "MasterUserPassword": "not-a-real-password"}  # fmt: skip
    rds.create_db_instance(DBInstanceIdentifier="stagecraft-staging-copy", **common)  # untagged
    rds.create_db_instance(DBInstanceIdentifier="reporting", Tags=_tags(staging_config), **common)
    rds.create_db_instance(DBInstanceIdentifier="someone-elses", **common)  # not ours at all
    unmanaged = sorted(f.resource for f in _verify(staging, staging_config).drift)
    assert unmanaged == [
        "arn:aws:rds:us-east-1:123456789012:db:reporting",
        "arn:aws:rds:us-east-1:123456789012:db:stagecraft-staging-copy",
    ]


def test_a_deleted_database_is_missing(staging, staging_config, staging_account):
    _client("rds").delete_db_instance(
        DBInstanceIdentifier="stagecraft-staging", SkipFinalSnapshot=True
    )
    findings = _verify(staging, staging_config).drift
    assert ("missing", "stagecraft-staging", "aws:rds/instance:Instance") in [
        (f.kind, f.resource, f.type) for f in findings
    ]


def test_a_cache_without_transit_encryption(aws_on_moto, staging, staging_config):
    # moto accepts modify_replication_group(TransitEncryptionEnabled=False) and
    # changes nothing, so this account is built with it off instead.
    provision(staging, staging_config, cache_changes={"TransitEncryptionEnabled": False})
    (finding,) = _verify(staging, staging_config).drift
    assert (finding.resource, finding.field, finding.expected, finding.actual) == (
        "stagecraft-staging",
        "TransitEncryptionEnabled",
        True,
        False,
    )
    assert finding.policy == "elasticache-encryption-in-transit"


def test_moto_cannot_turn_transit_encryption_off_in_place(aws_on_moto, staging, staging_config):
    # Why the test above builds the account instead: if moto learns it, change that test.
    provision(staging, staging_config)
    cache = _client("elasticache")
    cache.modify_replication_group(
        ReplicationGroupId="stagecraft-staging",
        TransitEncryptionEnabled=False,
        ApplyImmediately=True,
    )
    described = cache.describe_replication_groups(ReplicationGroupId="stagecraft-staging")
    assert described["ReplicationGroups"][0]["TransitEncryptionEnabled"] is True


# --------------------------------------------------------------------------- #
# Production: Multi-AZ, replicas, the exit code
# --------------------------------------------------------------------------- #


@pytest.fixture
def production_config(project: Any) -> StackConfig:
    return stack_config(project, "production")


@pytest.fixture
def production_account(
    aws_on_moto: Any, production: Plan, production_config: StackConfig
) -> dict[str, str]:
    return provision(production, production_config)


# moto makes one member cluster whatever NumCacheClusters asks (2 in
# production): its node count cannot be checked here.
MOTO_CACHE_MEMBERS = ("drift", "stagecraft-production", "nodes", 2, 1)


def test_production_as_planned_has_only_motos_cache_limit(
    production, production_config, production_account
):
    assert _drift(_verify(production, production_config)) == [MOTO_CACHE_MEMBERS]


def test_production_without_drift_exits_0(aws_on_moto, production, production_config):
    import dataclasses

    # The plan with the one cache member moto can build, so nothing differs.
    plan = dataclasses.replace(
        production,
        resources=[
            dataclasses.replace(r, inputs={**r.inputs, "numCacheClusters": 1})
            if r.type == "aws:elasticache/replicationGroup:ReplicationGroup"
            else r
            for r in production.resources
        ],
    )
    provision(plan, production_config)
    result = _verify(plan, production_config)
    assert _drift(result) == []
    assert result.exit_code(strict=False) == 0


def test_multi_az_off_and_a_replica_deleted_fail_production(
    production, production_config, production_account, capsys
):
    rds = _client("rds")
    rds.modify_db_instance(
        DBInstanceIdentifier="stagecraft-production", MultiAZ=False, ApplyImmediately=True
    )
    rds.modify_db_instance(
        DBInstanceIdentifier="stagecraft-production-replica-1",
        DeletionProtection=False,
        ApplyImmediately=True,
    )
    rds.delete_db_instance(
        DBInstanceIdentifier="stagecraft-production-replica-1", SkipFinalSnapshot=True
    )
    result = _verify(production, production_config)
    drift = [d for d in _drift(result) if d != MOTO_CACHE_MEMBERS]
    assert drift == [
        ("missing", "stagecraft-production-replica-1", "", None, None),
        ("drift", "stagecraft-production", "MultiAZ", True, False),
    ]
    assert result.exit_code(strict=False) == 1  # production fails without --strict
    code = main(["--project-dir", str(REPO), "verify", "--stack", "production", "--format",
                 "markdown"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "| drift | `stagecraft-production` | `aws:rds/instance:Instance` | MultiAZ | true | "
        "false | `rds-multi-az` (Security Hub RDS.5, CKV_AWS_157) |"
    ) in out


# --------------------------------------------------------------------------- #
# When the account cannot be read: a distinct exit, never "no drift"
# --------------------------------------------------------------------------- #


def test_no_credentials_is_not_a_pass(monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    code = main(["--project-dir", str(REPO), "verify", "--stack", "staging"])
    captured = capsys.readouterr()
    assert code == 3
    assert "error: staging: not verified: no AWS credentials found" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.fixture(scope="module")
def moto_with_iam() -> Iterator[str]:
    """A second moto server that checks every request's credentials, as IAM does."""
    with moto_server(INITIAL_NO_AUTH_ACTION_COUNT="0") as endpoint:
        yield endpoint


def test_credentials_the_account_refuses_give_exit_3(moto_with_iam, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_with_iam)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-key-this-account-knows")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    code = main(["--project-dir", str(REPO), "verify", "--stack", "production"])
    err = capsys.readouterr().err
    assert code == 3
    assert "error: production: not verified: kms:DescribeKey was refused" in err
    assert "ReadOnlyAccess" in err


def test_a_throttled_call_stops_the_check(aws_on_moto, staging, staging_config):
    from botocore.stub import Stubber

    account = Account(REGION)
    kms = account.client("kms")
    stubber = Stubber(kms)
    stubber.add_client_error("describe_key", service_error_code="ThrottlingException",
                             http_status_code=400)  # fmt: skip
    with stubber, pytest.raises(VerifyError, match="kms:DescribeKey was throttled after retries"):
        verify(
            staging,
            region=REGION,
            environment_tags=staging_config.default_tags,
            prefix=staging_config.resource_prefix,
            production=False,
            account=account,
        )


def test_a_zone_deleted_and_a_certificate_for_other_names(staging, staging_config, staging_account):
    route53, acm = _client("route53"), _client("acm")
    domain = staging.one("aws:route53/zone:Zone").inputs["name"]
    (zone,) = route53.list_hosted_zones_by_name(DNSName=domain, MaxItems="1")["HostedZones"]
    route53.delete_hosted_zone(Id=zone["Id"])
    for summary in acm.list_certificates()["CertificateSummaryList"]:
        acm.delete_certificate(CertificateArn=summary["CertificateArn"])
    acm.request_certificate(DomainName=domain, ValidationMethod="DNS")  # no wildcard
    assert _drift(_verify(staging, staging_config)) == [
        ("missing", domain, "", None, None),
        ("drift", domain, "SubjectAlternativeNames", sorted([domain, f"*.{domain}"]), [domain]),
    ]


def test_a_rule_from_another_group_or_a_prefix_list_is_drift(
    staging, staging_config, staging_account
):
    ec2 = _client("ec2")
    (planned,) = [
        g for g in staging.of_type("aws:ec2/securityGroup:SecurityGroup")
        if g.name.endswith("-database")
    ]  # fmt: skip
    database_group = staging_account[f"sg:{planned.id}"]
    stranger = ec2.create_security_group(
        GroupName="someone-elses", Description="not the cluster", VpcId=staging_account["vpc"]
    )["GroupId"]
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="everyone", AddressFamily="IPv4", MaxEntries=1,
        Entries=[{"Cidr": "0.0.0.0/0"}],
    )["PrefixList"]["PrefixListId"]  # fmt: skip
    ec2.authorize_security_group_ingress(
        GroupId=database_group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "UserIdGroupPairs": [{"GroupId": stranger}]},
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "PrefixListIds": [{"PrefixListId": prefix_list}]},
        ],
    )  # fmt: skip
    extra = sorted(f.actual for f in _verify(staging, staging_config).drift)
    assert extra == [
        f"tcp 5432-5432 from group {stranger}",
        f"tcp 5432-5432 from prefix list {prefix_list}",
    ]


def test_the_database_moved_to_another_security_group(staging, staging_config, staging_account):
    ec2 = _client("ec2")
    open_group = ec2.create_security_group(
        GroupName="wide-open", Description="anyone", VpcId=staging_account["vpc"]
    )["GroupId"]
    _client("rds").modify_db_instance(
        DBInstanceIdentifier="stagecraft-staging",
        VpcSecurityGroupIds=[open_group],
        ApplyImmediately=True,
    )
    (finding,) = _verify(staging, staging_config).drift
    assert (finding.field, finding.actual) == ("VpcSecurityGroups", [open_group])
    assert finding.policy == "no-open-data-ports"


def test_a_disabled_key_and_a_secret_scheduled_for_deletion(
    staging, staging_config, staging_account
):
    _client("kms").disable_key(KeyId=staging_account["key"].rsplit("/", 1)[-1])
    _client("secretsmanager").delete_secret(
        SecretId="stagecraft-staging/jwt-secret", RecoveryWindowInDays=7
    )
    fields = sorted((f.resource, f.field) for f in _verify(staging, staging_config).drift)
    assert fields == [
        ("alias/stagecraft-staging", "KeyState"),
        ("stagecraft-staging/jwt-secret", "DeletedDate"),
    ]


def test_a_secret_older_than_the_age_policy_is_drift(staging, staging_config, staging_account):
    import datetime as dt

    days = staging_config.secrets.secret_rotation_days  # staging rotates monthly
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=days - 1)
    assert _verify(staging, staging_config, max_secret_age_days=days, now=soon).drift == []
    later = soon + dt.timedelta(days=2)
    stale = _verify(staging, staging_config, max_secret_age_days=days, now=later).drift
    names = {f.resource for f in stale}
    planned = {s.inputs["name"] for s in staging.of_type("aws:secretsmanager/secret:Secret")}
    assert names == planned  # every secret, the third-party slots among them
    finding = next(f for f in stale if f.resource == "stagecraft-staging/jwt-secret")
    assert (finding.field, finding.expected) == ("LastChangedDate", f"within {days} days "
                                                 "(secretRotationDays)")  # fmt: skip
    assert finding.note.startswith(f"{days + 1} days old: rotate it by hand")


def test_every_call_verify_makes_is_a_read_the_drift_role_may_make(
    staging, staging_config, staging_account, monkeypatch
):
    from stagecraft.verify import READ_ACTIONS, _action_name

    made: list[str] = []
    original = Account.call

    def recording(self: Account, service: str, operation: str, **kwargs: Any) -> Any:
        made.append(f"{service}:{_action_name(operation)}")
        return original(self, service, operation, **kwargs)

    monkeypatch.setattr(Account, "call", recording)
    _verify(staging, staging_config)
    prefixes = {"resourcegroupstaggingapi": "tag"}
    actions = {
        f"{prefixes.get(call.split(':')[0], call.split(':')[0])}:{call.split(':')[1]}"
        for call in made
    }
    assert actions <= set(READ_ACTIONS), actions - set(READ_ACTIONS)
    assert all(a.split(":")[1].startswith(("Describe", "List", "Get")) for a in actions)


def test_the_vpcs_default_group_opened_again(staging, staging_config, staging_account):
    ec2 = _client("ec2")
    (default,) = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [staging_account["vpc"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    ec2.authorize_security_group_ingress(
        GroupId=default["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )  # fmt: skip
    (finding,) = _verify(staging, staging_config).drift
    assert (finding.field, finding.expected, finding.actual) == (
        "default ingress",
        "no rules",
        "tcp 22-22 from 0.0.0.0/0",
    )
    assert finding.policy == "vpc-default-security-group-closed"


def test_an_alarm_that_notifies_nobody_and_a_bucket_opened_up(
    staging, staging_config, staging_account
):
    cloudwatch, s3 = _client("cloudwatch"), _client("s3")
    cloudwatch.disable_alarm_actions(AlarmNames=["stagecraft-staging-database-cpu"])
    cloudwatch.delete_alarms(AlarmNames=["stagecraft-staging-cache-001-evictions"])
    logs = f"stagecraft-staging-logs-{ACCOUNT}"
    s3.put_public_access_block(
        Bucket=logs,
        PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                        "BlockPublicPolicy": False, "RestrictPublicBuckets": True},
    )  # fmt: skip
    assert _drift(_verify(staging, staging_config)) == [
        ("missing", "stagecraft-staging-cache-001-evictions", "", None, None),
        ("drift", "stagecraft-staging-database-cpu", "ActionsEnabled", True, False),
        ("drift", logs, "BlockPublicPolicy", True, False),
    ]


def test_a_stopped_trail_fails_production(aws_on_moto, production, production_config, capsys):
    provision(production, production_config)
    cloudtrail = _client("cloudtrail")
    cloudtrail.stop_logging(Name="stagecraft-production-trail")
    cloudtrail.put_event_selectors(
        TrailName="stagecraft-production-trail",
        EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}],
    )
    result = _verify(production, production_config)
    assert ("drift", "stagecraft-production-trail", "IsLogging", True, False) in _drift(result)
    narrowed = next(f for f in result.drift if f.field == "EventSelectors")
    assert narrowed.note == "no longer records every management event"
    finding = next(f for f in result.drift if f.field == "IsLogging")
    assert finding.note == "logging is stopped: nothing is recorded"
    assert result.exit_code(strict=False) == 1  # production drift fails the check
