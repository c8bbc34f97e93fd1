"""DataExport: production's side of the weekly anonymised copy.

Everything personal stays in production: the job reads the database as a
read-only role, masks inside its SELECT, and what it writes to the bucket is
already anonymised. The bucket admits exactly two kinds of caller for its
objects: this job's role, which may only write, and the import roles listed in
``dataExportReaderRoleArns``, which may only read (a bucket-policy deny, so no
other role's IAM policy can open it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.components._common import child, type_token
from infra.components.access import policies as access_policies
from infra.components.account.policies import tls_only_bucket_policy
from infra.components.addons.irsa import ClusterIdentity, irsa_role
from infra.components.buckets import Expiry, bucket_name, kms_bucket
from infra.components.data_sync import jobs
from infra.components.secrets import KEY_DELETION_WINDOW_DAYS, store_secret
from infra.config import DataSyncSpec
from infra.data_sync import MASK_KEY_LENGTH

SERVICE_ACCOUNT = "data-export"
# The database role the export logs in as (infra/sql/export_role.sql).
EXPORT_ROLE = "stagecraft_export"
# Where dumps go in the bucket: <prefix>/<createdAt>/...
DUMPS_PREFIX = "dumps"


@dataclass(frozen=True)
class DataExportArgs:
    spec: DataSyncSpec
    resource_prefix: str
    region: str
    account_id: str
    partition: str
    cluster: ClusterIdentity
    kubernetes: k8s.Provider
    labels: Mapping[str, str]
    # The environment's key: the mask key secret is encrypted with it.
    environment_kms_key_arn: pulumi.Input[str]
    # The instance read: the first read replica, else the primary.
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: str
    database_resource_id: pulumi.Input[str]
    # The environment's access-log bucket (production always has one: its trail's).
    log_bucket: pulumi.Input[str] | None
    boundary_arn: pulumi.Input[str] | None
    protect: bool
    # The export role must exist in the database before the first run.
    wait_for: Sequence[pulumi.Resource] = ()


class DataExport(pulumi.ComponentResource):
    """The dumps' bucket and key, the mask key, and the CronJob that fills the bucket."""

    bucket: aws.s3.Bucket
    key: aws.kms.Key
    role: aws.iam.Role

    def __init__(
        self, name: str, args: DataExportArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("DataExport"), name, None, opts)
        spec, prefix = args.spec, args.resource_prefix
        readers = list(spec.data_export_reader_role_arns)

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Anonymised data dumps of {prefix} (readable by the import roles only)",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=json.dumps(_key_policy(args.partition, args.account_id, args.region, readers)),
            opts=child(self, protect=args.protect),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{prefix}-data-sync",
            target_key_id=self.key.key_id,
            opts=child(self),
        )

        self.bucket = kms_bucket(
            self,
            f"{name}-bucket",
            bucket=bucket_name(prefix, "data-sync", args.account_id),
            kms_key_arn=self.key.arn,
            protect=args.protect,
            log_bucket=args.log_bucket,
            log_prefix=f"{prefix}-data-sync",
            expiries=[Expiry("", spec.data_dump_retention_days)],
        )
        mask_key = random.RandomPassword(
            f"{name}-mask-key", length=MASK_KEY_LENGTH, special=False, opts=child(self)
        )
        mask_key_secret = store_secret(
            self,
            f"{name}-mask-key-secret",
            secret_name=f"{prefix}/data-sync-mask-key",
            description=(
                f"Key of the data export's masks of {prefix} (generated, never typed; "
                "whoever holds it can test a guess against a pseudonym)"
            ),
            value=mask_key.result,
            kms_key_arn=args.environment_kms_key_arn,
            protect=args.protect,
        )

        self.role = irsa_role(
            self,
            f"{prefix}-data-export",
            cluster=args.cluster,
            namespace=jobs.NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=pulumi.Output.all(
                self.bucket.arn,
                self.key.arn,
                mask_key_secret.arn,
                args.environment_kms_key_arn,
                args.database_resource_id,
            ).apply(
                lambda v: json.dumps(
                    export_role_policy(
                        bucket_arn=str(v[0]),
                        key_arn=str(v[1]),
                        mask_key_secret_arn=str(v[2]),
                        environment_key_arn=str(v[3]),
                        db_user_arn=access_policies.db_user_arn(
                            args.partition, args.region, args.account_id, str(v[4]), EXPORT_ROLE
                        ),
                    )
                )
            ),
            description=f"Data export of {prefix}: write dumps, read the mask key, log in",
            boundary_arn=args.boundary_arn,
        )

        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, self.role.arn).apply(
                lambda v: json.dumps(
                    tls_only_bucket_policy(
                        str(v[0]), bucket_statements(str(v[0]), str(v[1]), readers)
                    )
                )
            ),
            opts=child(self),
        )

        ready = jobs.setup(
            self,
            name,
            provider=args.kubernetes,
            labels=args.labels,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.role.arn,
        )
        destination = self.bucket.bucket.apply(lambda b: f"s3://{b}/{DUMPS_PREFIX}")
        connection = jobs.env(
            PGHOST=args.database_host,
            PGPORT=pulumi.Output.from_input(args.database_port).apply(str),
            PGDATABASE=args.database_name,
            PGUSER=EXPORT_ROLE,
            PGSSLMODE="require",
        )
        credentials = jobs.aws_step(
            "credentials",
            # An IAM token is valid 15 minutes, for logging in: the dump
            # starts right after. printf: the key file has no newline.
            'key="$(aws secretsmanager get-secret-value --secret-id "$MASK_KEY_SECRET" '
            '--query SecretString --output text)" && printf %s "$key" > /secrets/mask-key && '
            'aws rds generate-db-auth-token --hostname "$PGHOST" --port "$PGPORT" '
            '--username "$PGUSER" --region "$AWS_REGION" > /secrets/db-token',
            [
                *connection,
                *jobs.env(MASK_KEY_SECRET=mask_key_secret.arn, AWS_REGION=args.region),
            ],
        )
        dump = jobs.postgres_step(
            "dump",
            'sh "$SYNC_DIR/export.sh" dump /work/dump',
            [
                *connection,
                *jobs.env(
                    MASK_KEY_FILE="/secrets/mask-key",
                    DB_PASSWORD_FILE="/secrets/db-token",
                    SOURCE_ENVIRONMENT=prefix,
                ),
            ],
        )
        publish = jobs.aws_step(
            "publish",
            'sh "$SYNC_DIR/export.sh" publish /work/dump "$DESTINATION"',
            jobs.env(DESTINATION=destination, AWS_REGION=args.region),
        )
        self.cron_job = jobs.cron_job(
            self,
            f"{name}-cron-job",
            job="data-export",
            schedule=spec.data_export_schedule,
            time_zone=spec.data_sync_time_zone,
            service_account=SERVICE_ACCOUNT,
            init_steps=[credentials, dump],
            last_step=publish,
            labels=args.labels,
            provider=args.kubernetes,
            depends_on=[*ready, *args.wait_for],
            scratch_gb=spec.data_sync_scratch_gb,
        )
        self.register_outputs(
            {
                "bucket": self.bucket.bucket,
                "kmsKeyArn": self.key.arn,
                "roleArn": self.role.arn,
            }
        )


def bucket_statements(
    bucket_arn: str, writer_role_arn: str, reader_role_arns: Sequence[str]
) -> list[dict[str, Any]]:
    """Only the export job writes; only the import roles read (denies, whatever IAM says).

    `aws:PrincipalArn` is the role's ARN for every session of the role.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
    """
    objects = f"{bucket_arn}/*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OnlyTheExportJobWrites",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": writer_role_arn}},
        },
    ]
    read = ["s3:GetObject", "s3:GetObjectVersion"]
    if reader_role_arns:
        statements += [
            {
                "Sid": "OnlyTheImportJobsRead",
                "Effect": "Deny",
                "Principal": "*",
                "Action": read,
                "Resource": objects,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": list(reader_role_arns)}},
            },
            # Cross-account readers need the bucket's own Allow as well.
            {
                "Sid": "ImportJobsReadDumps",
                "Effect": "Allow",
                "Principal": {"AWS": list(reader_role_arns)},
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{DUMPS_PREFIX}/*",
            },
            {
                "Sid": "ImportJobsListDumps",
                "Effect": "Allow",
                "Principal": {"AWS": list(reader_role_arns)},
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": f"{DUMPS_PREFIX}/*"}},
            },
        ]
    else:
        statements.append(
            {
                "Sid": "NobodyReadsYet",
                "Effect": "Deny",
                "Principal": "*",
                "Action": read,
                "Resource": objects,
            }
        )
    return statements


def _key_policy(
    partition: str, account_id: str, region: str, reader_role_arns: Sequence[str]
) -> dict[str, Any]:
    """Administered by the account; the import roles may decrypt, through S3 only.

    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
    """
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if reader_role_arns:
        statements.append(
            {
                "Sid": "ImportJobsDecryptDumpsThroughS3",
                "Effect": "Allow",
                "Principal": {"AWS": list(reader_role_arns)},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def export_role_policy(
    *,
    bucket_arn: str,
    key_arn: str,
    mask_key_secret_arn: str,
    environment_key_arn: str,
    db_user_arn: str,
) -> dict[str, Any]:
    """Write dumps (never read, list or delete them), read the mask key, log in as the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteDumps",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{DUMPS_PREFIX}/*",
            },
            {
                # Decrypt too: S3 needs it to complete a multipart upload (large tables).
                # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
                "Sid": "EncryptDumps",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": key_arn,
            },
            {
                "Sid": "ReadTheMaskKey",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": mask_key_secret_arn,
            },
            {
                "Sid": "DecryptTheMaskKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": environment_key_arn,
            },
            {
                "Sid": "LogInAsTheExportRole",
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "Resource": db_user_arn,
            },
        ],
    }
