"""external-dns: the Ingresses' hostnames become records in the environment's zone, only there."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from infra.charts import EXTERNAL_DNS
from infra.components._common import type_token
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION, ClusterIdentity, irsa_role
from infra.components.addons.release import pinned_release

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "external-dns"


def external_dns_policy(zone_arn: str) -> str:
    """Records of one zone. Listing zones takes no resource, and external-dns lists
    them on every sync (then filters by id, type and domain).

    https://kubernetes-sigs.github.io/external-dns/v0.21.0/docs/tutorials/aws/
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyThisEnvironmentsZone",
                    "Effect": "Allow",
                    "Action": [
                        "route53:ChangeResourceRecordSets",
                        "route53:ListResourceRecordSets",
                        "route53:ListTagsForResources",
                    ],
                    "Resource": zone_arn,
                },
                {
                    "Sid": "FindTheZone",
                    "Effect": "Allow",
                    "Action": "route53:ListHostedZones",
                    "Resource": "*",
                },
            ],
        }
    )


@dataclass(frozen=True)
class ExternalDnsArgs:
    domain: str
    zone_id: pulumi.Input[str]
    zone_arn: pulumi.Input[str]
    policy: str  # sync | upsert-only
    owner_id: str  # the TXT registry's owner: one per cluster writing into a zone
    region: str
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None


class ExternalDns(pulumi.ComponentResource):
    """The IRSA role limited to one zone, and the chart filtered to that zone and domain."""

    def __init__(
        self, name: str, args: ExternalDnsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("ExternalDns"), name, None, opts)
        pin = EXTERNAL_DNS
        self.role = irsa_role(
            self,
            f"{name}-irsa",
            cluster=args.cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=pulumi.Output.from_input(args.zone_arn).apply(external_dns_policy),
            description=f"external-dns of {args.owner_id}, zone {args.domain} only",
            boundary_arn=args.boundary_arn,
        )
        self.release = pinned_release(
            self,
            name,
            pin,
            namespace=NAMESPACE,
            values={
                "provider": {"name": "aws"},
                "domainFilters": [args.domain],
                "txtOwnerId": args.owner_id,
                "policy": args.policy,
                "registry": "txt",
                # The ownership records sit inside the zone for the apex too
                # (`_extdns-a.<domain>`, not `a-<domain>`, which is outside it):
                # the application's own hostname is the apex.
                "txtPrefix": "_extdns-%{record_type}.",
                "sources": ["ingress", "service"],
                "interval": "1m",
                "env": [{"name": "AWS_DEFAULT_REGION", "value": args.region}],
                "extraArgs": {
                    "aws-zone-type": "public",
                    "zone-id-filter": args.zone_id,
                },
                "serviceAccount": {
                    "create": True,
                    "name": SERVICE_ACCOUNT,
                    "annotations": {ROLE_ARN_ANNOTATION: self.role.arn},
                },
            },
        )
        self.register_outputs({"roleArn": self.role.arn, "chartVersion": pin.version})
