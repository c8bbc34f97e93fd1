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

import pulumi
import pulumi_aws as aws

from infra.components.addons.irsa import ClusterIdentity, irsa_role
from infra.components.buckets import Expiry, bucket_name, bucket_policy, kms_bucket
from infra.config import MonitoringSpec

# Objects the tool's compactor missed are expired this long after its own
# retention (Loki: "longer than your retention period plus
# compactor.retention-delete-delay", 2 h by default).
LIFECYCLE_GRACE_DAYS = 2

READ = ("s3:ListBucket", "s3:GetObject")
READ_WRITE = (*READ, "s3:PutObject")
READ_WRITE_DELETE = (*READ_WRITE, "s3:DeleteObject")


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
    created = kms_bucket(
        parent,
        name,
        bucket=bucket,
        kms_key_arn=args.kms_key_arn,
        protect=args.protect,
        log_bucket=args.log_bucket,
        log_prefix=bucket,
        expiries=expiries,
    )
    bucket_policy(parent, name, created)
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
