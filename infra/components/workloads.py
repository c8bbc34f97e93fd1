"""Workloads: the environment's Kubernetes namespace and what the apps find in it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components._common import child, type_token
from infra.components.cache import REDIS_PORT
from infra.components.database import POSTGRES_PORT
from infra.config import FEATURE_FLAGS, WorkloadsSpec

CONNECTION_SECRET_NAME = "app-connection"
FEATURE_FLAGS_CONFIGMAP_NAME = "feature-flags"
INGRESS_CONFIGMAP_NAME = "ingress"
# Must match infra.components.addons.load_balancer_controller.INGRESS_GROUP_LABEL:
# only namespaces labelled for the group may use its IngressClass.
INGRESS_GROUP_LABEL = "stagecraft.io/ingress-group"


@dataclass(frozen=True)
class IngressSettings:
    """How the namespace's applications are reached: the environment's ALB.

    ``source_cidrs``: where the ALB's own addresses are (the public
    subnets); with IP targets the ALB connects to pods from there, so the
    default-deny lets those ranges in (and no pod ever has an address there).
    """

    ingress_class: pulumi.Input[str]
    group: pulumi.Input[str]
    host: pulumi.Input[str]
    source_cidrs: pulumi.Input[Sequence[str]]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class WorkloadsArgs:
    spec: WorkloadsSpec
    environment: str
    cluster_name: pulumi.Input[str]
    kubeconfig: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]  # where the database and cache are
    # What the applications find in the `app-connection` Secret: hosts,
    # ports, names and credentials.  Always stored as a secret.
    app_settings: pulumi.Input[Mapping[str, str]]
    # Created before the first Kubernetes object: nodes to schedule on, the
    # CNI add-on that enforces the NetworkPolicies below, the admins' access
    # and the network path to a private API endpoint.
    wait_for: Sequence[pulumi.Resource] = ()
    # The Kubernetes group of the developer roles, bound to the built-in `edit`
    # ClusterRole in this namespace only; None: developers only read.
    developers_edit_group: str | None = None
    # The environment's ALB, where its load balancer controller runs.
    ingress: IngressSettings | None = None
    # The environment's monitoring namespace, where it runs one: Prometheus
    # there scrapes the applications, which send their traces to Tempo there.
    monitoring_namespace: str | None = None
    # The cluster's provider where the caller made it (the full environments,
    # whose add-ons share it); None: Workloads makes its own from kubeconfig.
    provider: k8s.Provider | None = None
    # What the namespace is created after, and so deleted before: the
    # controllers that remove its Ingresses' load balancer rules and records.
    namespace_depends_on: Sequence[pulumi.Resource] = ()


class Workloads(pulumi.ComponentResource):
    """Namespace with connection settings, feature flags, quota and default-deny."""

    provider: k8s.Provider
    namespace: k8s.core.v1.Namespace
    namespace_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Workloads"), name, None, opts)
        spec = args.spec

        # Built from the cluster's own outputs, so nothing is read from or
        # written to ~/.kube; `cluster_identifier` keeps a kubeconfig change
        # (say, a new CA bundle) from replacing every object below.
        self.provider = args.provider or k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(args.kubeconfig),
            cluster_identifier=args.cluster_name,
            opts=child(self, depends_on=list(args.wait_for)),
        )
        labels = {
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/part-of": "stagecraft",
            "stagecraft.io/environment": args.environment,
        }

        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=spec.namespace,
                labels={
                    **labels,
                    # Refuse privileged pods; warn about what `restricted` would refuse.
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted",
                    **({INGRESS_GROUP_LABEL: args.ingress.group} if args.ingress else {}),
                },
            ),
            opts=child(self, provider=self.provider, depends_on=list(args.namespace_depends_on)),
        )
        self.namespace_name = self.namespace.metadata.apply(lambda m: m.name or spec.namespace)
        in_namespace = child(self, provider=self.provider, depends_on=[self.namespace])
        self.labels = labels

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=spec.namespace, labels=labels
            )

        secret_settings: pulumi.Output[Mapping[str, str]] = pulumi.Output.secret(args.app_settings)
        k8s.core.v1.Secret(
            f"{name}-connection",
            metadata=meta(CONNECTION_SECRET_NAME),
            type="Opaque",
            string_data=secret_settings,
            opts=in_namespace,
        )

        enabled = set(spec.feature_flags)
        k8s.core.v1.ConfigMap(
            f"{name}-feature-flags",
            metadata=meta(FEATURE_FLAGS_CONFIGMAP_NAME),
            data={
                "ENVIRONMENT": args.environment,
                "LOG_LEVEL": spec.app_log_level,
                **{flag: str(flag in enabled).lower() for flag in FEATURE_FLAGS},
            },
            opts=in_namespace,
        )

        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("environment-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": spec.quota_cpu_requests,
                    "requests.memory": spec.quota_memory_requests,
                    "limits.cpu": spec.quota_cpu_limits,
                    "limits.memory": spec.quota_memory_limits,
                    "pods": str(spec.quota_pods),
                }
            ),
            opts=in_namespace,
        )
        # With a quota on requests and limits, a pod that sets neither is
        # rejected; the LimitRange fills them in instead.
        k8s.core.v1.LimitRange(
            f"{name}-container-defaults",
            metadata=meta("container-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={
                            "cpu": spec.container_cpu_request,
                            "memory": spec.container_memory_request,
                        },
                        default={
                            "cpu": spec.container_cpu_limit,
                            "memory": spec.container_memory_limit,
                        },
                    )
                ]
            ),
            opts=in_namespace,
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny-all"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
            ),
            opts=in_namespace,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-app-traffic",
            metadata=meta("allow-app-traffic"),
            spec=_app_traffic_policy(spec, args.vpc_cidr),
            opts=in_namespace,
        )
        if args.monitoring_namespace is not None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-monitoring",
                metadata=meta("allow-monitoring"),
                spec=_monitoring_policy(args.monitoring_namespace),
                opts=in_namespace,
            )
        if args.ingress is not None:
            ingress = args.ingress
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-load-balancer",
                metadata=meta("allow-load-balancer"),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                    policy_types=["Ingress"],
                    ingress=[
                        k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                            from_=pulumi.Output.from_input(ingress.source_cidrs).apply(
                                lambda cidrs: [
                                    k8s.networking.v1.NetworkPolicyPeerArgs(
                                        ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
                                    )
                                    for cidr in cidrs
                                ]
                            )
                        )
                    ],
                ),
                opts=in_namespace,
            )
            # What an application's chart reads to publish itself: the class,
            # its hostname and the two annotations the class does not pin.
            k8s.core.v1.ConfigMap(
                f"{name}-ingress",
                metadata=meta(INGRESS_CONFIGMAP_NAME),
                data={
                    "INGRESS_CLASS": ingress.ingress_class,
                    "INGRESS_HOST": ingress.host,
                    "PUBLIC_URL": pulumi.Output.concat("https://", ingress.host),
                    "INGRESS_ANNOTATIONS": json.dumps(dict(ingress.annotations), sort_keys=True),
                },
                opts=in_namespace,
            )

        if args.developers_edit_group:
            k8s.rbac.v1.RoleBinding(
                f"{name}-developers-edit",
                metadata=meta("developers-edit"),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit"
                ),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(
                        api_group="rbac.authorization.k8s.io",
                        kind="Group",
                        name=args.developers_edit_group,
                    )
                ],
                opts=in_namespace,
            )

        self.register_outputs({"namespace": self.namespace_name})


def _namespace_peer(namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": namespace}
        )
    )


# Tempo's OTLP receivers (gRPC, HTTP): where applications send their traces.
OTLP_PORTS = (4317, 4318)


def _monitoring_policy(namespace: str) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Prometheus in the monitoring namespace scrapes any port an application serves
    metrics on; the applications send traces to Tempo's OTLP ports there, nothing else."""
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(),
        policy_types=["Ingress", "Egress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[_namespace_peer(namespace)])
        ],
        egress=[
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[_namespace_peer(namespace)], ports=[_tcp(port) for port in OTLP_PORTS]
            )
        ],
    )


def _tcp(port: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
    return k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)


def _app_traffic_policy(
    spec: WorkloadsSpec, vpc_cidr: pulumi.Input[str]
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """The only traffic the default-deny lets through.

    In: from pods of this namespace and from the ingress controller.
    Out: to pods of this namespace, DNS in kube-system, the database and cache
    ports inside the VPC, and HTTPS anywhere (AWS APIs such as STS and Secrets
    Manager have no fixed addresses).
    """
    same_namespace = k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs()
    )
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(),
        policy_types=["Ingress", "Egress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[same_namespace]),
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[_namespace_peer(spec.ingress_namespace)]
            ),
        ],
        egress=[
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[same_namespace]),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[_namespace_peer("kube-system")],
                ports=[
                    k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                    _tcp(53),
                ],
            ),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        ip_block=k8s.networking.v1.IPBlockArgs(cidr=vpc_cidr)
                    )
                ],
                ports=[_tcp(POSTGRES_PORT), _tcp(REDIS_PORT)],
            ),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=[_tcp(443)]),
        ],
    )
