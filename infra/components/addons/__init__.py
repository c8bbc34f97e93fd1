"""What runs in a full environment's cluster beside the applications.

Each add-on is a component of its own (chart pinned in infra/charts.py,
an IRSA role per add-on that calls AWS, trusted by its one ServiceAccount);
:class:`ClusterAddons` builds those the stack's config turns on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from infra.components._common import child, type_token
from infra.components.addons.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from infra.components.addons.block_storage import BlockStorage, BlockStorageArgs
from infra.components.addons.dns import DnsZone, DnsZoneArgs
from infra.components.addons.external_dns import ExternalDns, ExternalDnsArgs
from infra.components.addons.irsa import ClusterIdentity
from infra.components.addons.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
    ingress_annotations,
)
from infra.components.addons.metrics_server import MetricsServer, MetricsServerArgs
from infra.config import AddonsSpec

__all__ = ["ClusterAddons", "ClusterAddonsArgs", "ClusterIdentity", "ingress_annotations"]


@dataclass(frozen=True)
class ClusterAddonsArgs:
    spec: AddonsSpec
    cluster_name: str
    kubernetes_version: str
    region: str
    resource_prefix: str
    vpc_id: pulumi.Input[str]
    vpc_arn: pulumi.Input[str]
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None
    tags: Mapping[str, str]
    protect: bool
    kms_key_arn: pulumi.Input[str]
    partition: pulumi.Input[str]
    # The nodes (and the cluster's other prerequisites) the add-ons run on.
    nodes: Sequence[pulumi.Resource] = ()


class ClusterAddons(pulumi.ComponentResource):
    """Block storage, DNS zone and certificate, autoscaler, metrics-server, ingress and
    external-dns.

    ``opts`` carries both providers: AWS for the zone, certificate and
    roles, Kubernetes (the cluster's) for the charts and the ingress class.
    """

    outputs: dict[str, pulumi.Output[object]]
    ingress_class: str | None
    ingress_group: str | None
    storage: BlockStorage
    # The charts (and the ingress class): what the application namespace waits for.
    releases: list[pulumi.Resource]

    def __init__(
        self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("ClusterAddons"), name, None, opts)
        spec = args.spec
        self.outputs = {}
        self.ingress_class = self.ingress_group = None
        self.releases = []

        self.storage = BlockStorage(
            f"{name}-block-storage",
            BlockStorageArgs(
                cluster_name=args.cluster_name,
                kubernetes_version=args.kubernetes_version,
                kms_key_arn=args.kms_key_arn,
                cluster=args.cluster,
                boundary_arn=args.boundary_arn,
                partition=args.partition,
                retain_volumes=args.protect,
                wait_for=args.nodes,
            ),
            opts=child(self),
        )
        if spec.cluster_autoscaler:
            autoscaler = ClusterAutoscaler(
                f"{name}-cluster-autoscaler",
                ClusterAutoscalerArgs(
                    spec=spec,
                    cluster_name=args.cluster_name,
                    kubernetes_version=args.kubernetes_version,
                    region=args.region,
                    cluster=args.cluster,
                    boundary_arn=args.boundary_arn,
                ),
                opts=child(self),
            )
            self.releases.append(autoscaler.release)
        if spec.metrics_server:
            metrics = MetricsServer(
                f"{name}-metrics-server",
                MetricsServerArgs(replicas=spec.addon_replicas),
                opts=child(self),
            )
            self.releases.append(metrics.release)
        if not spec.domain:
            self.register_outputs(self.outputs)
            return

        dns = DnsZone(
            f"{name}-dns",
            DnsZoneArgs(
                domain=spec.domain,
                parent_zone_id=spec.parent_zone_id,
                resource_prefix=args.resource_prefix,
                protect=args.protect,
            ),
            opts=child(self),
        )
        self.outputs.update(
            {
                "domain": pulumi.Output.from_input(spec.domain),
                "zoneId": dns.zone.zone_id,
                "nameServers": dns.zone.name_servers,
                "certificateArn": dns.certificate_arn,
                "url": pulumi.Output.from_input(f"https://{spec.domain}"),
            }
        )
        if spec.load_balancer_controller:
            controller = LoadBalancerController(
                f"{name}-load-balancer-controller",
                LoadBalancerControllerArgs(
                    spec=spec,
                    cluster_name=args.cluster_name,
                    region=args.region,
                    vpc_id=args.vpc_id,
                    vpc_arn=args.vpc_arn,
                    certificate_arn=dns.certificate_arn,
                    tags=args.tags,
                    cluster=args.cluster,
                    boundary_arn=args.boundary_arn,
                ),
                opts=child(self),
            )
            self.ingress_class = controller.ingress_class
            self.ingress_group = controller.ingress_group
            self.releases += [controller.release, controller.ingress_class_resource]
            self.outputs.update(
                {
                    "ingressClass": pulumi.Output.from_input(controller.ingress_class),
                    "ingressGroup": pulumi.Output.from_input(controller.ingress_group),
                }
            )
        if spec.external_dns:
            external_dns = ExternalDns(
                f"{name}-external-dns",
                ExternalDnsArgs(
                    domain=spec.domain,
                    zone_id=dns.zone.zone_id,
                    zone_arn=dns.zone.arn,
                    policy=spec.external_dns_policy,
                    owner_id=args.cluster_name,
                    region=args.region,
                    cluster=args.cluster,
                    boundary_arn=args.boundary_arn,
                ),
                opts=child(self),
            )
            self.releases.append(external_dns.release)
        self.register_outputs(self.outputs)
