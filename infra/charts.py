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
    # Where in the chart's values each persistent volume's size is (`50Gi`):
    # what `stagecraft cost` prices as gp3 storage.
    volume_sizes: tuple[str, ...] = ()


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

# Delivers the third-party secret slots into the environment's namespace.
# Only the newest minor is supported upstream ("external-secrets only supports
# the most up-to-date, current minor version", docs/introduction/
# stability-support.md); its API (external-secrets.io/v1) is served by every
# Kubernetes version the clusters may run, and the chart asks for >= 1.19.
EXTERNAL_SECRETS = ChartPin(
    repository="https://charts.external-secrets.io",
    chart="external-secrets",
    version="2.9.0",
    app_version="v2.9.0",
    source="https://github.com/external-secrets/external-secrets/releases",
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


# The monitoring stack. Grafana's open-source charts (loki, tempo, grafana)
# moved to grafana-community on 2026-03-16; the grafana repository's `loki`
# is now the Enterprise Logs chart. Alloy stays in the grafana repository.

# The Prometheus Operator's CRDs as regular templates, so every upgrade
# updates them (kube-prometheus-stack ships them in crds/, which Helm installs
# once and never upgrades). Its app version must equal the operator's below.
PROMETHEUS_OPERATOR_CRDS = ChartPin(
    repository="https://prometheus-community.github.io/helm-charts",
    chart="prometheus-operator-crds",
    version="31.0.1",
    app_version="v0.93.1",
    source="https://github.com/prometheus-community/helm-charts/releases",
)
KUBE_PROMETHEUS_STACK = ChartPin(
    repository="https://prometheus-community.github.io/helm-charts",
    chart="kube-prometheus-stack",
    # Prometheus v3.14.0, Alertmanager v0.34.0, Grafana 13.2.0 (subchart 12.11.1).
    version="88.5.3",
    app_version="v0.93.1",
    source="https://github.com/prometheus-community/helm-charts/releases",
    volume_sizes=(
        "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage",
        "alertmanager.alertmanagerSpec.storage.volumeClaimTemplate.spec.resources.requests.storage",
        "grafana.persistence.size",
    ),
)
LOKI = ChartPin(
    repository="https://grafana-community.github.io/helm-charts",
    chart="loki",
    version="18.11.0",
    app_version="3.7.6",
    source="https://github.com/grafana-community/helm-charts/releases",
    volume_sizes=("singleBinary.persistence.size",),
)
# Promtail reached end of life on 2026-03-02; Alloy is its successor.
ALLOY = ChartPin(
    repository="https://grafana.github.io/helm-charts",
    chart="alloy",
    version="1.11.1",
    app_version="v1.18.1",
    source="https://github.com/grafana/alloy/releases",
)
# The single-binary chart (Tempo 2.x): tempo-distributed 3.x needs Kafka.
TEMPO = ChartPin(
    repository="https://grafana-community.github.io/helm-charts",
    chart="tempo",
    version="2.2.4",
    app_version="2.10.8",
    source="https://github.com/grafana-community/helm-charts/releases",
    volume_sizes=("persistence.size",),
)
# Upstream quay.io/thanos/thanos images (Bitnami's catalogue is no longer free).
THANOS = ChartPin(
    repository="https://stevehipwell.github.io/helm-charts/",
    chart="thanos",
    version="1.24.1",
    app_version="0.42.4",
    source="https://github.com/stevehipwell/helm-charts/releases",
    volume_sizes=("compact.persistence.size", "storeGateway.persistence.size"),
)


# What the in-cluster monitoring stack installs (in its `monitoring` namespace).
MONITORING_CHARTS = (PROMETHEUS_OPERATOR_CRDS, KUBE_PROMETHEUS_STACK, LOKI, ALLOY, TEMPO, THANOS)


def all_pins() -> list[ChartPin]:
    return [
        METRICS_SERVER,
        AWS_LOAD_BALANCER_CONTROLLER,
        EXTERNAL_DNS,
        EXTERNAL_SECRETS,
        *CLUSTER_AUTOSCALER.values(),
        *MONITORING_CHARTS,
    ]
