"""Backup: AWS Backup of the environment's database, copied to a second region, restore-tested.

What is backed up, and why only that: the RDS instance holds the
environment's data. ElastiCache is not an AWS Backup resource type (it keeps
its own snapshots, cacheSnapshotRetentionDays) and holds nothing that is not
rebuilt from the database. The nodes' EBS volumes are disposable (EKS replaces
nodes from the launch template), and the in-cluster volumes hold metrics,
logs and traces whose long-term copies are already in S3. The S3 buckets hold
logs, traces, metrics and data-sync dumps: versioned, expiring by design,
and re-creatable; backing them up would only keep what their lifecycle
deliberately deletes.

RDS's own automated backups stay in charge of point-in-time recovery
(dbBackupRetentionDays, up to 35 days): AWS Backup's continuous backup of an
RDS instance takes over that same retention setting, which the Database
component declares, and the two would fight on every `pulumi up`. AWS Backup
adds what RDS lacks: snapshots kept independently of the instance (they
survive its deletion), in a vault that can be locked, copied to another
region, and restored on a schedule to prove they restore.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws_types import ROLE, fitted_name, physical_name
from infra.components._common import assume_role_policy, attach_policies, child, type_token
from infra.components.secrets import KEY_DELETION_WINDOW_DAYS
from infra.config import BackupSpec

# AWS-managed policies for AWS Backup's service role (the ones its default
# role, AWSBackupDefaultServiceRole, carries):
# https://docs.aws.amazon.com/aws-backup/latest/devguide/iam-service-roles.html
BACKUP_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
)
# AWS Backup's names: vaults, plans and selections up to 50 characters;
# restore testing plans and selections letters, digits and underscores only.
BACKUP_NAME_LIMIT = 50
# How long a scheduled backup may wait to start before AWS Backup gives up
# (and counts the job EXPIRED): an hour keeps it clear of the RDS windows.
START_WINDOW_MINUTES = 60
# Which snapshots a restore test may pick: the newest of the last week.
RESTORE_TEST_SELECTION_DAYS = 7
# AWS Backup's job metrics, in the region the jobs run (the stack's: copy
# jobs are counted where they start). Each alarm sums its metric over every
# series of the namespace with a Metrics Insights query, whichever dimensions
# (resource type, vault) AWS publishes it under: every job of the account in
# the region, and only production backs up here.
# https://docs.aws.amazon.com/aws-backup/latest/devguide/cloudwatch.html
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-alarms.html
JOB_FAILURE_METRICS = {
    "backup-jobs-failed": (
        "NumberOfBackupJobsFailed",
        "An AWS Backup job of the database failed: today's snapshot is missing. See the "
        "job's status message in the AWS Backup console (Jobs) and run an on-demand backup "
        "once it is fixed.",
    ),
    "copy-jobs-failed": (
        "NumberOfCopyJobsFailed",
        "Copying a snapshot to the second region failed: the region-loss copy is behind. "
        "See the copy job's status message (often the destination key's policy).",
    ),
    "restore-jobs-failed": (
        "NumberOfRestoreJobsFailed",
        "A restore failed (the quarterly restore test, or an operator's restore): the "
        "backups may not bring the database back. See the restore job's status message "
        "and README 'Backups and restore testing'.",
    ),
}
METRIC_PERIOD_SECONDS = 3600


@dataclass(frozen=True)
class BackupArgs:
    spec: BackupSpec
    resource_prefix: str
    region: str
    account_id: str
    partition: str
    # The environment's provider settings, repeated for the second region's provider.
    default_tags: Mapping[str, str]
    database_arn: pulumi.Input[str]
    # Where a restore test's scratch instance goes: the database's own subnet
    # group and security group (port 5432 from the cluster's nodes, nothing else).
    db_subnet_group_name: pulumi.Input[str]
    db_security_group_id: pulumi.Input[str]
    alert_topic_arn: pulumi.Input[str]
    boundary_arn: pulumi.Input[str] | None
    protect: bool


class Backup(pulumi.ComponentResource):
    """Two vaults (here and in the copy region) with their keys and locks, the plan, its
    selection and role, the restore testing plan, and the alarms on failed jobs."""

    vault: aws.backup.Vault
    copy_vault: aws.backup.Vault | None
    plan: aws.backup.Plan
    role: aws.iam.Role
    restore_testing_plan: aws.backup.RestoreTestingPlan

    def __init__(
        self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Backup"), name, None, opts)
        spec, prefix = args.spec, args.resource_prefix

        role_name = f"{name}-role"
        self.role = aws.iam.Role(
            role_name,
            name=physical_name(ROLE, role_name),
            # AWS Backup's own trust (its default service role's): the service
            # sends no source condition to match.
            assume_role_policy=assume_role_policy("backup.amazonaws.com"),
            description=f"AWS Backup backs up, copies and test-restores the database of {prefix}",
            permissions_boundary=args.boundary_arn,
            opts=child(self),
        )
        attachments = attach_policies(self, self.role, role_name, args.partition, BACKUP_POLICIES)

        self.vault = self._vault(
            f"{name}-vault",
            vault_name=fitted_name(f"{prefix}-backups", BACKUP_NAME_LIMIT),
            region=args.region,
            retention_days=spec.backup_retention_days,
            args=args,
            opts=child(self),
        )
        self.copy_vault = None
        copy_actions: list[aws.backup.PlanRuleCopyActionArgs] = []
        if spec.backup_copy_region:
            # Built like the environment's provider: same account pin, same tags.
            copy_provider = aws.Provider(
                f"{name}-copy-region",
                region=spec.backup_copy_region,
                allowed_account_ids=[args.account_id],
                default_tags={"tags": dict(args.default_tags)},
                opts=child(self),
            )
            self.copy_vault = self._vault(
                f"{name}-copy-vault",
                vault_name=fitted_name(f"{prefix}-backups-copy", BACKUP_NAME_LIMIT),
                region=spec.backup_copy_region,
                retention_days=spec.backup_copy_retention_days,
                args=args,
                opts=child(self, provider=copy_provider),
            )
            copy_actions.append(
                aws.backup.PlanRuleCopyActionArgs(
                    destination_vault_arn=self.copy_vault.arn,
                    lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(
                        delete_after=spec.backup_copy_retention_days
                    ),
                )
            )

        self.plan = aws.backup.Plan(
            f"{name}-plan",
            name=fitted_name(f"{prefix}-database", BACKUP_NAME_LIMIT),
            rules=[
                aws.backup.PlanRuleArgs(
                    rule_name="daily",
                    target_vault_name=self.vault.name,
                    schedule=spec.backup_schedule,
                    schedule_expression_timezone="Etc/UTC",
                    start_window=START_WINDOW_MINUTES,
                    lifecycle=aws.backup.PlanRuleLifecycleArgs(
                        delete_after=spec.backup_retention_days
                    ),
                    copy_actions=copy_actions,
                    # Snapshots, not continuous backup: RDS keeps point-in-time
                    # recovery itself (see the module's docstring).
                    enable_continuous_backup=False,
                )
            ],
            opts=child(self),
        )
        aws.backup.Selection(
            f"{name}-selection",
            name=fitted_name(f"{prefix}-database", BACKUP_NAME_LIMIT),
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            # The primary by ARN (its replicas hold the same data).
            resources=[args.database_arn],
            opts=child(self, depends_on=attachments),
        )

        underscored = prefix.replace("-", "_")
        self.restore_testing_plan = aws.backup.RestoreTestingPlan(
            f"{name}-restore-testing",
            name=fitted_name(f"{underscored}_restore_test", BACKUP_NAME_LIMIT).replace("-", "_"),
            schedule_expression=spec.restore_testing_schedule,
            schedule_expression_timezone="Etc/UTC",
            recovery_point_selection=aws.backup.RestoreTestingPlanRecoveryPointSelectionArgs(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[self.vault.arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=min(RESTORE_TEST_SELECTION_DAYS, spec.backup_retention_days),
            ),
            opts=child(self),
        )
        aws.backup.RestoreTestingSelection(
            f"{name}-restore-testing-selection",
            name="database",
            restore_testing_plan_name=self.restore_testing_plan.name,
            protected_resource_type="RDS",
            protected_resource_arns=[args.database_arn],
            iam_role_arn=self.role.arn,
            # The scratch instance: small, in the database's private subnets,
            # behind the database's security group (the nodes only, port 5432).
            # AWS Backup infers the rest: a random awsbackup-restore-test-
            # identifier, not public, no deletion protection, deleted after
            # the validation window.
            # https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html
            restore_metadata_overrides={
                "dbInstanceClass": spec.restore_testing_instance_class,
                "dbSubnetGroupName": args.db_subnet_group_name,
                "vpcSecurityGroupIds": pulumi.Output.from_input(args.db_security_group_id).apply(
                    lambda group: json.dumps([group])
                ),
                "multiAZ": "false",
            },
            validation_window_hours=spec.restore_testing_validation_hours,
            opts=child(self, depends_on=attachments),
        )

        self.alarm_names: list[str] = []
        for suffix, (metric, description) in JOB_FAILURE_METRICS.items():
            alarm_name = f"{prefix}-{suffix}"
            aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=alarm_name,
                alarm_description=description,
                metric_queries=[
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="failed",
                        expression=f'SELECT SUM({metric}) FROM "AWS/Backup"',
                        period=METRIC_PERIOD_SECONDS,
                        label=alarm_name,
                        return_data=True,
                    )
                ],
                evaluation_periods=1,
                threshold=0,
                comparison_operator="GreaterThanThreshold",
                # No job, no data: nothing failed.
                treat_missing_data="notBreaching",
                actions_enabled=True,
                alarm_actions=[args.alert_topic_arn],
                ok_actions=[args.alert_topic_arn],
                opts=child(self),
            )
            self.alarm_names.append(alarm_name)

        self.register_outputs(
            {
                "vaultName": self.vault.name,
                "copyVaultArn": self.copy_vault.arn if self.copy_vault else None,
                "planId": self.plan.id,
                "restoreTestingPlanName": self.restore_testing_plan.name,
            }
        )

    def _vault(
        self,
        name: str,
        *,
        vault_name: str,
        region: str,
        retention_days: int,
        args: BackupArgs,
        opts: pulumi.ResourceOptions,
    ) -> aws.backup.Vault:
        """A vault with a KMS key of its own (in its region) and, where config asks, a lock."""
        spec = args.spec
        key = aws.kms.Key(
            f"{name}-key",
            description=f"AWS Backup vault {vault_name} ({region})",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=self.role.arn.apply(
                lambda role: json.dumps(vault_key_policy(args.partition, args.account_id, role))
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect)),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{vault_name}",
            target_key_id=key.key_id,
            opts=opts,
        )
        vault = aws.backup.Vault(
            name,
            name=vault_name,
            kms_key_arn=key.arn,
            # A vault holding recovery points is never emptied by `pulumi destroy`.
            force_destroy=False,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect)),
        )
        if spec.backup_vault_lock != "off":
            aws.backup.VaultLockConfiguration(
                f"{name}-lock",
                backup_vault_name=vault.name,
                # Nothing in the vault can be deleted before this many days,
                # nor kept for less (a shorter rule's jobs would fail).
                min_retention_days=retention_days,
                # Compliance mode: removable for this many days, then never.
                changeable_for_days=(
                    spec.backup_vault_lock_grace_days
                    if spec.backup_vault_lock == "compliance"
                    else None
                ),
                opts=opts,
            )
        return vault


def vault_key_policy(partition: str, account_id: str, backup_role_arn: str) -> dict[str, Any]:
    """Administered by the account; AWS Backup's role uses it, and grants it to the services
    that write and restore the recovery points (RDS copies snapshots with it).

    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
    https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "BackupRoleUsesTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": backup_role_arn},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
            },
            {
                "Sid": "BackupRoleGrantsToAwsServices",
                "Effect": "Allow",
                "Principal": {"AWS": backup_role_arn},
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }
