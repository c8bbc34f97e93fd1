"""metrics-server: the resource metrics API HorizontalPodAutoscalers and `kubectl top` read."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.charts import METRICS_SERVER
from infra.components._common import child, type_token

NAMESPACE = "kube-system"


@dataclass(frozen=True)
class MetricsServerArgs:
    replicas: int


class MetricsServer(pulumi.ComponentResource):
    """The pinned chart; no AWS permissions (it reads the kubelets only)."""

    def __init__(
        self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("MetricsServer"), name, None, opts)
        pin = METRICS_SERVER
        self.release = k8s.helm.v3.Release(
            name,
            name="metrics-server",
            chart=pin.chart,
            version=pin.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository),
            namespace=NAMESPACE,
            values={
                "replicas": args.replicas,
                # A PDB only means something with a second replica to keep.
                "podDisruptionBudget": {"enabled": args.replicas > 1, "maxUnavailable": 1},
                "priorityClassName": "system-cluster-critical",
            },
            opts=child(self),
        )
        self.register_outputs({"chartVersion": pin.version})
