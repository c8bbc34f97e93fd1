"""S3 buckets held to one standard: the state bucket, the telemetry buckets, the trail's.

Every bucket: public access blocked on all four settings, ACLs off (the
bucket owner owns every object), versioned, encrypted by default (KMS with a
bucket key, or SSE-S3 for a bucket S3 delivers access logs into, the only
encryption log delivery supports), and a TLS-only bucket policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._common import child
from infra.components.account.policies import access_log_delivery, tls_only_bucket_policy

# Multipart uploads a crashed writer left behind (Security Hub S3.13 wants a
# lifecycle; AWS and Tempo recommend a day for these).
ABANDONED_UPLOAD_DAYS = 1

Statements = Callable[[str], Sequence[dict[str, Any]]]


def bucket_name(resource_prefix: str, purpose: str, account_id: str) -> str:
    """Globally unique and predictable: the prefix, what it holds, the account."""
    return f"{resource_prefix}-{purpose}-{account_id}"


@dataclass(frozen=True)
class Expiry:
    """Objects under ``prefix`` ("" = all) are deleted ``days`` after they were written."""

    prefix: str
    days: int


def kms_bucket(
    parent: pulumi.Resource,
    name: str,
    *,
    bucket: str,
    kms_key_arn: pulumi.Input[str],
    protect: bool,
    log_bucket: pulumi.Input[str] | None,
    log_prefix: str,
    expiries: Sequence[Expiry],
) -> aws.s3.Bucket:
    """A bucket of re-creatable objects held to the standard, its policy left to the caller.

    Hardened and KMS-encrypted, its requests logged to ``log_bucket`` (where
    the environment has one), abandoned uploads and replaced versions cleared
    after a day, and ``expiries`` applied.
    """
    created = aws.s3.Bucket(
        name,
        bucket=bucket,
        # Re-creatable contents; a protected environment keeps them anyway.
        force_destroy=None if protect else True,
        opts=child(parent, protect=protect),
    )
    versioning = harden_bucket(parent, name, created, sse_kms_key=kms_key_arn)
    if log_bucket is not None:
        log_access(parent, name, created, log_bucket, prefix=log_prefix)
    rules: list[Any] = [
        {
            "id": "abandoned-uploads-and-old-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": 1},
            "abort_incomplete_multipart_upload": {"days_after_initiation": ABANDONED_UPLOAD_DAYS},
        }
    ]
    rules += [
        {
            "id": f"expire-{expiry.prefix.strip('/') or 'all'}",
            "status": "Enabled",
            "filter": {"prefix": expiry.prefix} if expiry.prefix else {},
            "expiration": {"days": expiry.days},
        }
        for expiry in expiries
    ]
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=created.id,
        rules=rules,
        # The bucket's versioning first: S3 refuses noncurrent rules before it.
        opts=child(parent, depends_on=[versioning]),
    )
    return created


def harden_bucket(
    parent: pulumi.Resource,
    name: str,
    bucket: aws.s3.Bucket,
    *,
    sse_kms_key: pulumi.Input[str] | None,
) -> aws.s3.BucketVersioning:
    """No public access, no ACLs, versions kept, encrypted by default.

    Returns the versioning: a lifecycle with noncurrent-version rules must
    come after it ("Must have bucket versioning enabled first").
    """
    aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child(parent),
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=child(parent),
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=child(parent),
    )
    by_default = (
        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
    )
    default = (
        by_default(sse_algorithm="aws:kms", kms_master_key_id=sse_kms_key)
        if sse_kms_key is not None
        else by_default(sse_algorithm="AES256")
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=default,
                # One data key per bucket, not per object: far fewer KMS calls.
                bucket_key_enabled=sse_kms_key is not None,
            )
        ],
        opts=child(parent),
    )
    return versioning


def bucket_policy(
    parent: pulumi.Resource, name: str, bucket: aws.s3.Bucket, statements: Statements | None = None
) -> aws.s3.BucketPolicy:
    """TLS only, plus ``statements(bucket_arn)`` (service deliveries)."""
    return aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=bucket.arn.apply(
            lambda arn: json.dumps(
                tls_only_bucket_policy(arn, statements(arn) if statements else ())
            )
        ),
        opts=child(parent),
    )


def access_log_bucket(
    parent: pulumi.Resource,
    name: str,
    *,
    bucket_name: pulumi.Input[str],
    account_id: pulumi.Input[str],
    sources_arn_pattern: pulumi.Input[str],
    retention_days: int,
    protect: bool,
    abandoned_upload_days: int = ABANDONED_UPLOAD_DAYS,
) -> aws.s3.Bucket:
    """The bucket an environment's (or the bootstrap's) other buckets log their requests to
    (Security Hub S3.9).

    SSE-S3, the only default encryption log delivery supports; its own
    logging is off on purpose (logging it into itself would log every log
    write, without end). S3 may deliver logs of this account's buckets
    matching ``sources_arn_pattern`` (the environment's name prefix, or one
    bucket's ARN) only.
    """
    logs = aws.s3.Bucket(
        name,
        bucket=bucket_name,
        # Re-creatable logs go with their environment; a protected bucket stays.
        force_destroy=None if protect else True,
        opts=child(parent, protect=protect),
    )
    versioning = harden_bucket(parent, name, logs, sse_kms_key=None)
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-expiry",
        bucket=logs.id,
        rules=[
            {
                "id": "expire-access-logs",
                "status": "Enabled",
                "filter": {},
                "expiration": {"days": retention_days},
                "noncurrent_version_expiration": {"noncurrent_days": 1},
                "abort_incomplete_multipart_upload": {
                    "days_after_initiation": abandoned_upload_days
                },
            }
        ],
        opts=child(parent, depends_on=[versioning]),
    )
    aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=logs.id,
        policy=pulumi.Output.all(logs.arn, sources_arn_pattern, account_id).apply(
            lambda v: json.dumps(
                tls_only_bucket_policy(v[0], [access_log_delivery(v[0], v[1], v[2])])
            )
        ),
        opts=child(parent),
    )
    return logs


def log_access(
    parent: pulumi.Resource,
    name: str,
    bucket: aws.s3.Bucket,
    log_bucket: pulumi.Input[str],
    prefix: str,
) -> None:
    aws.s3.BucketLogging(
        f"{name}-access-logging",
        bucket=bucket.id,
        target_bucket=log_bucket,
        target_prefix=f"{prefix}/",
        opts=child(parent),
    )
