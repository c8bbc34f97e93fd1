"""Monitoring: the in-cluster stack of one environment, in its `monitoring` namespace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components._common import child, type_token
from infra.components.addons.irsa import ClusterIdentity
from infra.components.observability import logs, traces
from infra.components.observability.logs import Logs
from infra.components.observability.long_term import (
    QUERY_PORT,
    QUERY_SERVICE,
    LongTermMetrics,
)
from infra.components.observability.metrics import Metrics, MetricsArgs
from infra.components.observability.storage import TelemetryArgs
from infra.components.observability.traces import Traces
from infra.config import AlertingSpec, MonitoringSpec

NAMESPACE = "monitoring"


def grafana_datasources(namespace: str, long_term: bool) -> list[dict[str, Any]]:
    """Loki and Tempo (and Thanos Query) beside the chart's own Prometheus datasource."""
    sources: list[dict[str, Any]] = [
        {
            "name": "Loki",
            "type": "loki",
            "uid": "loki",
            "url": f"http://loki.{namespace}.svc.cluster.local:{logs.PORT}",
            "access": "proxy",
        },
        {
            "name": "Tempo",
            "type": "tempo",
            "uid": "tempo",
            "url": f"http://tempo.{namespace}.svc.cluster.local:{traces.QUERY_PORT}",
            "access": "proxy",
            # From a span to its pod's logs around the same time.
            "jsonData": {"tracesToLogsV2": {"datasourceUid": "loki"}},
        },
    ]
    if long_term:
        sources.append(
            {
                "name": "Thanos",
                "type": "prometheus",
                "uid": "thanos",
                "url": f"http://{QUERY_SERVICE}.{namespace}.svc.cluster.local:{QUERY_PORT}",
                "access": "proxy",
            }
        )
    return sources


@dataclass(frozen=True)
class MonitoringArgs:
    spec: MonitoringSpec
    alerting: AlertingSpec
    environment: str
    resource_prefix: str
    account_id: str
    region: str
    kms_key_arn: pulumi.Input[str]
    log_bucket: pulumi.Input[str]
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None
    protect: bool
    # The StorageClass the volumes are made with.
    wait_for: list[pulumi.Resource]


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack, Loki and Alloy, Tempo, and Thanos where long-term metrics are on.

    ``opts`` carries both providers: AWS for the buckets and roles, the
    cluster's Kubernetes provider for the namespace, Secrets and charts.
    """

    outputs: dict[str, pulumi.Output[Any]]

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Monitoring"), name, None, opts)
        spec = args.spec
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": NAMESPACE,
                "labels": {
                    # node-exporter reads the host (hostNetwork, hostPID,
                    # hostPath /proc and /sys): privileged is the only level that
                    # admits it. Nothing else runs here.
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "pod-security.kubernetes.io/warn": "baseline",
                    "stagecraft.io/purpose": "monitoring",
                },
            },
            opts=child(self),
        )
        wait_for: list[pulumi.Resource] = [namespace, *args.wait_for]
        common = TelemetryArgs(
            spec=spec,
            namespace=namespace.metadata.name,
            namespace_name=NAMESPACE,
            resource_prefix=args.resource_prefix,
            account_id=args.account_id,
            region=args.region,
            kms_key_arn=args.kms_key_arn,
            log_bucket=args.log_bucket,
            cluster=args.cluster,
            boundary_arn=args.boundary_arn,
            protect=args.protect,
            wait_for=wait_for,
        )
        logs_component = Logs(f"{name}-logs", common, opts=child(self))
        traces_component = Traces(f"{name}-traces", common, opts=child(self))
        long_term = (
            LongTermMetrics(f"{name}-long-term", common, opts=child(self))
            if spec.long_term_metrics
            else None
        )
        metrics = Metrics(
            f"{name}-metrics",
            MetricsArgs(
                spec=spec,
                alerting=args.alerting,
                environment=args.environment,
                namespace=namespace.metadata.name,
                namespace_name=NAMESPACE,
                resource_prefix=args.resource_prefix,
                kms_key_arn=args.kms_key_arn,
                protect=args.protect,
                sidecar_role_arn=long_term.sidecar_role.arn if long_term else None,
                datasources=grafana_datasources(NAMESPACE, spec.long_term_metrics),
                wait_for=[*wait_for, *([long_term.objstore_secret] if long_term else [])],
            ),
            opts=child(self),
        )
        self.outputs = {
            "monitoringNamespace": pulumi.Output.from_input(NAMESPACE),
            "grafanaAdminSecretArn": metrics.grafana_admin_secret_arn,
            "logsBucket": logs_component.bucket.bucket,
            "tracesBucket": traces_component.bucket.bucket,
        }
        if long_term:
            self.outputs["metricsBucket"] = long_term.bucket.bucket
        self.register_outputs(self.outputs)
