"""DataImport: a non-production stack's side of the weekly anonymised copy.

Its job's role may list and read production's dumps and decrypt them through
S3, and read this stack's own database master secret: nothing else, and
nothing in production beyond the bucket. The role's name is fixed
(`<prefix>-data-import`, the `dataImportRoleArn` output) because production's
stack file names it in dataExportReaderRoleArns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components._common import type_token
from infra.components.addons.irsa import ClusterIdentity, irsa_role
from infra.components.data_sync import jobs
from infra.components.data_sync.exporter import DUMPS_PREFIX
from infra.components.database_jobs import AccessRoles
from infra.config import DataSyncSpec

SERVICE_ACCOUNT = "data-import"
# The dump as published, reloaded weekly beside the application's database;
# never written by the application (pr-<n> stacks copy it: initialData).
ANONYMISED_SNAPSHOT_DATABASE = "anonymised_snapshot"


@dataclass(frozen=True)
class DataImportArgs:
    spec: DataSyncSpec
    resource_prefix: str
    region: str
    partition: str
    cluster: ClusterIdentity
    kubernetes: k8s.Provider
    labels: Mapping[str, str]
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: str
    # Who owns the loaded tables (the application's database user).
    database_owner: str
    admin_secret_arn: pulumi.Input[str]
    environment_kms_key_arn: pulumi.Input[str]
    boundary_arn: pulumi.Input[str] | None
    # Also load the dump, untouched by this stack, into a database of this
    # name: the pr-<n> stacks this cluster hosts start from it (initialData).
    snapshot_database: str | None = None
    wait_for: Sequence[pulumi.Resource] = ()
    # The environment's database roles, whose grants the load gives back
    # (the schema it replaces takes them with it); None: no IAM authentication.
    access_roles: AccessRoles | None = None


class DataImport(pulumi.ComponentResource):
    """The import job's read-only role and the CronJob that reloads the database."""

    role: aws.iam.Role

    def __init__(
        self, name: str, args: DataImportArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("DataImport"), name, None, opts)
        spec, prefix = args.spec, args.resource_prefix
        bucket_arn = f"arn:{args.partition}:s3:::{spec.data_import_bucket}"
        self.role = irsa_role(
            self,
            f"{prefix}-data-import",
            cluster=args.cluster,
            namespace=jobs.NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=pulumi.Output.all(args.admin_secret_arn, args.environment_kms_key_arn).apply(
                lambda v: json.dumps(
                    import_role_policy(
                        bucket_arn=bucket_arn,
                        dumps_key_arn=spec.data_import_kms_key_arn,
                        admin_secret_arn=str(v[0]),
                        environment_key_arn=str(v[1]),
                    )
                )
            ),
            description=f"Data import of {prefix}: read production's dumps, load them here",
            boundary_arn=args.boundary_arn,
            fixed_name=True,
        )

        ready = jobs.setup(
            self,
            name,
            provider=args.kubernetes,
            labels=args.labels,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.role.arn,
        )
        fetch = jobs.aws_step(
            "fetch",
            'aws secretsmanager get-secret-value --secret-id "$ADMIN_SECRET_ARN" '
            "--query SecretString --output text > /secrets/admin.json && "
            'sh "$SYNC_DIR/import.sh" fetch "$SOURCE" /work/dump',
            jobs.env(
                ADMIN_SECRET_ARN=args.admin_secret_arn,
                SOURCE=f"s3://{spec.data_import_bucket}/{DUMPS_PREFIX}",
                # This stack's secret here, production's bucket where it is.
                AWS_REGION=args.region,
                DUMPS_REGION=_region_of(spec.data_import_kms_key_arn),
            ),
        )
        load_command = 'sh "$SYNC_DIR/import.sh" load /work/dump'
        if args.snapshot_database:
            load_command += (
                ' && DBNAME="$SNAPSHOT_DATABASE" CREATE_DATABASE=1'
                ' sh "$SYNC_DIR/import.sh" load /work/dump'
            )
        load = jobs.postgres_step(
            "load",
            load_command,
            jobs.env(
                SNAPSHOT_DATABASE=args.snapshot_database or "",
                PGHOST=args.database_host,
                PGPORT=pulumi.Output.from_input(args.database_port).apply(str),
                PGSSLMODE="require",
                DBNAME=args.database_name,
                ROLE=args.database_owner,
                ADMIN_SECRET_FILE="/secrets/admin.json",
                **(args.access_roles.env() if args.access_roles else {}),
            ),
        )
        self.cron_job = jobs.cron_job(
            self,
            f"{name}-cron-job",
            job="data-import",
            schedule=spec.data_import_schedule,
            time_zone=spec.data_sync_time_zone,
            service_account=SERVICE_ACCOUNT,
            init_steps=[fetch],
            last_step=load,
            labels=args.labels,
            provider=args.kubernetes,
            depends_on=[*ready, *args.wait_for],
            scratch_gb=spec.data_sync_scratch_gb,
        )
        self.register_outputs({"roleArn": self.role.arn})


def _region_of(arn: str) -> str:
    """The region of an ARN (`arn:aws:kms:<region>:...`): where production's bucket is."""
    return arn.split(":")[3]


def import_role_policy(
    *, bucket_arn: str, dumps_key_arn: str, admin_secret_arn: str, environment_key_arn: str
) -> dict[str, Any]:
    """List and read the dumps, decrypt them through S3; read this stack's master secret."""
    region = _region_of(dumps_key_arn)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListDumps",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": f"{DUMPS_PREFIX}/*"}},
            },
            {
                "Sid": "ReadDumps",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{DUMPS_PREFIX}/*",
            },
            {
                "Sid": "DecryptDumpsThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": dumps_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
            {
                "Sid": "ReadTheMasterSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": admin_secret_arn,
            },
            {
                "Sid": "DecryptTheMasterSecret",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": environment_key_arn,
            },
        ],
    }
