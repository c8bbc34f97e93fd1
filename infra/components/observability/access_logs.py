"""AccessLogs: the environment's bucket for its other buckets' S3 server access logs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import type_token
from infra.components.buckets import access_log_bucket, bucket_name


@dataclass(frozen=True)
class AccessLogsArgs:
    resource_prefix: str
    account_id: str
    partition: str
    retention_days: int
    protect: bool


class AccessLogs(pulumi.ComponentResource):
    """Logs of every request to the environment's buckets (Security Hub S3.9, CloudTrail.7)."""

    bucket: aws.s3.Bucket

    def __init__(
        self, name: str, args: AccessLogsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("AccessLogs"), name, None, opts)
        self.bucket = access_log_bucket(
            self,
            f"{name}-bucket",
            bucket_name=bucket_name(args.resource_prefix, "access-logs", args.account_id),
            account_id=args.account_id,
            # The environment's buckets all start with its prefix.
            sources_arn_pattern=f"arn:{args.partition}:s3:::{args.resource_prefix}-*",
            retention_days=args.retention_days,
            protect=args.protect,
        )
        self.register_outputs({"bucket": self.bucket.bucket})
