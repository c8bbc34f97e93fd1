"""Cluster: EKS control plane, node group, IRSA and access entries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import (
    assume_role_policy,
    attach_policies,
    child,
    encrypted_log_group,
    name_tag,
    type_token,
)
from infra.config import ClusterSpec

# Control-plane logs the audit trail needs: every API call, who made it, and
# how they authenticated.  scheduler/controllerManager add volume, not evidence.
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator")

# EKS access policies: https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
ACCESS_POLICIES = {
    "admin": "AmazonEKSClusterAdminPolicy",
    "edit": "AmazonEKSEditPolicy",
    "view": "AmazonEKSViewPolicy",
}

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)

AMI_TYPES = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


@dataclass(frozen=True)
class ClusterArgs:
    spec: ClusterSpec
    cluster_name: str
    region: str
    log_retention_days: int
    kms_key_arn: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    protect: bool


class Cluster(pulumi.ComponentResource):
    """An EKS cluster whose nodes live in the private subnets."""

    eks_cluster: aws.eks.Cluster
    node_group: aws.eks.NodeGroup
    oidc_provider: aws.iam.OpenIdConnectProvider
    node_security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Cluster"), name, None, opts)
        spec = args.spec
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition

        log_group = encrypted_log_group(
            self,
            f"{name}-control-plane-logs",
            log_group_name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_days=args.log_retention_days,
            kms_key_arn=args.kms_key_arn,
        )

        cluster_role = aws.iam.Role(
            f"{name}-control-plane",
            assume_role_policy=assume_role_policy("eks.amazonaws.com"),
            description=f"EKS control plane of {args.cluster_name}",
            opts=child(self),
        )
        cluster_policies = attach_policies(
            self, cluster_role, f"{name}-control-plane", partition, ["AmazonEKSClusterPolicy"]
        )

        self.eks_cluster = aws.eks.Cluster(
            name,
            name=args.cluster_name,
            version=spec.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": [*args.private_subnet_ids, *args.public_subnet_ids],
                "endpoint_private_access": True,
                "endpoint_public_access": spec.endpoint_public,
                # An empty list would mean 0.0.0.0/0 to EKS; with the public
                # endpoint off the list is irrelevant, so pin it to nothing.
                "public_access_cidrs": (spec.public_access_cidrs if spec.endpoint_public else None),
            },
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            encryption_config={
                "provider": {"key_arn": args.kms_key_arn},
                "resources": ["secrets"],
            },
            access_config={
                "authentication_mode": "API",
                # The identity running `pulumi up` must reach the API to create
                # the namespace and its objects right after the cluster exists.
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            tags=name_tag(args.cluster_name),
            opts=child(self, protect=args.protect, depends_on=[log_group, *cluster_policies]),
        )

        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.eks_cluster.identities.apply(_oidc_issuer),
            client_id_lists=["sts.amazonaws.com"],
            opts=child(self),
        )

        node_role = aws.iam.Role(
            f"{name}-nodes",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            description=f"Worker nodes of {args.cluster_name}",
            opts=child(self),
        )
        node_policies = attach_policies(self, node_role, f"{name}-nodes", partition, NODE_POLICIES)

        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=self.eks_cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=list(args.private_subnet_ids),
            instance_types=[spec.node_instance_type],
            ami_type=AMI_TYPES[spec.node_architecture],
            capacity_type="ON_DEMAND",
            disk_size=spec.node_disk_size_gb,
            scaling_config={
                "min_size": spec.node_min_size,
                "max_size": spec.node_max_size,
                "desired_size": spec.node_desired_size,
            },
            update_config={"max_unavailable": 1},
            labels={"stagecraft.io/node-group": "general"},
            tags=name_tag(f"{args.cluster_name}-nodes"),
            opts=child(
                self,
                depends_on=node_policies,
                # The cluster autoscaler owns the running size; re-applying the
                # configured one would undo every scale-out on the next `up`.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

        self._grant_access(name, args, partition)

        # The VPC CNI enforces NetworkPolicy only when asked to; without this
        # the namespace's default-deny policy would be accepted and ignored.
        # https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy.html
        self.network_policy_addon = aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=self.eks_cluster.name,
            addon_name="vpc-cni",
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=child(self),
        )

        cluster_security_group_id = self.eks_cluster.vpc_config.apply(
            lambda vpc: vpc.cluster_security_group_id or ""
        )
        # With a private-only endpoint, `pulumi up` (and kubectl) must come from
        # inside the VPC or from a listed network (VPN, peering, transit gateway).
        for cidr in spec.private_access_cidrs:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-from-{cidr.replace('/', '-').replace(':', '-')}",
                security_group_id=cluster_security_group_id,
                cidr_ipv4=cidr if ":" not in cidr else None,
                cidr_ipv6=cidr if ":" in cidr else None,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description="Kubernetes API (private endpoint) from an operator network",
                opts=child(self),
            )
        # Workloads wait for these: schedulable nodes and enforced policies.
        self.ready: list[pulumi.Resource] = [self.node_group, self.network_policy_addon]

        # Managed nodes (no launch template) get the EKS-created cluster
        # security group; admitting it is admitting exactly the cluster's nodes.
        self.node_security_group_id = cluster_security_group_id
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.eks_cluster.endpoint,
                self.eks_cluster.certificate_authority.apply(lambda ca: ca.data or ""),
            ).apply(lambda v: _kubeconfig(args.cluster_name, args.region, v[0], v[1]))
        )
        self.register_outputs(
            {
                "clusterName": self.eks_cluster.name,
                "endpoint": self.eks_cluster.endpoint,
                "oidcProviderArn": self.oidc_provider.arn,
                "nodeSecurityGroupId": self.node_security_group_id,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _grant_access(self, name: str, args: ClusterArgs, partition: pulumi.Output[str]) -> None:
        grants = [(arn, "admin") for arn in args.spec.admin_role_arns] + [
            (arn, args.spec.developer_access) for arn in args.spec.developer_role_arns
        ]
        for principal_arn, level in grants:
            # The role name for readability, a hash of the whole ARN for
            # uniqueness: the same role name in two accounts or paths is fine.
            role_name = principal_arn.rsplit("/", 1)[-1]
            digest = hashlib.sha256(principal_arn.encode()).hexdigest()[:6]
            resource_name = f"{name}-access-{level}-{role_name}-{digest}"
            entry = aws.eks.AccessEntry(
                resource_name,
                cluster_name=self.eks_cluster.name,
                principal_arn=principal_arn,
                type="STANDARD",
                opts=child(self),
            )
            aws.eks.AccessPolicyAssociation(
                resource_name,
                cluster_name=self.eks_cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=pulumi.Output.concat(
                    "arn:", partition, ":eks::aws:cluster-access-policy/", ACCESS_POLICIES[level]
                ),
                access_scope={"type": "cluster"},
                opts=child(self),
            )


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    for identity in identities:
        for oidc in identity.oidcs or []:
            if oidc.issuer:
                return oidc.issuer
    raise pulumi.RunError("the EKS cluster reported no OIDC issuer; IRSA cannot be set up")


def _kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates through `aws eks get-token`: no token on disk."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
                }
            ],
            "contexts": [
                {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
            ],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster_name,
                                "--region",
                                region,
                            ],
                        }
                    },
                }
            ],
        }
    )
