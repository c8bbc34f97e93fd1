"""StateBackend: where every stack's Pulumi state lives, and the keys that guard it.

- the state bucket: versioned (old versions kept `stateVersionRetentionDays`,
  so a bad `pulumi up` or a lost object can be rolled back), encrypted with
  its own KMS key (bucket keys on), public access blocked, ACLs off, TLS
  only, server access logs on;
- the access-log bucket: SSE-S3, the only default encryption S3 log
  delivery supports; its own logging is off on purpose (logging it into
  itself would log every log write, without end);
- one KMS key per environment for its stack's `awskms://` secrets provider,
  so a role that may decrypt staging's state secrets cannot decrypt
  production's.

https://www.pulumi.com/docs/iac/operations/stack-management/using-a-diy-backend/
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import child, type_token
from infra.components.account.policies import (
    Account,
    key_policy,
)
from infra.components.buckets import (
    access_log_bucket,
    bucket_policy,
    harden_bucket,
    log_access,
)

# KMS waits this long before deleting a key: time to notice a mistake.
KEY_DELETION_WINDOW_DAYS = 30
# Multipart uploads a crashed `pulumi up` left behind.
ABANDONED_UPLOAD_DAYS = 7


@dataclass(frozen=True)
class StateBackendArgs:
    project: str  # the environments' project, whose stacks the bucket holds
    bucket_name: pulumi.Input[str]
    log_bucket_name: pulumi.Input[str]
    environments: Sequence[str]
    version_retention_days: int
    access_log_retention_days: int
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: str


class StateBackend(pulumi.ComponentResource):
    """The state bucket, its access logs, and the state and secrets-provider keys."""

    bucket: aws.s3.Bucket
    state_key: aws.kms.Key
    secrets_keys: dict[str, aws.kms.Key]
    secrets_providers: dict[str, pulumi.Output[str]]
    backend_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("StateBackend"), name, None, opts)
        policy = pulumi.Output.all(args.partition, args.account_id).apply(
            lambda v: json.dumps(key_policy(Account(v[0], v[1], args.region, args.project, "", "")))
        )

        def key(resource_name: str, alias: str, description: str) -> aws.kms.Key:
            created = aws.kms.Key(
                resource_name,
                description=description,
                enable_key_rotation=True,
                deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
                policy=policy,
                opts=child(self, protect=True),
            )
            aws.kms.Alias(
                f"{resource_name}-alias",
                name=alias,
                target_key_id=created.key_id,
                opts=child(self),
            )
            return created

        self.state_key = key(
            f"{name}-state-key",
            f"alias/{args.project}-pulumi-state",
            f"Encrypts the Pulumi state of every {args.project} stack (S3 default encryption)",
        )
        self.secrets_keys = {
            environment: key(
                f"{name}-secrets-{environment}",
                f"alias/{args.project}-pulumi-secrets-{environment}",
                f"Pulumi secrets provider of the {environment} stack"
                + (" and its small stacks" if environment in ("staging", "dev") else ""),
            )
            for environment in args.environments
        }
        self.secrets_providers = {
            environment: pulumi.Output.from_input(
                f"awskms://alias/{args.project}-pulumi-secrets-{environment}?region={args.region}"
            )
            for environment in args.environments
        }

        self.bucket = aws.s3.Bucket(
            f"{name}-state", bucket=args.bucket_name, opts=child(self, protect=True)
        )
        state_versioning = harden_bucket(
            self, f"{name}-state", self.bucket, sse_kms_key=self.state_key.arn
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-state-versions",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-old-state-versions",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": args.version_retention_days
                    },
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": ABANDONED_UPLOAD_DAYS
                    },
                }
            ],
            opts=child(self, depends_on=[state_versioning]),
        )
        # Log delivery into it for the state bucket alone.
        logs = access_log_bucket(
            self,
            f"{name}-access-logs",
            bucket_name=args.log_bucket_name,
            account_id=args.account_id,
            sources_arn_pattern=self.bucket.arn,
            retention_days=args.access_log_retention_days,
            protect=True,
            abandoned_upload_days=ABANDONED_UPLOAD_DAYS,
        )
        log_access(self, f"{name}-state", self.bucket, logs.id, prefix="state")
        bucket_policy(self, f"{name}-state", self.bucket)
        self.backend_url = self.bucket.bucket.apply(
            lambda bucket: f"s3://{bucket}?region={args.region}&awssdk=v2"
        )
        self.register_outputs(
            {
                "bucket": self.bucket.bucket,
                "backendUrl": self.backend_url,
                "stateKeyArn": self.state_key.arn,
            }
        )
