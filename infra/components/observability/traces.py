"""Traces: Tempo keeps them in the environment's traces bucket.

Why Tempo and not Jaeger: Tempo stores traces in S3 only (no database to
run), its retention is one setting, and Grafana links its traces to Loki's
logs. Jaeger needs an Elasticsearch/OpenSearch or Cassandra cluster per
environment, the dominant cost at staging's size. The single-binary chart
(Tempo 2.x): the distributed chart's Tempo 3 needs Kafka.
https://grafana.com/docs/tempo/latest/configuration/hosted-storage/s3/
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.charts import TEMPO
from infra.components._common import type_token
from infra.components.addons.block_storage import STORAGE_CLASS
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION
from infra.components.addons.release import pinned_release
from infra.components.buckets import Expiry, bucket_name
from infra.components.observability.storage import (
    LIFECYCLE_GRACE_DAYS,
    READ_WRITE_DELETE,
    TelemetryArgs,
    bucket_role,
    telemetry_bucket,
)
from infra.config import MonitoringSpec

SERVICE_ACCOUNT = "tempo"
QUERY_PORT = 3200
# Tempo's single tenant keeps its blocks under this prefix.
TENANT = "single-tenant"
# Tempo's minimal S3 permissions (its hosted-storage docs).
ACTIONS = (*READ_WRITE_DELETE, "s3:GetObjectTagging", "s3:PutObjectTagging")


def tempo_values(
    spec: MonitoringSpec, *, bucket: str, region: str, role_arn: str
) -> dict[str, Any]:
    return {
        "tempo": {
            "retention": f"{spec.traces_retention_days * 24}h",
            "storage": {
                "trace": {
                    "backend": "s3",
                    # No keys: the AWS credential chain (IRSA).
                    "s3": {
                        "bucket": bucket,
                        "endpoint": f"s3.{region}.amazonaws.com",
                        "region": region,
                    },
                }
            },
        },
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {ROLE_ARN_ANNOTATION: role_arn},
        },
        # The write-ahead log on a volume: a restart loses no accepted span.
        "persistence": {
            "enabled": True,
            "storageClassName": STORAGE_CLASS,
            "size": f"{spec.traces_volume_gb}Gi",
        },
    }


class Traces(pulumi.ComponentResource):
    """The traces bucket, Tempo's role on it (and nothing else), and Tempo."""

    bucket: aws.s3.Bucket

    def __init__(
        self, name: str, args: TelemetryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Traces"), name, None, opts)
        self.bucket = telemetry_bucket(
            self,
            f"{name}-bucket",
            args,
            purpose="traces",
            expiries=[Expiry(f"{TENANT}/", args.spec.traces_retention_days + LIFECYCLE_GRACE_DAYS)],
        )
        bucket = bucket_name(args.resource_prefix, "traces", args.account_id)
        role = bucket_role(
            self,
            f"{name}-tempo",
            args,
            bucket=self.bucket,
            service_account=SERVICE_ACCOUNT,
            actions=ACTIONS,
            description=f"Tempo: the traces bucket {bucket} only",
        )
        pinned_release(
            self,
            f"{name}-tempo",
            TEMPO,
            namespace=args.namespace,
            values=role.arn.apply(
                lambda arn: tempo_values(args.spec, bucket=bucket, region=args.region, role_arn=arn)
            ),
            depends_on=args.wait_for,
        )
        self.register_outputs({"bucket": self.bucket.bucket, "chartVersion": TEMPO.version})
