"""Every Helm chart a stack installs, pinned: repository, chart, version, app version.

One place, so an upgrade is one reviewed line and the offline plan shows it.
Pure data (no Pulumi), read by the config model (which refuses a cluster
version no pinned Cluster Autoscaler supports) and by the add-on components.
Versions were read from each chart's Chart.yaml at its release tag; the
`source` says where to check for newer ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPin:
    repository: str
    chart: str
    version: str
    app_version: str
    source: str


METRICS_SERVER = ChartPin(
    repository="https://kubernetes-sigs.github.io/metrics-server/",
    chart="metrics-server",
    # App 0.8.x supports Kubernetes 1.31+ (the project's compatibility matrix).
    version="3.13.1",
    app_version="0.8.1",
    source="https://github.com/kubernetes-sigs/metrics-server/releases",
)

AWS_LOAD_BALANCER_CONTROLLER = ChartPin(
    repository="https://aws.github.io/eks-charts",
    chart="aws-load-balancer-controller",
    version="3.5.0",
    app_version="v3.5.0",
    source="https://github.com/aws/eks-charts/tree/master/stable/aws-load-balancer-controller",
)
# The IAM policy the controller's maintainers publish for that version
# (docs/install/iam_policy.json at tag v3.5.0), kept verbatim beside its component.
AWS_LOAD_BALANCER_CONTROLLER_POLICY = "aws-load-balancer-controller-iam-policy-v3.5.0.json"

EXTERNAL_DNS = ChartPin(
    repository="https://kubernetes-sigs.github.io/external-dns/",
    chart="external-dns",
    version="1.21.1",
    app_version="0.21.0",
    source="https://github.com/kubernetes-sigs/external-dns/releases",
)

# The Cluster Autoscaler's minor version must equal the cluster's ("cross
# version compatibility is not tested or supported", EKS best practices), so
# it is pinned per Kubernetes minor: the last chart releasing that minor.
CLUSTER_AUTOSCALER_REPOSITORY = "https://kubernetes.github.io/autoscaler"
CLUSTER_AUTOSCALER: dict[str, ChartPin] = {
    minor: ChartPin(
        repository=CLUSTER_AUTOSCALER_REPOSITORY,
        chart="cluster-autoscaler",
        version=chart,
        app_version=app,
        source="https://github.com/kubernetes/autoscaler/releases",
    )
    for minor, chart, app in (
        ("1.33", "9.51.0", "1.33.0"),
        ("1.34", "9.53.0", "1.34.2"),
        ("1.35", "9.59.0", "1.35.0"),
    )
}


def all_pins() -> list[ChartPin]:
    return [
        METRICS_SERVER,
        AWS_LOAD_BALANCER_CONTROLLER,
        EXTERNAL_DNS,
        *CLUSTER_AUTOSCALER.values(),
    ]
