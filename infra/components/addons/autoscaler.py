"""Cluster Autoscaler: moves the managed node group between its minimum and maximum."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from infra.charts import CLUSTER_AUTOSCALER
from infra.components._common import type_token
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION, ClusterIdentity, irsa_role
from infra.components.addons.release import pinned_release
from infra.config import AddonsSpec

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
# EKS tags every managed node group's Auto Scaling group with these two for
# auto-discovery (`k8s.io/cluster-autoscaler/enabled=true`,
# `k8s.io/cluster-autoscaler/<cluster>=owned`).
# https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html
ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"


def cluster_tag(cluster_name: str) -> str:
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


def autoscaler_policy(cluster_name: str) -> str:
    """Read any group (the APIs take no resource); resize only this cluster's.

    The cluster-autoscaler README's "full features" policy, with its
    mutating statement limited by the tags EKS puts on this cluster's groups,
    as the EKS best-practices guide's least-privilege variant does.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DiscoverGroupsAndInstanceTypes",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                        "eks:DescribeNodegroup",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "ResizeOnlyThisClustersGroups",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:SetDesiredCapacity",
                        "autoscaling:TerminateInstanceInAutoScalingGroup",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/{ENABLED_TAG}": "true",
                            f"aws:ResourceTag/{cluster_tag(cluster_name)}": "owned",
                        }
                    },
                },
            ],
        }
    )


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    spec: AddonsSpec
    cluster_name: str
    kubernetes_version: str
    region: str
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None


class ClusterAutoscaler(pulumi.ComponentResource):
    """The autoscaler's IRSA role and its chart, pinned to the cluster's minor version."""

    def __init__(
        self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("ClusterAutoscaler"), name, None, opts)
        spec, pin = args.spec, CLUSTER_AUTOSCALER[args.kubernetes_version]
        self.role = irsa_role(
            self,
            f"{name}-irsa",
            cluster=args.cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=autoscaler_policy(args.cluster_name),
            description=f"Cluster Autoscaler of {args.cluster_name}",
            boundary_arn=args.boundary_arn,
        )
        self.release = pinned_release(
            self,
            name,
            pin,
            namespace=NAMESPACE,
            values={
                "cloudProvider": "aws",
                "awsRegion": args.region,
                "autoDiscovery": {"clusterName": args.cluster_name},
                "image": {"tag": f"v{pin.app_version}"},
                "rbac": {
                    "serviceAccount": {
                        "create": True,
                        "name": SERVICE_ACCOUNT,
                        "annotations": {ROLE_ARN_ANNOTATION: self.role.arn},
                    }
                },
                "extraArgs": {
                    "scale-down-unneeded-time": spec.autoscaler_scale_down_unneeded_time,
                    "scale-down-delay-after-add": spec.autoscaler_scale_down_delay_after_add,
                    "scale-down-utilization-threshold": str(
                        spec.autoscaler_scale_down_utilization_percent / 100
                    ),
                    # Pods with emptyDir (caches, scratch) must not pin a node for ever.
                    "skip-nodes-with-local-storage": "false",
                    "balance-similar-node-groups": "true",
                    "expander": "least-waste",
                },
                "priorityClassName": "system-cluster-critical",
                "podDisruptionBudget": {"maxUnavailable": 1},
            },
        )
        self.register_outputs({"roleArn": self.role.arn, "chartVersion": pin.version})
