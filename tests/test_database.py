"""Database: RDS PostgreSQL in private subnets, encrypted, nodes-only, backed up."""

from __future__ import annotations

import pytest

from stagecraft.offline.engine import evaluate
from tests.conftest import ACCOUNT, environment_key

INSTANCE = "aws:rds/instance:Instance"
KEY_PREFIX = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/"


def _primary(plan):
    return next(i for i in plan.of_type(INSTANCE) if "replicateSourceDb" not in i.inputs)


def _replicas(plan):
    return [i for i in plan.of_type(INSTANCE) if "replicateSourceDb" in i.inputs]


def test_production_database_matches_the_table(production):
    db = _primary(production).inputs
    assert db["identifier"] == "stagecraft-production"
    assert db["engine"] == "postgres"
    assert db["engineVersion"] == "16"
    assert db["instanceClass"] == "db.m5.large"
    assert db["allocatedStorage"] == 500
    assert db["maxAllocatedStorage"] == 1000
    assert db["storageType"] == "gp3"
    assert db["multiAz"] is True
    assert db["backupRetentionPeriod"] == 30
    assert db["deletionProtection"] is True
    assert db["performanceInsightsEnabled"] is True
    assert db["performanceInsightsKmsKeyId"].startswith(KEY_PREFIX)
    assert db["monitoringInterval"] == 60
    assert db["monitoringRoleArn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")


def test_storage_encrypted_with_the_environment_key(plans):
    for plan in plans.values():
        key = environment_key(plan)
        for instance in plan.of_type(INSTANCE):
            assert instance.inputs["storageEncrypted"] is True
            assert key.urn in instance.dependencies
        assert _primary(plan).inputs["kmsKeyId"].startswith(KEY_PREFIX)


def test_a_same_region_replica_names_no_key_of_its_own(production):
    # It is encrypted with its source's key; naming it again is refused by RDS
    # ("does not require the KMS key parameter") or shows as a change each run.
    (replica,) = _replicas(production)
    assert "kmsKeyId" not in replica.inputs
    assert replica.inputs["storageEncrypted"] is True


def test_never_publicly_accessible_and_in_private_subnets(plans):
    for plan in plans.values():
        for instance in plan.of_type(INSTANCE):
            assert instance.inputs["publiclyAccessible"] is False
        group = plan.one("aws:rds/subnetGroup:SubnetGroup")
        subnets = {s.urn: s for s in plan.of_type("aws:ec2/subnet:Subnet")}
        used = [subnets[d] for d in group.dependencies if d in subnets]
        assert used
        assert all(s.inputs["tags"]["tier"] == "private" for s in used)


def test_master_password_is_generated_secret_and_kept_in_our_own_secret(production):
    # Not RDS-managed: RDS refuses a read replica of an instance whose master
    # password it manages in Secrets Manager.
    db = _primary(production).inputs
    assert "manageMasterUserPassword" not in db
    assert db["password"] == "[secret]"
    assert db["username"] == "stagecraft_admin"
    assert db["iamDatabaseAuthenticationEnabled"] is True
    secret = next(
        s for s in production.of_type("aws:secretsmanager/secret:Secret")
        if s.inputs["name"] == "stagecraft-production/database-master"
    )  # fmt: skip
    assert secret.inputs["kmsKeyId"].startswith(KEY_PREFIX)
    version = next(
        v for v in production.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        if secret.urn in v.dependencies
    )  # fmt: skip
    assert version.inputs["secretString"] == "[secret]"
    assert production.outputs["databaseSecretArn"].startswith(
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:stagecraft-production/database-master-"
    )


def test_security_group_admits_only_the_cluster_nodes(plans):
    for plan in plans.values():
        cluster = plan.one("aws:eks/cluster:Cluster")
        every = [
            r
            for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
            if "database" in r.name
        ]
        # Beside the nodes, only the Session Manager bastion (port forwarding,
        # tests/test_shell_access.py), on the same port, from a group.
        rules = [r for r in every if not r.name.endswith("-database-from-bastion")]
        assert len(rules) == 1
        for other in every:
            assert (other.inputs["fromPort"], other.inputs["toPort"]) == (5432, 5432)
            assert "cidrIpv4" not in other.inputs
        rule = rules[0].inputs
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 5432, 5432)
        assert rule["referencedSecurityGroupId"].startswith("sg-")
        assert "cidrIpv4" not in rule
        assert cluster.urn in rules[0].dependencies  # the cluster's own security group
        group = next(
            g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup") if "database" in g.name
        )
        assert "ingress" not in group.inputs


def test_parameter_group_forces_tls_for_the_engine_major(production):
    group = production.one("aws:rds/parameterGroup:ParameterGroup")
    assert group.inputs["family"] == "postgres16"
    parameters = {p["name"]: p["value"] for p in group.inputs["parameters"]}
    assert parameters["rds.force_ssl"] == "1"


@pytest.mark.parametrize(("stack", "days"), [("dev", 3), ("staging", 7), ("production", 30)])
def test_postgres_logs_exported_to_groups_with_env_retention(plans, stack, days):
    plan = plans[stack]
    for instance in plan.of_type(INSTANCE):
        assert instance.inputs["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
        identifier = instance.inputs["identifier"]
        group = next(
            g
            for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
            if g.inputs["name"] == f"/aws/rds/instance/{identifier}/postgresql"
        )
        assert group.inputs["retentionInDays"] == days
        assert group.urn in instance.dependencies


def test_final_snapshot_has_a_stack_unique_name_where_asked(production, dev):
    db = _primary(production).inputs
    assert db["skipFinalSnapshot"] is False
    assert db["finalSnapshotIdentifier"].startswith("stagecraft-production-final-")
    assert len(db["finalSnapshotIdentifier"]) == len("stagecraft-production-final-") + 8
    dev_db = _primary(dev).inputs
    assert dev_db["skipFinalSnapshot"] is True
    assert dev_db.get("finalSnapshotIdentifier") is None


def test_read_replica_follows_the_primary(production, staging):
    (replica,) = _replicas(production)
    assert replica.inputs["replicateSourceDb"] == "stagecraft-production"
    assert replica.inputs["identifier"] == "stagecraft-production-replica-1"
    assert replica.inputs["instanceClass"] == "db.m5.large"
    assert replica.protect is True
    assert _replicas(staging) == []


def test_backups_and_windows(staging):
    db = _primary(staging).inputs
    assert db["backupRetentionPeriod"] == 7
    assert db["backupWindow"] == "03:00-04:00"
    assert db["maintenanceWindow"] == "sun:04:30-sun:05:30"
    assert db["copyTagsToSnapshot"] is True
    assert db["autoMinorVersionUpgrade"] is True


def test_staging_is_single_az_without_insights(staging):
    db = _primary(staging).inputs
    assert db["multiAz"] is False
    assert db["performanceInsightsEnabled"] is False
    assert db["monitoringInterval"] == 0
    assert _primary(staging).protect is False


def test_major_upgrades_are_possible_and_monitoring_role_is_ready_first(production):
    primary = _primary(production)
    assert primary.inputs["allowMajorVersionUpgrade"] is True
    attachment = next(
        a
        for a in production.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.endswith("AmazonRDSEnhancedMonitoringRole")
    )
    assert attachment.urn in primary.dependencies


def test_final_snapshot_suffix_is_redrawn_by_every_input_that_replaces_the_instance(production):
    from stagecraft.replacements import load

    instance = _primary(production)
    suffix = next(
        r for r in production.of_type("random:index/randomId:RandomId")
        if "final-snapshot" in r.name
    )  # fmt: skip
    replacing = load().of("aws:rds/instance:Instance")
    assert replacing is not None
    set_and_replacing = {key for key in instance.inputs if replacing.forcing(key)}
    assert set_and_replacing  # dbName, engine, kmsKeyId, storageEncrypted, username
    assert set_and_replacing <= set(suffix.inputs["keepers"])


def test_a_replaced_instance_gets_a_final_snapshot_name_of_its_own(scratch):
    from tests.conftest import edit_stack

    before = _primary(evaluate("production", project_dir=scratch)).inputs
    edit_stack(scratch, "production", **{"stagecraft:dbName": "orders"})  # replaces it
    after = _primary(evaluate("production", project_dir=scratch)).inputs
    assert before["finalSnapshotIdentifier"] != after["finalSnapshotIdentifier"]
    assert after["finalSnapshotIdentifier"].startswith("stagecraft-production-final-")


def test_a_replica_keeps_backups_of_its_own_so_a_promoted_one_is_backed_up(production):
    primary, (replica,) = _primary(production).inputs, _replicas(production)
    assert replica.inputs["backupRetentionPeriod"] == primary["backupRetentionPeriod"] == 30
    assert replica.inputs["backupWindow"] == primary["backupWindow"]
    # Its own maintenance window, checked against the backup window: left to
    # RDS, a random one overlapping the backup window fails the create.
    assert replica.inputs["maintenanceWindow"] == primary["maintenanceWindow"]


def test_log_groups_a_service_recreated_after_a_destroy_are_adopted(project):
    # EKS and RDS write their last logs while being deleted, re-creating the
    # groups; the next `pulumi up` under the same names takes them over.
    stray = frozenset(
        {"/aws/eks/stagecraft-staging/cluster", "/aws/rds/instance/stagecraft-staging/postgresql"}
    )
    plan = evaluate("staging", project_dir=project.directory, existing_log_groups=stray)
    imported = {
        g.inputs["name"]: g.import_id for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    }
    assert imported == {
        "/aws/eks/stagecraft-staging/cluster": "/aws/eks/stagecraft-staging/cluster",
        "/aws/rds/instance/stagecraft-staging/postgresql": (
            "/aws/rds/instance/stagecraft-staging/postgresql"
        ),
        "/aws/rds/instance/stagecraft-staging/upgrade": None,
        "/aws/ssm/stagecraft-staging/sessions": None,
    }
    # ... and set their retention and key as if they had created them.
    group = next(
        g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup") if g.import_id is not None
    )
    assert group.inputs["kmsKeyId"].startswith(KEY_PREFIX)
    assert group.inputs["retentionInDays"] in (7, 90)


def test_a_fresh_account_creates_every_log_group(staging):
    assert {g.import_id for g in staging.of_type("aws:cloudwatch/logGroup:LogGroup")} == {None}
