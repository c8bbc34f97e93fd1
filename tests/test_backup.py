"""AWS Backup of production's database: what the plan builds, what config refuses, what it costs.

Production's plan (the shipped stack file) is read the way AWS will read it:
the vaults and their keys, the locks, the plan's rule, the selection and its
role, the restore test and the alarms on failed jobs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.components.account.policies import BOUNDARY_SERVICES
from infra.config import ConfigError
from stagecraft.cost import aws_cron_runs_per_year, estimate
from stagecraft.offline.engine import Plan, PlannedResource
from stagecraft.report import backups_row
from tests.conftest import inside, stack_config

BACKUP = "stagecraft:index:Backup"
VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
KEY = "aws:kms/key:Key"
ACCOUNT = "123456789012"


def _backup(plan: Plan, type_token: str) -> list[PlannedResource]:
    return [r for r in inside(plan, BACKUP) if r.type == type_token]


def _one(plan: Plan, type_token: str) -> PlannedResource:
    (found,) = _backup(plan, type_token)
    return found


def _region_of(plan: Plan, resource: PlannedResource) -> str:
    provider = next(r for r in plan.resources if resource.provider and r.urn == resource.provider)
    return str(provider.inputs["region"])


@pytest.fixture(scope="module")
def role_arn(production: Plan) -> str:
    role = _one(production, "aws:iam/role:Role")
    return f"arn:aws:iam::{ACCOUNT}:role/{role.id}"


def test_only_production_backs_up_with_aws_backup(plans):
    assert _backup(plans["production"], VAULT)
    for stack in ("dev", "staging"):
        assert not plans[stack].of_type("stagecraft:index:Backup"), stack


def test_two_vaults_one_per_region_each_with_its_own_key(production):
    vaults = {v.inputs["name"]: v for v in _backup(production, VAULT)}
    assert set(vaults) == {"stagecraft-production-backups", "stagecraft-production-backups-copy"}
    assert _region_of(production, vaults["stagecraft-production-backups"]) == "us-east-1"
    assert _region_of(production, vaults["stagecraft-production-backups-copy"]) == "us-west-2"
    keys = {k.urn: k for k in _backup(production, KEY)}
    assert len(keys) == 2
    for vault in vaults.values():
        assert vault.protect
        assert vault.inputs["forceDestroy"] is False
        described = f"AWS Backup vault {vault.inputs['name']} "
        key = next(k for k in keys.values() if k.inputs["description"].startswith(described))
        # The vault's key is the key of its own region (a key cannot cross regions).
        assert vault.inputs["kmsKeyArn"].startswith(
            f"arn:aws:kms:{_region_of(production, vault)}:{ACCOUNT}:key/"
        )
        assert _region_of(production, key) == _region_of(production, vault)
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["deletionWindowInDays"] == 30
        assert key.protect


def test_the_copy_regions_provider_is_pinned_like_the_environments(production):
    (copy,) = _backup(production, "pulumi:providers:aws")
    home = next(p for p in production.of_type("pulumi:providers:aws") if p.name.endswith("-aws"))
    assert copy.inputs["region"] == "us-west-2"
    assert home.inputs["region"] == "us-east-1"
    # Provider inputs arrive JSON-encoded.
    for setting in ("allowedAccountIds", "defaultTags"):
        assert json.loads(copy.inputs[setting]) == json.loads(home.inputs[setting]), setting
    assert json.loads(copy.inputs["allowedAccountIds"]) == [ACCOUNT]


def test_each_vault_key_lets_the_backup_role_use_it_and_grant_it_to_aws_services(
    production, role_arn
):
    for key in _backup(production, KEY):
        statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
        assert statements["AccountAdministersTheKey"]["Principal"] == {
            "AWS": f"arn:aws:iam::{ACCOUNT}:root"
        }
        use = statements["BackupRoleUsesTheKey"]
        assert use["Principal"] == {"AWS": role_arn}
        assert {"kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"} <= set(use["Action"])
        grant = statements["BackupRoleGrantsToAwsServices"]
        assert grant["Action"][0] == "kms:CreateGrant"
        assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_both_vaults_are_locked_in_governance_mode_for_their_retention(production):
    locks = {lock.inputs["backupVaultName"]: lock.inputs for lock in _backup(production, LOCK)}
    assert locks == {
        "stagecraft-production-backups": {
            "backupVaultName": "stagecraft-production-backups",
            "minRetentionDays": 30,
        },
        "stagecraft-production-backups-copy": {
            "backupVaultName": "stagecraft-production-backups-copy",
            "minRetentionDays": 30,
        },
    }


def test_a_compliance_lock_becomes_permanent_after_its_grace_days(project):
    config = stack_config(project, "production", backupVaultLock="compliance",
                          backupVaultLockGraceDays=7)  # fmt: skip
    assert config.backup.backup_vault_lock == "compliance"
    assert config.backup.backup_vault_lock_grace_days == 7


def test_the_plan_snapshots_daily_keeps_30_days_and_copies_to_us_west_2(production):
    (rule,) = _one(production, "aws:backup/plan:Plan").inputs["rules"]
    assert rule["schedule"] == "cron(0 7 * * ? *)"
    assert rule["targetVaultName"] == "stagecraft-production-backups"
    assert rule["lifecycle"] == {"deleteAfter": 30}
    assert rule["enableContinuousBackup"] is False  # RDS keeps point-in-time recovery
    (copy,) = rule["copyActions"]
    assert copy["destinationVaultArn"] == (
        f"arn:aws:backup:us-west-2:{ACCOUNT}:backup-vault:stagecraft-production-backups-copy"
    )
    assert copy["lifecycle"] == {"deleteAfter": 30}


def test_the_selection_is_the_primary_database_backed_up_by_a_bounded_role(production):
    selection = _one(production, "aws:backup/selection:Selection").inputs
    primary = next(
        d for d in production.of_type("aws:rds/instance:Instance")
        if "replicateSourceDb" not in d.inputs
    )  # fmt: skip
    assert selection["resources"] == [f"arn:aws:rds:us-east-1:{ACCOUNT}:db:{primary.id}"]
    role = _one(production, "aws:iam/role:Role").inputs
    trust = json.loads(role["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "backup.amazonaws.com"}]
    assert role["permissionsBoundary"] == (
        f"arn:aws:iam::{ACCOUNT}:policy/stagecraft-production-boundary"
    )
    attachments = _backup(production, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    attached = sorted(a.inputs["policyArn"] for a in attachments)
    assert attached == [
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    ]
    # The boundary lets the role do what the managed policies grant.
    assert {"backup", "backup-storage", "rds", "kms"} <= set(BOUNDARY_SERVICES)


def test_the_restore_test_restores_quarterly_into_a_small_private_scratch_instance(production):
    testing = _one(production, "aws:backup/restoreTestingPlan:RestoreTestingPlan").inputs
    assert testing["name"] == "stagecraft_production_restore_test"
    assert testing["scheduleExpression"] == "cron(0 6 1 1,4,7,10 ? *)"
    selection = testing["recoveryPointSelection"]
    assert selection["algorithm"] == "LATEST_WITHIN_WINDOW"
    assert selection["includeVaults"] == [
        f"arn:aws:backup:us-east-1:{ACCOUNT}:backup-vault:stagecraft-production-backups"
    ]
    chosen = _one(production, "aws:backup/restoreTestingSelection:RestoreTestingSelection").inputs
    assert chosen["restoreTestingPlanName"] == testing["name"]
    assert chosen["protectedResourceType"] == "RDS"
    assert chosen["validationWindowHours"] == 4
    overrides = chosen["restoreMetadataOverrides"]
    assert overrides["dbInstanceClass"] == "db.t4g.medium"
    assert overrides["multiAZ"] == "false"
    # The database's own subnet group and security group: the nodes only, port 5432.
    database = next(
        d for d in production.of_type("aws:rds/instance:Instance")
        if "replicateSourceDb" not in d.inputs
    )  # fmt: skip
    assert overrides["dbSubnetGroupName"] == database.inputs["dbSubnetGroupName"]
    assert json.loads(overrides["vpcSecurityGroupIds"]) == database.inputs["vpcSecurityGroupIds"]
    (group,) = [
        g for g in production.of_type("aws:ec2/securityGroup:SecurityGroup")
        if g.id in database.inputs["vpcSecurityGroupIds"]
    ]  # fmt: skip
    ingress = production.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    rules = [r.inputs for r in ingress if r.inputs.get("securityGroupId") == group.id]
    # The cluster's nodes and the Session Manager bastion, by security group;
    # nothing from an address range.
    assert [(r["fromPort"], r.get("cidrIpv4")) for r in rules] == [(5432, None), (5432, None)]


def test_failed_backup_copy_and_restore_jobs_alarm_to_the_alert_topic(production):
    alarms = {
        a.inputs["name"].removeprefix("stagecraft-production-"): a.inputs
        for a in _backup(production, "aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert {name: a["metricQueries"][0]["expression"] for name, a in alarms.items()} == {
        # Summed over whatever dimensions AWS publishes them under.
        "backup-jobs-failed": 'SELECT SUM(NumberOfBackupJobsFailed) FROM "AWS/Backup"',
        "copy-jobs-failed": 'SELECT SUM(NumberOfCopyJobsFailed) FROM "AWS/Backup"',
        "restore-jobs-failed": 'SELECT SUM(NumberOfRestoreJobsFailed) FROM "AWS/Backup"',
    }
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:stagecraft-production-alerts"
    for alarm in alarms.values():
        assert alarm["metricQueries"][0]["period"] == 3600
        assert alarm["alarmActions"] == [topic]
        assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["treatMissingData"] == "notBreaching"


def test_the_stack_exports_where_the_backups_are(production):
    outputs = production.outputs
    assert outputs["backupVaultName"] == "stagecraft-production-backups"
    assert outputs["backupCopyVaultArn"].startswith("arn:aws:backup:us-west-2:")
    assert outputs["restoreTestingPlanName"] == "stagecraft_production_restore_test"


def _problems(project: Any, stack: str, **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        stack_config(project, stack, **overrides)
    return [str(p) for p in caught.value.problems]


def test_production_must_back_up_copy_elsewhere_and_lock(project):
    assert _problems(project, "production", awsBackup=False, backupSchedule="cron(0 7 * * ? *)",
                     backupRetentionDays=30, backupCopyRegion="", backupCopyRetentionDays=30,
                     backupVaultLock="off", restoreTestingSchedule="cron(0 6 1 1,4,7,10 ? *)") == [
        "stagecraft:awsBackup = false: must be true in production: the seeds ask for backups "
        "kept in a second region and a disaster-recovery test every quarter"
    ]  # fmt: skip
    assert _problems(project, "production", backupCopyRegion="", backupCopyRetentionDays=30) == [
        'stagecraft:backupCopyRegion = "": must name a second region in production: a backup in '
        "the same region is lost with it"
    ]
    assert _problems(project, "production", backupVaultLock="off") == [
        "stagecraft:backupVaultLock = \"off\": must be 'governance' or 'compliance' in "
        "production: nobody deletes a backup before its retention ends"
    ]


def test_the_copy_region_must_be_another_real_region(project):
    assert _problems(project, "production", backupCopyRegion="us-east-1") == [
        'stagecraft:backupCopyRegion = "us-east-1": is the stack\'s own region (us-east-1): the '
        "copy is there for the day that region is lost; name another one, e.g. 'us-west-2'"
    ]
    (problem,) = _problems(project, "production", backupCopyRegion="us-west-9")
    assert problem.startswith('stagecraft:backupCopyRegion = "us-west-9": ')
    assert "is not an AWS region" in problem


def test_backup_keys_are_refused_without_aws_backup(project):
    assert _problems(project, "staging", backupRetentionDays=14, backupVaultLock="compliance") == [
        "stagecraft:backupRetentionDays = 14: applies only with awsBackup: true; set it or "
        "remove this key",
        'stagecraft:backupVaultLock = "compliance": applies only with awsBackup: true; set it '
        "or remove this key",
    ]


def test_bad_schedules_grace_days_and_instance_classes_are_refused(project):
    (schedule,) = _problems(project, "production", restoreTestingSchedule="0 6 1 */3 *")
    assert schedule.startswith('stagecraft:restoreTestingSchedule = "0 6 1 */3 *": must be an '
                               "AWS cron expression with six fields")  # fmt: skip
    (grace,) = _problems(project, "production", backupVaultLock="compliance",
                         backupVaultLockGraceDays=1)  # fmt: skip
    assert grace.startswith("stagecraft:backupVaultLockGraceDays = 1: ")
    assert _problems(project, "production", backupVaultLockGraceDays=10) == [
        "stagecraft:backupVaultLockGraceDays = 10: applies only to a compliance lock "
        "(backupVaultLock: compliance); remove it"
    ]
    (instance,) = _problems(project, "production", restoreTestingInstanceClass="m5.large")
    assert instance.startswith('stagecraft:restoreTestingInstanceClass = "m5.large": ')


def test_aws_backup_needs_an_alert_topic(project):
    assert "stagecraft:awsBackup = true: failed backup, copy and restore-test jobs alarm to " \
        "the alert topic, and this stack has none: list a receiver in " \
        "stagecraft:alertReceivers" in _problems(project, "dev", awsBackup=True)  # fmt: skip


def test_backups_cost_the_snapshot_its_copy_and_four_restore_tests_a_year(production):
    lines = [line for line in estimate(production, budget=1800).lines if "-backup-" in line.name]
    priced = {line.description.split(",")[0]: round(line.monthly, 2) for line in lines}
    assert (
        priced["rule daily: 500 GiB database snapshot (a full copy; each day's changes on top"]
        == 47.5
    )
    assert priced["rule daily: its copy in us-west-2"] == 47.5
    transfer = next(line for line in lines if "transfer to us-west-2" in line.description)
    assert transfer.kind == "usage"
    assert "$0.02/GB" in transfer.description
    restore = next(line for line in lines if "restore test" in line.description)
    # 4 a year x 5 h (an hour's restore + the 4-hour window) of db.t4g.medium + 500 GiB gp3.
    assert restore.monthly == pytest.approx(4 / 12 * 5 * (0.065 + 500 * 0.115 / 730))
    assert aws_cron_runs_per_year("cron(0 6 1 1,4,7,10 ? *)") == 4
    assert aws_cron_runs_per_year("cron(0 7 * * ? *)") == 365
    assert aws_cron_runs_per_year("cron(0 7 ? * MON *)") is None


def test_the_report_says_how_long_where_locked_and_tested(production, dev):
    assert backups_row(production) == (
        "cron(0 7 * * ? *) Etc/UTC, kept 30 d; copied to us-west-2, kept 30 d; vault lock: "
        "governance on 2 of 2 vaults; restore test cron(0 6 1 1,4,7,10 ? *) Etc/UTC into a "
        "db.t4g.medium, checked for 4 h"
    )
    assert backups_row(dev) == "none (RDS automated backups only)"


def test_the_gate_stops_a_deleted_vault_or_lock_unless_allowed(production):
    from stagecraft.gate import evaluate_gate

    steps = [
        {"op": "delete", "urn": r.urn}
        for r in [*_backup(production, VAULT), *_backup(production, LOCK)]
    ]
    result = evaluate_gate(steps)
    assert not result.passed
    assert {o.type for o in result.offenders} == {VAULT, LOCK}
    assert evaluate_gate(steps, allow=[VAULT, LOCK]).passed
