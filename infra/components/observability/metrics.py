"""Metrics, dashboards and alert routing: kube-prometheus-stack and its CRDs.

The Prometheus Operator's CRDs come from their own chart, installed first:
kube-prometheus-stack ships them in crds/, which Helm installs once and
never upgrades, and they are too large for a client-side apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.charts import KUBE_PROMETHEUS_STACK, PROMETHEUS_OPERATOR_CRDS
from infra.components._common import child, type_token
from infra.components.addons.block_storage import STORAGE_CLASS
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION
from infra.components.addons.release import pinned_release
from infra.components.observability.routing import (
    RECEIVERS_SECRET,
    alertmanager_config,
    receiver_secret_data,
)
from infra.components.secrets import store_secret
from infra.config import AlertingSpec, MonitoringSpec

PROMETHEUS_SERVICE_ACCOUNT = "prometheus"
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_USER = "admin"
GRAFANA_PASSWORD_LENGTH = 32
GRAFANA_VOLUME_GB = 10
ALERTMANAGER_VOLUME_GB = 2
# Prometheus stops at this share of its volume whatever the retention says:
# the rest is the write-ahead log's and compaction's headroom.
RETENTION_SIZE_SHARE = 0.85
# The Secret (key) the Thanos sidecar reads its bucket from.
OBJSTORE_SECRET = "thanos-objstore"  # made by long_term.LongTermMetrics
OBJSTORE_KEY = "objstore.yml"
# The headless Service the chart makes for Thanos Query to find the sidecar.
THANOS_DISCOVERY = "kube-prometheus-stack-thanos-discovery"


def pvc(size_gb: int) -> dict[str, Any]:
    return {
        "spec": {
            "storageClassName": STORAGE_CLASS,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{size_gb}Gi"}},
        }
    }


def kube_prometheus_values(
    spec: MonitoringSpec,
    alerting: AlertingSpec,
    *,
    environment: str,
    namespace: str,
    sidecar_role_arn: str | None,
    datasources: list[dict[str, Any]],
) -> dict[str, Any]:
    """The chart's values: retention and volumes from config, routing from alerting."""
    retention_size = int(spec.metrics_volume_gb * RETENTION_SIZE_SHARE)
    prometheus_spec: dict[str, Any] = {
        "retention": f"{spec.metrics_retention_days}d",
        "retentionSize": f"{retention_size}GB",
        "externalLabels": {"environment": environment},
        # Pick up the ServiceMonitors and rules of the other releases (Loki, Tempo, ...).
        "ruleSelectorNilUsesHelmValues": False,
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "storageSpec": {"volumeClaimTemplate": pvc(spec.metrics_volume_gb)},
        "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
    }
    prometheus: dict[str, Any] = {
        "serviceAccount": {"create": True, "name": PROMETHEUS_SERVICE_ACCOUNT},
        "prometheusSpec": prometheus_spec,
    }
    if sidecar_role_arn is not None:
        prometheus["serviceAccount"]["annotations"] = {ROLE_ARN_ANNOTATION: sidecar_role_arn}
        prometheus_spec["thanos"] = {
            "objectStorageConfig": {
                "existingSecret": {"name": OBJSTORE_SECRET, "key": OBJSTORE_KEY}
            }
        }
        prometheus["thanosService"] = {"enabled": True}
    return {
        # From the prometheus-operator-crds release instead (see the module's docstring).
        "crds": {"enabled": False},
        # EKS runs these off the cluster: nothing to scrape, so no alerts that
        # would fire forever (TargetDown). kube-proxy serves its metrics on
        # 127.0.0.1 only.
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "defaultRules": {
            "rules": {
                "etcd": False,
                "kubeControllerManager": False,
                "kubeSchedulerAlerting": False,
                "kubeSchedulerRecording": False,
                "kubeProxy": False,
                "windows": False,
            }
        },
        "prometheus": prometheus,
        "alertmanager": {
            "config": alertmanager_config(alerting, environment),
            "alertmanagerSpec": {
                "secrets": [RECEIVERS_SECRET],
                "retention": "120h",
                "storage": {"volumeClaimTemplate": pvc(ALERTMANAGER_VOLUME_GB)},
            },
        },
        "grafana": {
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "persistence": {
                "enabled": True,
                "type": "pvc",
                "storageClassName": STORAGE_CLASS,
                "size": f"{GRAFANA_VOLUME_GB}Gi",
            },
            "additionalDataSources": datasources,
            # One replica on a ReadWriteOnce volume: the old pod must let go of
            # the volume before the new one starts (a rolling update would hang
            # in Multi-Attach when the new pod lands on another node).
            "deploymentStrategy": {"type": "Recreate"},
            "namespaceOverride": namespace,
        },
    }


@dataclass(frozen=True)
class MetricsArgs:
    spec: MonitoringSpec
    alerting: AlertingSpec
    environment: str
    namespace: pulumi.Input[str]
    namespace_name: str
    resource_prefix: str
    kms_key_arn: pulumi.Input[str]
    protect: bool
    # The Thanos sidecar's role (long-term metrics), if any; its bucket
    # config Secret is among ``wait_for``.
    sidecar_role_arn: pulumi.Input[str] | None
    datasources: list[dict[str, Any]]
    wait_for: list[pulumi.Resource]


class Metrics(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana; Grafana's admin password in Secrets Manager."""

    release: k8s.helm.v3.Release
    grafana_admin_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: MetricsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Metrics"), name, None, opts)
        namespace = args.namespace_name

        crds = pinned_release(
            self,
            f"{name}-crds",
            PROMETHEUS_OPERATOR_CRDS,
            namespace=args.namespace,
            # Uninstalling the release must not delete every Prometheus,
            # Alertmanager and ServiceMonitor in the cluster with the CRDs.
            values={"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}},
            depends_on=args.wait_for,
        )

        # Generated, never typed; kept in Secrets Manager for people, and in a
        # Secret for Grafana, which reads it when it first creates its database.
        password = random.RandomPassword(
            f"{name}-grafana-password",
            length=GRAFANA_PASSWORD_LENGTH,
            special=False,
            opts=child(self),
        )
        self.grafana_admin_secret_arn = store_secret(
            self,
            f"{name}-grafana-admin",
            secret_name=f"{args.resource_prefix}/grafana-admin",
            description=f"Grafana admin password of {args.resource_prefix} (generated, never "
            "typed; user 'admin')",
            value=password.result,
            kms_key_arn=args.kms_key_arn,
            protect=args.protect,
        ).arn
        grafana_admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin-secret",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": args.namespace},
            # `result` is a secret output, and so is what is made from it.
            string_data=password.result.apply(
                lambda pw: {"admin-user": GRAFANA_ADMIN_USER, "admin-password": pw}
            ),
            opts=child(self, depends_on=args.wait_for),
        )
        receivers = k8s.core.v1.Secret(
            f"{name}-alertmanager-receivers",
            metadata={"name": RECEIVERS_SECRET, "namespace": args.namespace},
            string_data=pulumi.Output.secret(receiver_secret_data(args.alerting)),
            opts=child(self, depends_on=args.wait_for),
        )
        before_release: list[pulumi.Resource] = [crds, grafana_admin, receivers]
        values = pulumi.Output.from_input(args.sidecar_role_arn).apply(
            lambda role_arn: kube_prometheus_values(
                args.spec,
                args.alerting,
                environment=args.environment,
                namespace=namespace,
                sidecar_role_arn=role_arn,
                datasources=args.datasources,
            )
        )
        self.release = pinned_release(
            self,
            name,
            KUBE_PROMETHEUS_STACK,
            namespace=args.namespace,
            values=values,
            # The CRDs come from the release above.
            skip_crds=True,
            depends_on=[*args.wait_for, *before_release],
        )
        self.register_outputs(
            {
                "chartVersion": KUBE_PROMETHEUS_STACK.version,
                "grafanaAdminSecretArn": self.grafana_admin_secret_arn,
            }
        )
