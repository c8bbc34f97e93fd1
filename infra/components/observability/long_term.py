"""Long-term metrics: Prometheus's blocks in S3, downsampled, expired and served by Thanos.

Why Thanos and not Amazon Managed Service for Prometheus: AMP bills every
sample ingested (about $0.90 per 10 million; 150k series scraped every 30 s
is some 13 billion samples, ~$560, a month), where S3 costs a few dollars
and Thanos about one vCPU. The sidecar runs in the Prometheus pod (so in its
ServiceAccount) and uploads each two-hour block; the compactor downsamples
and deletes past the retention; the store gateway and query serve the bucket
to Grafana next to what Prometheus still holds.
https://thanos.io/tip/thanos/quick-tutorial.md/
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from infra.charts import THANOS
from infra.components._common import child, type_token
from infra.components.addons.block_storage import STORAGE_CLASS
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION
from infra.components.addons.release import pinned_release
from infra.components.buckets import bucket_name
from infra.components.observability.metrics import (
    OBJSTORE_KEY,
    OBJSTORE_SECRET,
    PROMETHEUS_SERVICE_ACCOUNT,
    THANOS_DISCOVERY,
)
from infra.components.observability.storage import (
    READ,
    READ_WRITE,
    READ_WRITE_DELETE,
    TelemetryArgs,
    bucket_role,
    telemetry_bucket,
)
from infra.config import MonitoringSpec

COMPACTOR_SERVICE_ACCOUNT = "thanos-compact"
STORE_GATEWAY_SERVICE_ACCOUNT = "thanos-store-gateway"
COMPACTOR_VOLUME_GB = 20
STORE_GATEWAY_VOLUME_GB = 10
QUERY_SERVICE = "thanos-query"
QUERY_PORT = 10902


def objstore_config(bucket: str, region: str) -> str:
    """Thanos's S3 client config: bucket and region, credentials from IRSA.

    No `sse_config`: the bucket encrypts every object with the environment's
    key by default.
    """
    return yaml.safe_dump(
        {
            "type": "S3",
            "config": {
                "bucket": bucket,
                "endpoint": f"s3.{region}.amazonaws.com",
                "region": region,
                "aws_sdk_auth": True,
            },
        },
        sort_keys=True,
    )


def thanos_values(
    spec: MonitoringSpec, *, namespace: str, compactor_role_arn: str, store_role_arn: str
) -> dict[str, Any]:
    retention = f"{spec.long_term_metrics_retention_days}d"
    return {
        "objstoreConfig": {"create": False, "name": OBJSTORE_SECRET, "key": OBJSTORE_KEY},
        "additionalEndpoints": [
            f"dnssrv+_grpc._tcp.{THANOS_DISCOVERY}.{namespace}.svc.cluster.local"
        ],
        "compact": {
            "enabled": True,
            "serviceAccount": {
                "create": True,
                "name": COMPACTOR_SERVICE_ACCOUNT,
                "annotations": {ROLE_ARN_ANNOTATION: compactor_role_arn},
            },
            "extraArgs": [
                f"--retention.resolution-raw={retention}",
                f"--retention.resolution-5m={retention}",
                f"--retention.resolution-1h={retention}",
            ],
            "persistence": {
                "enabled": True,
                "storageClass": STORAGE_CLASS,
                "size": f"{COMPACTOR_VOLUME_GB}Gi",
            },
        },
        "storeGateway": {
            "enabled": True,
            "serviceAccount": {
                "create": True,
                "name": STORE_GATEWAY_SERVICE_ACCOUNT,
                "annotations": {ROLE_ARN_ANNOTATION: store_role_arn},
            },
            "persistence": {
                "enabled": True,
                "storageClass": STORAGE_CLASS,
                "size": f"{STORE_GATEWAY_VOLUME_GB}Gi",
            },
        },
        "query": {"enabled": True},
    }


class LongTermMetrics(pulumi.ComponentResource):
    """The metrics bucket, the sidecar's role and bucket config, and Thanos (compactor,
    store gateway, query)."""

    bucket: aws.s3.Bucket
    sidecar_role: aws.iam.Role
    objstore_secret: k8s.core.v1.Secret

    def __init__(
        self, name: str, args: TelemetryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("LongTermMetrics"), name, None, opts)
        # The compactor deletes past the retention; the lifecycle only cleans up.
        self.bucket = telemetry_bucket(self, f"{name}-bucket", args, purpose="metrics", expiries=[])
        bucket = bucket_name(args.resource_prefix, "metrics", args.account_id)

        def role(suffix: str, account: str, actions: tuple[str, ...], what: str) -> aws.iam.Role:
            return bucket_role(
                self,
                f"{name}-{suffix}",
                args,
                bucket=self.bucket,
                service_account=account,
                actions=actions,
                description=f"Thanos {what}: the metrics bucket {bucket} only",
            )

        # Least privilege per component: the sidecar never deletes, the store
        # gateway only reads; only the compactor rewrites and expires blocks.
        self.sidecar_role = role("sidecar", PROMETHEUS_SERVICE_ACCOUNT, READ_WRITE, "sidecar")
        compactor = role("compactor", COMPACTOR_SERVICE_ACCOUNT, READ_WRITE_DELETE, "compactor")
        store = role("store-gateway", STORE_GATEWAY_SERVICE_ACCOUNT, READ, "store gateway")
        self.objstore_secret = k8s.core.v1.Secret(
            f"{name}-objstore",
            metadata={"name": OBJSTORE_SECRET, "namespace": args.namespace},
            # The bucket's name and region only: the credentials are IRSA's.
            string_data={OBJSTORE_KEY: objstore_config(bucket, args.region)},
            opts=child(self, depends_on=args.wait_for),
        )
        values = pulumi.Output.all(compactor.arn, store.arn).apply(
            lambda v: thanos_values(
                args.spec,
                namespace=args.namespace_name,
                compactor_role_arn=str(v[0]),
                store_role_arn=str(v[1]),
            )
        )
        self.release = pinned_release(
            self,
            f"{name}-thanos",
            THANOS,
            namespace=args.namespace,
            values=values,
            depends_on=[*args.wait_for, self.objstore_secret],
        )
        self.register_outputs({"bucket": self.bucket.bucket, "chartVersion": THANOS.version})
