"""metrics-server: the resource metrics API HorizontalPodAutoscalers and `kubectl top` read."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.charts import METRICS_SERVER
from infra.components._common import type_token
from infra.components.addons.release import pinned_release

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
        self.release = pinned_release(
            self,
            name,
            pin,
            namespace=NAMESPACE,
            values={
                "replicas": args.replicas,
                # A PDB only means something with a second replica to keep.
                "podDisruptionBudget": {"enabled": args.replicas > 1, "maxUnavailable": 1},
                "priorityClassName": "system-cluster-critical",
            },
        )
        self.register_outputs({"chartVersion": pin.version})
