"""Cluster: EKS control plane, node group, IRSA and access entries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws_types import LAUNCH_TEMPLATE, NODE_GROUP, ROLE, physical_name
from infra.components._common import (
    assume_role_policy,
    attach_policies,
    child,
    encrypted_log_group,
    name_tag,
    type_token,
)
from infra.config import ClusterSpec

# EKS access policies: https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "AmazonEKSViewPolicy"
# Admin of the namespaces it is scoped to (not cluster-admin).
NAMESPACE_ADMIN_POLICY = "AmazonEKSAdminPolicy"

# The Kubernetes group of the roles that deploy pr-<n>/dev-<name> stacks:
# it may create and delete namespaces, which the SmallStackAccess component's
# admission policy limits to those stacks' names.
SMALL_STACK_DEPLOYERS_GROUP = "stagecraft-small-stack-deployers"

# The Kubernetes group developer roles join through their access entry.  With
# `clusterDeveloperAccess: edit`, each environment namespace binds the
# built-in `edit` ClusterRole to it (a RoleBinding there); nothing else does,
# so developers never edit kube-system or a database-admin namespace.
DEVELOPERS_GROUP = "stagecraft-developers"

# The root volume of the AL2023 EKS AMIs.
ROOT_DEVICE = "/dev/xvda"

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)

AMI_TYPES = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}

# Which node group a node belongs to (`general`, `spot`): what a pod's
# nodeSelector names. Spot nodes also carry the taint: a pod runs there only
# if it tolerates `stagecraft.io/capacity=spot:NoSchedule`.
NODE_GROUP_LABEL = "stagecraft.io/node-group"
SPOT_TAINT_KEY = "stagecraft.io/capacity"


@dataclass(frozen=True)
class ClusterArgs:
    spec: ClusterSpec
    cluster_name: str
    region: str
    audit_log_retention_days: int  # control-plane logs are audit trail
    kms_key_arn: pulumi.Input[str]  # secrets envelope encryption and node volumes
    private_subnet_ids: Sequence[pulumi.Input[str]]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    protect: bool
    # EKS access-scope wildcard of the small stacks' namespaces ("pr-*") where
    # this cluster hosts them; None: it hosts none.
    small_stack_namespaces: str | None = None
    # The environment's permissions boundary, on every IAM role made here.
    role_boundary_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class NodeGroupShape:
    """What sets one managed node group apart from the other."""

    suffix: str  # of its logical and physical names: "nodes", "spot-nodes"
    instance_types: list[str]
    capacity_type: str  # ON_DEMAND or SPOT
    architecture: str  # a key of AMI_TYPES
    sizes: tuple[int, int, int]  # min, max, desired (desired only at creation)
    label: str  # its NODE_GROUP_LABEL value
    taints: list[aws.eks.NodeGroupTaintArgs] | None = None


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
            retention_days=args.audit_log_retention_days,
            kms_key_arn=args.kms_key_arn,
        )

        cluster_role = aws.iam.Role(
            f"{name}-control-plane",
            name=physical_name(ROLE, f"{name}-control-plane"),
            assume_role_policy=assume_role_policy("eks.amazonaws.com"),
            description=f"EKS control plane of {args.cluster_name}",
            permissions_boundary=args.role_boundary_arn,
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
            enabled_cluster_log_types=list(spec.control_plane_log_types),
            encryption_config={
                "provider": {"key_arn": args.kms_key_arn},
                "resources": ["secrets"],
            },
            access_config={
                "authentication_mode": "API",
                # Who administers the cluster is in the stack file, not "whoever
                # ran the first `pulumi up`": every admin (the deploy roles
                # included) gets an access entry of its own below.  With the
                # creator's implicit entry on, listing the creator as an admin
                # too fails with 409 (the entry already exists).
                "bootstrap_cluster_creator_admin_permissions": False,
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
            name=physical_name(ROLE, f"{name}-nodes"),
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            description=f"Worker nodes of {args.cluster_name}",
            permissions_boundary=args.role_boundary_arn,
            opts=child(self),
        )
        node_policies = attach_policies(self, node_role, f"{name}-nodes", partition, NODE_POLICIES)

        # A launch template only for what the node group cannot say itself:
        # the root volume encrypted under the environment's key (not only when
        # the account's default EBS encryption happens to be on) and IMDSv2.
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes",
            name=physical_name(LAUNCH_TEMPLATE, f"{name}-nodes"),
            description=f"Worker nodes of {args.cluster_name}: encrypted root volume, IMDSv2",
            update_default_version=True,
            block_device_mappings=[
                {
                    "device_name": ROOT_DEVICE,
                    "ebs": {
                        "volume_size": spec.node_disk_size_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "kms_key_id": args.kms_key_arn,
                        "delete_on_termination": "true",
                    },
                }
            ],
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only (Security Hub EC2.8)
                # One hop: the node's own processes reach the metadata service,
                # pods (which get AWS credentials through IRSA) cannot borrow
                # the node role's.
                "http_put_response_hop_limit": 1,
            },
            tag_specifications=[
                {"resource_type": kind, "tags": name_tag(f"{args.cluster_name}-node")}
                for kind in ("instance", "volume")
            ],
            tags=name_tag(f"{args.cluster_name}-nodes"),
            opts=child(self),
        )

        shapes = [
            NodeGroupShape(
                suffix="nodes",
                instance_types=[spec.node_instance_type],
                capacity_type="ON_DEMAND",
                architecture=spec.node_architecture,
                sizes=(spec.node_min_size, spec.node_max_size, spec.node_desired_size),
                label="general",
            )
        ]
        if spec.spot_instance_types:
            # Spot nodes that only pods asking for them run on (the taint).
            # Several types of one size: EKS spreads the group over the Spot
            # pools with the most capacity (capacity-optimized), and the Cluster
            # Autoscaler reads the group's labels and taints from EKS to start
            # it from zero.
            # https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html#managed-node-group-capacity-types
            shapes.append(
                NodeGroupShape(
                    suffix="spot-nodes",
                    instance_types=list(spec.spot_instance_types),
                    capacity_type="SPOT",
                    architecture=spec.spot_architecture,
                    sizes=(spec.spot_min_size, spec.spot_max_size, spec.spot_desired_size),
                    label="spot",
                    taints=[
                        aws.eks.NodeGroupTaintArgs(
                            key=SPOT_TAINT_KEY, value="spot", effect="NO_SCHEDULE"
                        )
                    ],
                )
            )
        # Each group with the shape that sized it (the off-hours schedule
        # restores those sizes every morning).
        self.node_groups: list[tuple[NodeGroupShape, aws.eks.NodeGroup]] = [
            (shape, self._node_group(name, args, node_role, launch_template, node_policies, shape))
            for shape in shapes
        ]
        self.node_group = self.node_groups[0][1]

        access = self._grant_access(name, args, partition)

        # The VPC CNI enforces NetworkPolicy only when asked to; without this
        # the namespace's default-deny policy would be accepted and ignored.
        # https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy.html
        # Its version is EKS's default for the cluster's Kubernetes version,
        # so an upgrade of the control plane moves the add-on with it.
        cni_version = aws.eks.get_addon_version_output(
            addon_name="vpc-cni",
            kubernetes_version=spec.kubernetes_version,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).version
        self.network_policy_addon = aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=self.eks_cluster.name,
            addon_name="vpc-cni",
            addon_version=cni_version,
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            # After the control plane (and its version) changed.
            opts=child(self, depends_on=[self.eks_cluster]),
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
        # Workloads wait for these: schedulable nodes, enforced policies, and
        # the admins' access (the identity running `pulumi up` among them).
        self.ready: list[pulumi.Resource] = [
            self.node_group,
            self.network_policy_addon,
            *access,
        ]
        self.developers_group = DEVELOPERS_GROUP if spec.developer_role_arns else None
        self.small_stack_deployers_group = (
            SMALL_STACK_DEPLOYERS_GROUP
            if spec.small_stack_deployer_role_arns and args.small_stack_namespaces
            else None
        )

        # Managed nodes whose launch template names no security group get the
        # EKS-created cluster security group; admitting it is admitting exactly
        # the cluster's nodes.
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

    def _node_group(
        self,
        name: str,
        args: ClusterArgs,
        node_role: aws.iam.Role,
        launch_template: aws.ec2.LaunchTemplate,
        node_policies: Sequence[pulumi.Resource],
        shape: NodeGroupShape,
    ) -> aws.eks.NodeGroup:
        """A managed node group in the private subnets, on the shared launch template."""
        minimum, maximum, desired = shape.sizes
        return aws.eks.NodeGroup(
            f"{name}-{shape.suffix}",
            node_group_name=physical_name(NODE_GROUP, f"{name}-{shape.suffix}"),
            cluster_name=self.eks_cluster.name,
            # The cluster's version *output*: the nodes follow the control
            # plane, after it, in the same update (EKS refuses a control plane
            # more than one minor ahead of its nodes on the next upgrade).
            version=self.eks_cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=list(args.private_subnet_ids),
            instance_types=shape.instance_types,
            ami_type=AMI_TYPES[shape.architecture],
            capacity_type=shape.capacity_type,
            launch_template={
                "id": launch_template.id,
                "version": launch_template.latest_version.apply(str),
            },
            scaling_config={"min_size": minimum, "max_size": maximum, "desired_size": desired},
            update_config={"max_unavailable": 1},
            labels={NODE_GROUP_LABEL: shape.label},
            taints=shape.taints,
            tags=name_tag(f"{args.cluster_name}-{shape.suffix}"),
            opts=child(
                self,
                depends_on=list(node_policies),
                # The cluster autoscaler owns the running size; re-applying the
                # configured one would undo every scale-out on the next `up`.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

    def _grant_access(
        self, name: str, args: ClusterArgs, partition: pulumi.Output[str]
    ) -> list[pulumi.Resource]:
        """An access entry per listed role, at its level.

        Admins: cluster-admin. Developers: read-only cluster-wide, plus the
        developers group (bound to `edit` per environment namespace). Read-only
        roles (the preview CI role): view, cluster-wide. Small-stack deployers:
        admin of the small stacks' namespaces only, plus their group (which
        may create such namespaces; see SmallStackAccess).
        """
        spec = args.spec
        cluster_wide = aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster")
        grants: list[
            tuple[str, str, str, list[str], aws.eks.AccessPolicyAssociationAccessScopeArgs]
        ] = []
        grants += [(arn, "admin", ADMIN_POLICY, [], cluster_wide) for arn in spec.admin_role_arns]
        grants += [
            (arn, "developer", VIEW_POLICY, [DEVELOPERS_GROUP], cluster_wide)
            for arn in spec.developer_role_arns
        ]
        grants += [
            (arn, "read-only", VIEW_POLICY, [], cluster_wide) for arn in spec.read_only_role_arns
        ]
        if args.small_stack_namespaces is not None:
            small_stacks = aws.eks.AccessPolicyAssociationAccessScopeArgs(
                type="namespace", namespaces=[args.small_stack_namespaces]
            )
            grants += [
                (
                    arn,
                    "small-stacks",
                    NAMESPACE_ADMIN_POLICY,
                    [SMALL_STACK_DEPLOYERS_GROUP],
                    small_stacks,
                )
                for arn in spec.small_stack_deployer_role_arns
            ]
        created: list[pulumi.Resource] = []
        for principal_arn, _level, policy, groups, scope in grants:
            # The role name for readability, a hash of the whole ARN for
            # uniqueness: the same role name in two accounts or paths is fine.
            role_name = principal_arn.rsplit("/", 1)[-1]
            digest = hashlib.sha256(principal_arn.encode()).hexdigest()[:6]
            # Not named by its level: a role moved to another list keeps its
            # entry (EKS holds one per principal, and Pulumi would create the
            # new one before deleting the old).
            resource_name = f"{name}-access-{role_name}-{digest}"
            entry = aws.eks.AccessEntry(
                resource_name,
                cluster_name=self.eks_cluster.name,
                principal_arn=principal_arn,
                type="STANDARD",
                kubernetes_groups=groups or None,
                opts=child(self),
            )
            association = aws.eks.AccessPolicyAssociation(
                resource_name,
                cluster_name=self.eks_cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=pulumi.Output.concat(
                    "arn:", partition, ":eks::aws:cluster-access-policy/", policy
                ),
                access_scope=scope,
                opts=child(self),
            )
            created += [entry, association]
        return created


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
