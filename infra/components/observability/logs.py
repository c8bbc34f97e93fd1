"""Logs: Loki keeps every pod's logs in the environment's logs bucket; Alloy ships them.

Loki runs as one monolithic replica (the chart's mode "for small installs
... up to a few tens of GB/day"): chunks and index in S3 under the
environment's key, its compactor enforcing the retention. Alloy (a
DaemonSet) reads each node's pods through the API server, so it needs no
host paths; Promtail reached end of life on 2026-03-02.
https://grafana.com/docs/loki/latest/setup/install/helm/deployment-guides/aws/
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.charts import ALLOY, LOKI
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

SERVICE_ACCOUNT = "loki"
PORT = 3100
# Single-tenant Loki writes every chunk under this tenant's prefix; only those
# may be expired by the lifecycle ("never apply a lifecycle rule with an
# empty prefix": the index and the cluster seed must stay).
TENANT = "fake"
# The first day of the schema: before any log was written. Never edited once
# deployed; a schema change is a new entry with a later date.
SCHEMA_FROM = "2026-01-01"


def loki_values(spec: MonitoringSpec, *, bucket: str, region: str, role_arn: str) -> dict[str, Any]:
    retention = f"{spec.logs_retention_days * 24}h"
    return {
        "deploymentMode": "Monolithic",
        "loki": {
            # One tenant: no X-Scope-OrgID on every push and query.
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "schemaConfig": {
                "configs": [
                    {
                        "from": SCHEMA_FROM,
                        "store": "tsdb",
                        "object_store": "s3",
                        "schema": "v13",
                        # Retention works only with a 24 h index period.
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "storage": {
                "type": "s3",
                "bucketNames": {"chunks": bucket, "ruler": bucket},
                "s3": {"region": region},
            },
            "limits_config": {"retention_period": retention},
            "compactor": {
                "retention_enabled": True,
                "delete_request_store": "s3",
                "retention_delete_delay": "2h",
            },
        },
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {ROLE_ARN_ANNOTATION: role_arn},
        },
        # The chart refuses replicas of both modes ("more than zero replicas
        # configured for both the monolithic and simple scalable targets").
        "backend": {"replicas": 0},
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "singleBinary": {
            "replicas": 1,
            "persistence": {
                "enabled": True,
                "storageClass": STORAGE_CLASS,
                "size": f"{spec.logs_volume_gb}Gi",
            },
        },
        # The chart's memcached caches ask for 8 GiB and more: more than a node.
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        # Grafana and Alloy talk to the loki Service directly.
        "gateway": {"enabled": False},
    }


# Every pod's logs, labelled by namespace, pod and container, read through the
# API server (loki.source.kubernetes): no host path, so the DaemonSet passes
# the baseline Pod Security level.
ALLOY_CONFIG = """\
discovery.kubernetes "pods" {
  role = "pod"
  selectors {
    role  = "pod"
    field = "spec.nodeName=" + coalesce(sys.env("HOSTNAME"), constants.hostname)
  }
}

discovery.relabel "pods" {
  targets = discovery.kubernetes.pods.targets
  rule {
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }
  rule {
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }
}

loki.source.kubernetes "pods" {
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}

loki.write "default" {
  endpoint {
    url = "http://loki.%(namespace)s.svc.cluster.local:%(port)d/loki/api/v1/push"
  }
}
"""


def alloy_values(namespace: str) -> dict[str, Any]:
    return {
        "alloy": {
            "configMap": {
                "create": True,
                "content": ALLOY_CONFIG % {"namespace": namespace, "port": PORT},
            }
        },
        "controller": {"type": "daemonset"},
        # What discovery.kubernetes and loki.source.kubernetes read, and no
        # more: the chart's default rules also grant every Secret and
        # ConfigMap of the cluster (for remote.kubernetes.*, unused here).
        "rbac": {
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "pods/log", "namespaces"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
            "clusterRules": [],
        },
    }


class Logs(pulumi.ComponentResource):
    """The logs bucket, Loki's role on it (and nothing else), Loki and Alloy."""

    bucket: aws.s3.Bucket

    def __init__(
        self, name: str, args: TelemetryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Logs"), name, None, opts)
        self.bucket = telemetry_bucket(
            self,
            f"{name}-bucket",
            args,
            purpose="logs",
            expiries=[Expiry(f"{TENANT}/", args.spec.logs_retention_days + LIFECYCLE_GRACE_DAYS)],
        )
        bucket = bucket_name(args.resource_prefix, "logs", args.account_id)
        role = bucket_role(
            self,
            f"{name}-loki",
            args,
            bucket=self.bucket,
            service_account=SERVICE_ACCOUNT,
            actions=READ_WRITE_DELETE,
            description=f"Loki: the logs bucket {bucket} only",
        )
        loki = pinned_release(
            self,
            f"{name}-loki",
            LOKI,
            namespace=args.namespace,
            values=role.arn.apply(
                lambda arn: loki_values(args.spec, bucket=bucket, region=args.region, role_arn=arn)
            ),
            depends_on=args.wait_for,
        )
        pinned_release(
            self,
            f"{name}-alloy",
            ALLOY,
            namespace=args.namespace,
            values=alloy_values(args.namespace_name),
            depends_on=[*args.wait_for, loki],
        )
        self.register_outputs({"bucket": self.bucket.bucket, "chartVersion": LOKI.version})
