"""The telemetry buckets (logs, traces, long-term metrics) and the access their writers get.

Each bucket belongs to one environment and one tool: encrypted with the
environment's key, public access blocked, TLS only, versioned (a deleted
object stays a day, then goes), its requests logged to the environment's
access-log bucket, and a lifecycle that expires what the tool's own
retention left behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._common import child
from infra.components.addons.irsa import ClusterIdentity, irsa_role
from infra.components.buckets import (
    ABANDONED_UPLOAD_DAYS,
    bucket_policy,
    harden_bucket,
    log_access,
)
from infra.config import MonitoringSpec

# Objects the tool's compactor missed are expired this long after its own
# retention (Loki: "longer than your retention period plus
# compactor.retention-delete-delay", 2 h by default).
LIFECYCLE_GRACE_DAYS = 2

READ = ("s3:ListBucket", "s3:GetObject")
READ_WRITE = (*READ, "s3:PutObject")
READ_WRITE_DELETE = (*READ_WRITE, "s3:DeleteObject")


def bucket_name(resource_prefix: str, purpose: str, account_id: str) -> str:
    """Globally unique and predictable: the prefix, what it holds, the account."""
    return f"{resource_prefix}-{purpose}-{account_id}"


@dataclass(frozen=True)
class Expiry:
    """Objects under ``prefix`` ("" = all) are deleted ``days`` after they were written."""

    prefix: str
    days: int


def telemetry_bucket(
    parent: pulumi.Resource,
    name: str,
    args: TelemetryArgs,
    *,
    purpose: str,
    expiries: Sequence[Expiry],
) -> aws.s3.Bucket:
    """The environment's ``purpose`` bucket (logs, traces, metrics), held to the standard."""
    bucket = bucket_name(args.resource_prefix, purpose, args.account_id)
    created = aws.s3.Bucket(
        name,
        bucket=bucket,
        # Telemetry is re-creatable; a protected environment keeps it anyway.
        force_destroy=None if args.protect else True,
        opts=child(parent, protect=args.protect),
    )
    versioning = harden_bucket(parent, name, created, sse_kms_key=args.kms_key_arn)
    bucket_policy(parent, name, created)
    log_access(parent, name, created, args.log_bucket, prefix=bucket)
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


def bucket_role(
    parent: pulumi.Resource,
    name: str,
    args: TelemetryArgs,
    *,
    bucket: aws.s3.Bucket,
    service_account: str,
    actions: Sequence[str],
    description: str,
) -> aws.iam.Role:
    """The IRSA role of ``monitoring/service_account``: ``actions`` on ``bucket`` only."""
    return irsa_role(
        parent,
        name,
        cluster=args.cluster,
        namespace=args.namespace_name,
        service_account=service_account,
        policy=access_policy(bucket, args.kms_key_arn, actions),
        description=description,
        boundary_arn=args.boundary_arn,
    )


def bucket_access_policy(bucket_arn: str, key_arn: str, actions: Sequence[str]) -> str:
    """``actions`` on one bucket and its objects, and the key its objects are encrypted with."""
    object_actions = [a for a in actions if a != "s3:ListBucket"]
    statements: list[dict[str, object]] = []
    if "s3:ListBucket" in actions:
        statements.append(
            {"Sid": "ListTheBucket", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": bucket_arn}
        )  # fmt: skip
    statements += [
        {
            "Sid": "ItsObjects",
            "Effect": "Allow",
            "Action": object_actions,
            "Resource": f"{bucket_arn}/*",
        },
        {
            # SSE-KMS objects: reading decrypts, writing asks for a data key.
            "Sid": "TheBucketsKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def access_policy(
    bucket: aws.s3.Bucket, kms_key_arn: pulumi.Input[str], actions: Sequence[str]
) -> pulumi.Output[str]:
    return pulumi.Output.all(bucket.arn, kms_key_arn).apply(
        lambda v: bucket_access_policy(str(v[0]), str(v[1]), actions)
    )


@dataclass(frozen=True)
class TelemetryArgs:
    """What each telemetry component (logs, traces, long-term metrics) is built from."""

    spec: MonitoringSpec
    namespace: pulumi.Input[str]
    namespace_name: str
    resource_prefix: str
    account_id: str
    region: str
    kms_key_arn: pulumi.Input[str]
    log_bucket: pulumi.Input[str]  # the environment's access-log bucket
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None
    protect: bool
    wait_for: list[pulumi.Resource]  # the namespace and the StorageClass
