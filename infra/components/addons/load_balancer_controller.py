"""The AWS Load Balancer Controller and the environment's one internet-facing ALB.

Every Ingress of class `alb` joins one IngressGroup, so the environment
pays for one ALB however many applications (and pr-<n>/dev-<name> stacks)
it serves. What a listener may be is pinned in the class's
IngressClassParams, which override an Ingress's own annotations: HTTPS with
the zone's certificate and a TLS 1.2+ policy, HTTP redirected, invalid
headers dropped. Only namespaces labelled for the group may use the class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws_types import ROLE_POLICY, physical_name
from infra.charts import AWS_LOAD_BALANCER_CONTROLLER, AWS_LOAD_BALANCER_CONTROLLER_POLICY
from infra.components._common import child, type_token
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION, ClusterIdentity, irsa_role
from infra.components.addons.release import pinned_release
from infra.config import AddonsSpec

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
INGRESS_CLASS = "alb"
CONTROLLER = "ingress.k8s.aws/alb"
# The namespace label that admits an Ingress to the environment's group.
INGRESS_GROUP_LABEL = "stagecraft.io/ingress-group"
# Both listeners; the HTTP one only redirects (IngressClassParams sslRedirectPort).
LISTEN_PORTS = '[{"HTTP": 80}, {"HTTPS": 443}]'


def published_policy() -> str:
    """The IAM policy the controller's maintainers publish for the pinned version."""
    path = Path(__file__).with_name(AWS_LOAD_BALANCER_CONTROLLER_POLICY)
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), separators=(",", ":"))


def own_vpc_only(vpc_arn: str) -> str:
    """Security group rules may change only in the environment's VPC."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "SecurityGroupRulesInThisVpcOnly",
                    "Effect": "Deny",
                    "Action": [
                        "ec2:AuthorizeSecurityGroupIngress",
                        "ec2:RevokeSecurityGroupIngress",
                    ],
                    "Resource": "*",
                    "Condition": {"ArnNotEquals": {"ec2:Vpc": vpc_arn}},
                }
            ],
        }
    )


def ingress_annotations() -> dict[str, str]:
    """What an application's Ingress sets (the rest is pinned by the class)."""
    return {
        "alb.ingress.kubernetes.io/listen-ports": LISTEN_PORTS,
        "alb.ingress.kubernetes.io/target-type": "ip",
    }


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    spec: AddonsSpec
    cluster_name: str
    region: str
    vpc_id: pulumi.Input[str]
    vpc_arn: pulumi.Input[str]
    certificate_arn: pulumi.Input[str]
    tags: Mapping[str, str]  # on every AWS resource the controller creates
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None


class LoadBalancerController(pulumi.ComponentResource):
    """IRSA role with the published policy, the pinned chart, the class and its parameters."""

    ingress_class: str = INGRESS_CLASS
    ingress_group: str

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("LoadBalancerController"), name, None, opts)
        spec, pin = args.spec, AWS_LOAD_BALANCER_CONTROLLER
        self.ingress_group = args.cluster_name
        self.role = irsa_role(
            self,
            f"{name}-irsa",
            cluster=args.cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=published_policy(),
            description=f"AWS Load Balancer Controller of {args.cluster_name}",
            boundary_arn=args.boundary_arn,
        )
        # The published policy lets it open any security group's ingress; its
        # install guide recommends scoping that to the cluster's VPC.
        aws.iam.RolePolicy(
            f"{name}-irsa-own-vpc-only",
            name=physical_name(ROLE_POLICY, f"{name}-irsa-own-vpc-only"),
            role=self.role.id,
            policy=pulumi.Output.from_input(args.vpc_arn).apply(own_vpc_only),
            opts=child(self),
        )
        self.release = pinned_release(
            self,
            name,
            pin,
            namespace=NAMESPACE,
            values={
                "clusterName": args.cluster_name,
                # Given, not looked up from instance metadata (IMDSv2 hop limit).
                "region": args.region,
                "vpcId": args.vpc_id,
                "replicaCount": spec.addon_replicas,
                "podDisruptionBudget": {"maxUnavailable": 1} if spec.addon_replicas > 1 else {},
                "serviceAccount": {
                    "create": True,
                    "name": SERVICE_ACCOUNT,
                    "annotations": {ROLE_ARN_ANNOTATION: self.role.arn},
                },
                "ingressClass": INGRESS_CLASS,
                # The class and its parameters are created below, where the
                # plan (and the policy pack) can read them.
                "createIngressClassResource": False,
                "ingressClassParams": {"create": False},
                # The controller's own default is ELBSecurityPolicy-2016-08 (TLS 1.0).
                "defaultSSLPolicy": spec.ingress_tls_policy,
                "defaultTargetType": "ip",
                "defaultTags": dict(args.tags),
                # Leave Services of type LoadBalancer to their own annotations.
                "enableServiceMutatorWebhook": False,
                # Only `ingressClassName: alb` counts, so the class's pinned
                # parameters always apply; no Ingress picks its own group.
                "disableIngressClassAnnotation": True,
                "disableIngressGroupNameAnnotation": True,
                "priorityClassName": "system-cluster-critical",
            },
        )
        in_cluster = child(self, depends_on=[self.release])  # the CRDs come with the chart
        self.params = k8s.apiextensions.CustomResource(
            f"{name}-params",
            api_version="elbv2.k8s.aws/v1beta1",
            kind="IngressClassParams",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INGRESS_CLASS),
            spec={
                "group": {"name": self.ingress_group},
                "scheme": "internet-facing",
                "targetType": "ip",
                "namespaceSelector": {"matchLabels": {INGRESS_GROUP_LABEL: self.ingress_group}},
                "certificateArn": [args.certificate_arn],
                "sslPolicy": spec.ingress_tls_policy,
                "sslRedirectPort": "443",
                "loadBalancerAttributes": [
                    {"key": "routing.http.drop_invalid_header_fields.enabled", "value": "true"},
                    {
                        "key": "deletion_protection.enabled",
                        "value": str(spec.ingress_deletion_protection).lower(),
                    },
                ],
                "tags": [{"key": k, "value": v} for k, v in sorted(args.tags.items())],
            },
            opts=in_cluster,
        )
        self.ingress_class_resource = k8s.networking.v1.IngressClass(
            f"{name}-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INGRESS_CLASS),
            spec=k8s.networking.v1.IngressClassSpecArgs(
                controller=CONTROLLER,
                parameters=k8s.networking.v1.IngressClassParametersReferenceArgs(
                    api_group="elbv2.k8s.aws", kind="IngressClassParams", name=INGRESS_CLASS
                ),
            ),
            opts=child(self, depends_on=[self.params]),
        )
        self.register_outputs(
            {
                "roleArn": self.role.arn,
                "chartVersion": pin.version,
                "ingressClass": INGRESS_CLASS,
                "ingressGroup": self.ingress_group,
            }
        )
