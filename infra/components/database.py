"""Database: RDS PostgreSQL in the private subnets, reachable only from the nodes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.aws_types import RDS_PARAMETER_GROUP, RDS_SUBNET_GROUP, ROLE, physical_name
from infra.components._common import (
    assume_role_policy,
    attach_policies,
    child,
    encrypted_log_group,
    nodes_only_security_group,
    type_token,
)
from infra.components.secrets import store_secret
from infra.config import DatabaseSpec
from infra.restore import LATEST, restore_identifier

POSTGRES_PORT = 5432

# RDS for PostgreSQL accepts 8-128 printable characters without '/', '"', '@'
# or spaces; letters and digits only keeps it safe in URLs and shell scripts.
MASTER_PASSWORD_LENGTH = 40

# What RDS can export for PostgreSQL; `upgrade` records major-version upgrades.
LOG_EXPORTS = ("postgresql", "upgrade")

# 7 days of Performance Insights history is the free tier.
PERFORMANCE_INSIGHTS_RETENTION_DAYS = 7

# Server settings every environment gets.  TLS is forced because IAM
# authentication tokens and the master password must never cross the
# network in clear; slow statements are logged so the exported logs say
# something useful.
BASE_PARAMETERS = {
    "rds.force_ssl": "1",
    "log_min_duration_statement": "1000",
    "log_connections": "1",
    "log_disconnections": "1",
}


def instance_identifier(resource_prefix: str, restore_name: str = "") -> str:
    """The primary's RDS identifier: what its alarms and log groups name.

    A point-in-time restore (dbRestoreName) gets an identifier of its own: the
    restored instance is created before the one it replaces is let go.
    """
    return restore_identifier(resource_prefix, restore_name)


def replica_identifier(primary: str, number: int) -> str:
    return f"{primary}-replica-{number}"


@dataclass(frozen=True)
class DatabaseArgs:
    spec: DatabaseSpec
    resource_prefix: str
    vpc_id: pulumi.Input[str]
    # A list of ids, or one Output of the list (a shared stack's output).
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    node_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    log_retention_days: int
    protect: bool
    # The environment's permissions boundary, on every IAM role made here.
    role_boundary_arn: pulumi.Input[str] | None = None
    # Hours-long reads run on the replicas (the weekly data export): they
    # report their oldest snapshot to the primary, whose vacuum then keeps the
    # rows they read instead of cancelling them ("conflict with recovery").
    # https://www.postgresql.org/docs/16/hot-standby.html#HOT-STANDBY-CONFLICT
    long_replica_reads: bool = False


class Database(pulumi.ComponentResource):
    """A PostgreSQL instance (optionally Multi-AZ) plus its read replicas."""

    instance: aws.rds.Instance
    replicas: list[aws.rds.Instance]
    security_group: aws.ec2.SecurityGroup
    master_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Database"), name, None, opts)
        spec = args.spec
        identifier = instance_identifier(args.resource_prefix, spec.restore_name)
        # What stays the environment's own across restores (the master secret).
        environment_identifier = instance_identifier(args.resource_prefix)

        subnet_group = aws.rds.SubnetGroup(
            name,
            name=physical_name(RDS_SUBNET_GROUP, name),
            description=f"Private subnets of {environment_identifier}",
            subnet_ids=args.private_subnet_ids,
            opts=child(self),
        )
        self.security_group = nodes_only_security_group(
            self,
            name,
            vpc_id=args.vpc_id,
            node_security_group_id=args.node_security_group_id,
            port=POSTGRES_PORT,
            service=f"PostgreSQL of {environment_identifier}",
        )
        parameters = aws.rds.ParameterGroup(
            name,
            name=physical_name(RDS_PARAMETER_GROUP, name),
            family=f"postgres{spec.major_version}",
            description=f"PostgreSQL {spec.major_version} settings of {environment_identifier}",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name=key, value=value, apply_method=method)
                for key, value, method in [
                    *((k, v, "pending-reboot") for k, v in BASE_PARAMETERS.items()),
                    # Dynamic: on the running replicas at once, no reboot.
                    *(
                        [("hot_standby_feedback", "1", "immediate")]
                        if args.long_replica_reads
                        else []
                    ),
                ]
            ],
            opts=child(self),
        )

        instance_ids = [identifier] + [
            replica_identifier(identifier, n) for n in range(1, spec.read_replicas + 1)
        ]
        log_groups = [
            encrypted_log_group(
                self,
                f"{name}-logs-{instance_id.removeprefix(identifier).strip('-') or 'primary'}"
                f"-{export}",
                log_group_name=f"/aws/rds/instance/{instance_id}/{export}",
                retention_days=args.log_retention_days,
                kms_key_arn=args.kms_key_arn,
                retain_on_delete=args.protect,
            )
            for instance_id in instance_ids
            for export in LOG_EXPORTS
        ]

        monitoring_role_arn: pulumi.Output[str] | None = None
        monitoring_policies: list[aws.iam.RolePolicyAttachment] = []
        if spec.monitoring_interval_seconds:
            partition = aws.get_partition_output(
                opts=pulumi.InvokeOutputOptions(parent=self)
            ).partition
            role = aws.iam.Role(
                f"{name}-monitoring",
                name=physical_name(ROLE, f"{name}-monitoring"),
                assume_role_policy=assume_role_policy("monitoring.rds.amazonaws.com"),
                description=f"RDS enhanced monitoring of {environment_identifier}",
                permissions_boundary=args.role_boundary_arn,
                opts=child(self),
            )
            monitoring_policies = attach_policies(
                self,
                role,
                f"{name}-monitoring",
                partition,
                ["service-role/AmazonRDSEnhancedMonitoringRole"],
            )
            monitoring_role_arn = role.arn

        # The master password is generated here and kept in the environment's
        # own secret, not left to RDS: RDS cannot create a read replica of an
        # instance whose master password it manages in Secrets Manager (every
        # engine but SQL Server), nor run a blue/green deployment of one.
        # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html
        master_password = random.RandomPassword(
            f"{name}-master-password",
            length=MASTER_PASSWORD_LENGTH,
            special=False,
            opts=child(self),
        )

        final_snapshot_identifier: pulumi.Output[str] | None = None
        if spec.final_snapshot:
            # Unique per incarnation of the instance, not only per stack: the
            # suffix is re-drawn whenever an input that replaces the instance
            # changes (the keepers: every such input this program sets, see
            # tests/test_database.py), so the replaced instance's final snapshot
            # and the next one's never share a name (DBSnapshotAlreadyExists).
            suffix = random.RandomId(
                f"{name}-final-snapshot-suffix",
                byte_length=4,
                keepers={
                    "engine": "postgres",
                    "dbName": spec.database_name,
                    "username": spec.master_username,
                    "kmsKeyId": args.kms_key_arn,
                    "storageEncrypted": "true",
                },
                opts=child(self),
            )
            final_snapshot_identifier = pulumi.Output.concat(identifier, "-final-", suffix.hex)

        common: dict[str, Any] = {
            "instance_class": spec.instance_class,
            "storage_type": "gp3",
            "max_allocated_storage": spec.max_allocated_storage_gb,
            "storage_encrypted": True,
            "vpc_security_group_ids": [self.security_group.id],
            "parameter_group_name": parameters.name,
            "publicly_accessible": False,
            "iam_database_authentication_enabled": spec.iam_authentication,
            "enabled_cloudwatch_logs_exports": list(LOG_EXPORTS),
            "performance_insights_enabled": spec.performance_insights,
            "performance_insights_kms_key_id": (
                args.kms_key_arn if spec.performance_insights else None
            ),
            "performance_insights_retention_period": (
                PERFORMANCE_INSIGHTS_RETENTION_DAYS if spec.performance_insights else None
            ),
            "monitoring_interval": spec.monitoring_interval_seconds,
            "monitoring_role_arn": monitoring_role_arn,
            "auto_minor_version_upgrade": True,
            "copy_tags_to_snapshot": True,
            "deletion_protection": spec.deletion_protection,
            "port": POSTGRES_PORT,
            # Both the primary and its replicas follow the parameter group; a
            # major upgrade (new family) is accepted by RDS only when applied
            # at once, which `stagecraft diff` insists on (dbApplyImmediately).
            "apply_immediately": spec.apply_immediately,
        }

        # Protected data is never deleted by Pulumi: when a restore replaces the
        # primary (or anything else makes Pulumi let go of it), the old instance
        # and its replicas leave the stack but keep running, deletion-protected,
        # until an operator deletes them (README "Restoring a database to a point
        # in time"). The engine reads this flag from the state of the instance
        # being replaced, so it is set on every run, not only on a restore's.
        keep = child(
            self,
            protect=args.protect,
            retain_on_delete=args.protect or None,
            depends_on=[*log_groups, *monitoring_policies],
        )
        restore = (
            aws.rds.InstanceRestoreToPointInTimeArgs(
                source_db_instance_identifier=(
                    spec.restore_source_identifier or environment_identifier
                ),
                restore_time=None if spec.restore_time == LATEST else spec.restore_time,
                use_latest_restorable_time=True if spec.restore_time == LATEST else None,
            )
            if spec.restoring
            else None
        )
        self.instance = aws.rds.Instance(
            name,
            identifier=identifier,
            # RDS builds a restored instance from the source's backups: it keeps
            # the source's master user and password (this stack's own generated
            # one, unchanged by a restore), engine version and KMS key; the
            # provider applies the rest (backup and maintenance windows,
            # Performance Insights) with a follow-up modify or the next `pulumi up`.
            restore_to_point_in_time=restore,
            engine="postgres",
            engine_version=spec.engine_version,
            allocated_storage=spec.allocated_storage_gb,
            kms_key_id=args.kms_key_arn,
            # A restore brings the database with it. RDS documents DBName as
            # not applying to PostgreSQL in older API references (and as
            # allowed in newer ones): not sent, RDS keeps the source's.
            db_name=None if spec.restoring else spec.database_name,
            username=spec.master_username,
            password=master_password.result,  # a secret output of pulumi-random
            multi_az=spec.multi_az,
            db_subnet_group_name=subnet_group.name,
            backup_retention_period=spec.backup_retention_days,
            backup_window=spec.backup_window,
            maintenance_window=spec.maintenance_window,
            skip_final_snapshot=not spec.final_snapshot,
            final_snapshot_identifier=final_snapshot_identifier,
            delete_automated_backups=not spec.final_snapshot,
            # A major version in the stack file is a reviewed decision (the diff
            # and gate show it); without this flag RDS would refuse it.
            allow_major_version_upgrade=True,
            opts=keep,
            **common,
        )

        self.replicas = [
            aws.rds.Instance(
                f"{name}-replica-{n}",
                identifier=replica_identifier(identifier, n),
                replicate_source_db=self.instance.identifier,
                # A same-region replica is encrypted with its source's key; naming
                # the key again makes the provider see a change on every run.
                multi_az=False,
                # A replica is promoted when the primary is lost; promoted without
                # backups it would be a production database without backups.  So
                # it keeps the primary's retention (RDS PostgreSQL replicas can).
                backup_retention_period=spec.backup_retention_days,
                backup_window=spec.backup_window,
                # Without its own, RDS draws a random 30-minute maintenance window
                # for the replica, and the provider's follow-up call that sets the
                # backup window fails when the two overlap (InvalidParameterValue;
                # hashicorp/terraform-provider-aws#7046). The primary's, which the
                # config checks against the backup window, cannot.
                maintenance_window=spec.maintenance_window,
                # Nothing of its own to snapshot on delete: the primary holds the data.
                skip_final_snapshot=True,
                # RDS cannot point a replica at another primary, and the provider
                # would only rename it in place: a restored primary (a new
                # identifier) gets new replicas. The old ones are let go of with
                # the old primary, not deleted (``keep``).
                opts=pulumi.ResourceOptions.merge(
                    keep, pulumi.ResourceOptions(replace_on_changes=["replicateSourceDb"])
                ),
                **common,
            )
            for n in range(1, spec.read_replicas + 1)
        ]

        # The shape RDS itself and Secrets Manager's RDS rotation functions read
        # (host, port, username, password, dbname), so a rotation can be added
        # without changing the applications.
        master_document = pulumi.Output.all(
            self.instance.address, self.instance.port, master_password.result
        ).apply(
            lambda v: json.dumps(
                {
                    "engine": "postgres",
                    "host": v[0],
                    "port": v[1],
                    "dbname": spec.database_name,
                    "username": spec.master_username,
                    "password": v[2],
                },
                sort_keys=True,
            )
        )
        self.master_secret_arn = store_secret(
            self,
            f"{name}-master-secret",
            secret_name=f"{environment_identifier}/database-master",
            description=(
                f"Master user of {environment_identifier}'s PostgreSQL (generated, never typed)"
            ),
            value=master_document,
            kms_key_arn=args.kms_key_arn,
            protect=args.protect,
        ).arn
        self.register_outputs(
            {
                "address": self.instance.address,
                "endpoint": self.instance.endpoint,
                "masterSecretArn": self.master_secret_arn,
                "replicaEndpoints": [r.endpoint for r in self.replicas],
            }
        )
