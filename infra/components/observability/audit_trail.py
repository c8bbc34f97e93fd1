"""AuditTrail: CloudTrail "to track every action in production".

One trail records the whole account's management events (read and write)
in every region, with log file validation (a signed digest every hour, so a
changed or deleted file shows), encrypted with the environment's key, into
a bucket nobody but CloudTrail writes to, and into CloudWatch Logs for
searching and metric filters. Only the first copy of management events is
free, which is why there is one trail per account, turned on in the stack
that owns the account's audit (stagecraft:cloudTrail).
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import child, encrypted_log_group, service_role, type_token
from infra.components.buckets import (
    ABANDONED_UPLOAD_DAYS,
    bucket_name,
    bucket_policy,
    harden_bucket,
    log_access,
)

KEY_PREFIX = "cloudtrail"
# A version the lifecycle's expiry (or anything else) replaced is kept this
# much longer: a file tampered with stays recoverable for a month, and an
# expired one is gone 30 days after cloudTrailRetentionDays.
NONCURRENT_VERSION_DAYS = 30


def trail_name(resource_prefix: str) -> str:
    return f"{resource_prefix}-trail"


def trail_arn(partition: str, region: str, account_id: str, resource_prefix: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{trail_name(resource_prefix)}"


def delivery_statements(bucket_arn: str, trail: str, account_id: str) -> list[dict[str, object]]:
    """CloudTrail (this trail only) checks the ACL and writes under its prefix."""
    return [
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        },
        {
            "Sid": "CloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{KEY_PREFIX}/AWSLogs/{account_id}/*",
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": trail,
                }
            },
        },
    ]


@dataclass(frozen=True)
class AuditTrailArgs:
    resource_prefix: str
    region: str
    account_id: str
    partition: str
    kms_key_arn: pulumi.Input[str]
    log_bucket: pulumi.Input[str]
    retention_days: int  # the bucket's lifecycle
    log_group_retention_days: int  # CloudWatch Logs (auditLogRetentionDays)
    boundary_arn: pulumi.Input[str] | None
    protect: bool


class AuditTrail(pulumi.ComponentResource):
    """The trail, its bucket, its log group and the role that delivers to it."""

    trail: aws.cloudtrail.Trail

    def __init__(
        self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("AuditTrail"), name, None, opts)
        prefix = args.resource_prefix
        arn = trail_arn(args.partition, args.region, args.account_id, prefix)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name(prefix, "cloudtrail", args.account_id),
            opts=child(self, protect=args.protect),
        )
        versioning = harden_bucket(self, f"{name}-bucket", bucket, sse_kms_key=args.kms_key_arn)
        policy = bucket_policy(
            self,
            f"{name}-bucket",
            bucket,
            lambda bucket_arn: delivery_statements(bucket_arn, arn, args.account_id),
        )
        log_access(self, f"{name}-bucket", bucket, args.log_bucket, prefix="cloudtrail")
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-trail",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"days": args.retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": ABANDONED_UPLOAD_DAYS
                    },
                },
                {
                    # The markers the expiry leaves once their versions are gone
                    # (S3 takes this only in a rule of its own, without days).
                    "id": "remove-expired-delete-markers",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"expired_object_delete_marker": True},
                },
            ],
            opts=child(self, depends_on=[versioning]),
        )
        log_group = encrypted_log_group(
            self,
            f"{name}-logs",
            log_group_name=f"/aws/cloudtrail/{prefix}",
            retention_days=args.log_group_retention_days,
            kms_key_arn=args.kms_key_arn,
        )
        delivery, delivery_policy = service_role(
            self,
            f"{name}-delivery",
            service="cloudtrail.amazonaws.com",
            source_account=args.account_id,
            description="CloudTrail: writes the trail into its CloudWatch log group",
            policy=log_group.arn.apply(
                lambda group: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": f"{group}:log-stream:*",
                            }
                        ],
                    }
                )
            ),
            boundary_arn=args.boundary_arn,
        )
        self.trail = aws.cloudtrail.Trail(
            name,
            name=trail_name(prefix),
            s3_bucket_name=bucket.id,
            s3_key_prefix=KEY_PREFIX,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=args.kms_key_arn,
            # "CloudTrail requires the Log Stream wildcard".
            cloud_watch_logs_group_arn=log_group.arn.apply(lambda group: f"{group}:*"),
            cloud_watch_logs_role_arn=delivery.arn,
            event_selectors=[{"read_write_type": "All", "include_management_events": True}],
            # CreateTrail checks the bucket policy and the delivery role's rights.
            opts=child(self, depends_on=[policy, delivery_policy], protect=args.protect),
        )
        self.register_outputs({"trailArn": self.trail.arn, "bucket": bucket.bucket})
