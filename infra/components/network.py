"""Network: the environment's VPC, subnets per zone, routing, NAT and flow logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._common import (
    child,
    encrypted_log_group,
    name_tag,
    service_role,
    type_token,
)
from infra.config import NetworkSpec
from infra.subnets import plan_subnets

# Subnet tags the AWS Load Balancer Controller uses to pick subnets:
# https://docs.aws.amazon.com/eks/latest/userguide/network-load-balancing.html
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"

WORLD = "0.0.0.0/0"
# SSH and RDP: nothing in these VPCs serves them; shell access goes through
# Session Manager.
REMOTE_ADMIN_PORTS = (22, 3389)

# Zones (by id) where EKS refuses control-plane subnets with
# UnsupportedAvailabilityZoneException:
# https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


@dataclass(frozen=True)
class Zone:
    """An availability zone: its name in this account and its physical id."""

    name: str  # us-east-1a: a different physical zone in every account
    zone_id: str  # use1-az1: the same physical zone everywhere


@dataclass(frozen=True)
class NetworkArgs:
    spec: NetworkSpec
    resource_prefix: str
    cluster_name: str  # subnets are tagged as usable by this EKS cluster
    audit_log_retention_days: int  # flow logs are part of the audit trail
    kms_key_arn: pulumi.Input[str]  # encrypts the flow-log group
    availability_zones: Sequence[Zone]  # one per configured zone, in order
    # The environment's permissions boundary, on every IAM role made here.
    role_boundary_arn: pulumi.Input[str] | None = None


class Network(pulumi.ComponentResource):
    """VPC with a public and a private subnet in each availability zone.

    Private subnets hold the nodes, the database and the cache and reach the
    internet only through NAT; public subnets hold the NAT gateways and the
    internet-facing load balancers.
    """

    vpc: aws.ec2.Vpc
    availability_zones: list[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    nat_gateways: list[aws.ec2.NatGateway]
    # What opens the path from the operator networks (transit gateway) to the
    # private API endpoint: the Kubernetes provider waits for all of it.
    operator_path: list[pulumi.Resource]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Network"), name, None, opts)
        spec = args.spec
        layout = plan_subnets(spec.vpc_cidr, spec.availability_zone_count)

        self.availability_zones = [zone.name for zone in args.availability_zones]
        zone_ids = [zone.zone_id for zone in args.availability_zones]

        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=spec.vpc_cidr,
            enable_dns_hostnames=True,  # EKS nodes and RDS endpoints need DNS names
            enable_dns_support=True,
            tags=name_tag(args.resource_prefix),
            opts=child(self),
        )
        # Every VPC comes with a default security group that admits all traffic
        # from its own members and lets everything out.  Adopting it with no
        # rules empties it, so nothing attached to it by mistake can talk
        # (Security Hub EC2.2).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            # Explicitly none: left unset, the rule lists are the provider's
            # "computed" values, so a rule added later by hand would be
            # neither shown as drift nor removed by the next `pulumi up`.
            ingress=[],
            egress=[],
            tags=name_tag(f"{args.resource_prefix}-default-unused"),
            opts=child(self),
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw",
            vpc_id=self.vpc.id,
            tags=name_tag(args.resource_prefix),
            opts=child(self),
        )
        # Routes are resources of their own, never inline in the table: an
        # inline list is the whole truth, so `pulumi up` would delete any
        # route someone else added (a peering, a VPN) on every run.
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            tags=name_tag(f"{args.resource_prefix}-public"),
            opts=child(self),
        )
        aws.ec2.Route(
            f"{name}-public-internet",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child(self),
        )
        route_tables = [public_routes]

        cluster_tag = f"kubernetes.io/cluster/{args.cluster_name}"
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for zone in layout:
            zone_name = self.availability_zones[zone.zone_index]
            zone_tags = {"zone-id": zone_ids[zone.zone_index]}
            suffix = f"az{zone.zone_index + 1}"
            public = aws.ec2.Subnet(
                f"{name}-public-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=zone.public_cidr,
                availability_zone=zone_name,
                # Only load balancers and NAT gateways live here, and they get
                # their addresses explicitly; nothing should get one by accident.
                map_public_ip_on_launch=False,
                tags=name_tag(
                    f"{args.resource_prefix}-public-{suffix}",
                    {PUBLIC_ELB_TAG: "1", cluster_tag: "shared", "tier": "public", **zone_tags},
                ),
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{suffix}",
                subnet_id=public.id,
                route_table_id=public_routes.id,
                opts=child(self),
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=zone.private_cidr,
                availability_zone=zone_name,
                tags=name_tag(
                    f"{args.resource_prefix}-private-{suffix}",
                    {INTERNAL_ELB_TAG: "1", cluster_tag: "shared", "tier": "private", **zone_tags},
                ),
                opts=child(self),
            )
            public_subnets.append(public)
            private_subnets.append(private)

        # `single` puts one gateway in the first zone; `per_az` one in each, so
        # losing a zone never cuts the other zones' egress.
        nat_zone_count = 1 if spec.nat_gateway_strategy == "single" else len(layout)
        self.nat_gateways = []
        for index in range(nat_zone_count):
            suffix = f"az{index + 1}"
            address = aws.ec2.Eip(
                f"{name}-nat-{suffix}",
                domain="vpc",
                tags=name_tag(f"{args.resource_prefix}-nat-{suffix}"),
                opts=child(self, depends_on=[gateway]),
            )
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{suffix}",
                    allocation_id=address.allocation_id,
                    subnet_id=public_subnets[index].id,
                    tags=name_tag(f"{args.resource_prefix}-nat-{suffix}"),
                    opts=child(self, depends_on=[gateway]),
                )
            )

        # One private route table per zone whatever the NAT strategy, so that
        # switching strategies changes routes and never re-associates subnets.
        for index, subnet in enumerate(private_subnets):
            suffix = f"az{index + 1}"
            nat = self.nat_gateways[min(index, nat_zone_count - 1)]
            routes = aws.ec2.RouteTable(
                f"{name}-private-{suffix}",
                vpc_id=self.vpc.id,
                tags=name_tag(f"{args.resource_prefix}-private-{suffix}"),
                opts=child(self),
            )
            aws.ec2.Route(
                f"{name}-private-{suffix}-internet",
                route_table_id=routes.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}",
                subnet_id=subnet.id,
                route_table_id=routes.id,
                opts=child(self),
            )
            route_tables.append(routes)

        self._default_network_acl(name, args, [*public_subnets, *private_subnets])

        self.operator_path = []
        if spec.transit_gateway_id:
            self.operator_path = self._transit_gateway(
                name, args, [s.id for s in private_subnets], route_tables
            )

        if spec.flow_logs:
            self._flow_logs(name, args)

        self.private_subnet_ids = [s.id for s in private_subnets]
        self.public_subnet_ids = [s.id for s in public_subnets]
        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "availabilityZones": self.availability_zones,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

    def _default_network_acl(
        self, name: str, args: NetworkArgs, subnets: Sequence[aws.ec2.Subnet]
    ) -> None:
        """Every subnet's network ACL: no SSH or RDP from anywhere, the rest to the groups.

        Nothing here listens on 22 or 3389 (shell access is through Session
        Manager), so the ACL refuses both outright (Security Hub EC2.21);
        everything else is filtered by the security groups.  The ACL is the
        VPC's default one, adopted (the provider empties it first) and named
        with every subnet, so no association shows as drift.

        The cost, accepted: ACLs are stateless, and a NAT gateway picks the
        source port of each outbound connection from 1024-65535, so a reply
        arriving at port 3389 is dropped: one connection in 64,512 through the
        NAT times out and is retried by the client (22 is below the range).
        Any ACL that passes EC2.21 has the same effect.
        """

        def rule(number: int, action: str, protocol: str, port: int) -> dict[str, Any]:
            return {
                "rule_no": number,
                "action": action,
                "protocol": protocol,
                "cidr_block": WORLD,
                "from_port": port,
                "to_port": port,
            }

        deny = [
            aws.ec2.DefaultNetworkAclIngressArgs(**rule(100 + index, "deny", "tcp", port))
            for index, port in enumerate(REMOTE_ADMIN_PORTS)
        ]
        allow_in = aws.ec2.DefaultNetworkAclIngressArgs(**rule(200, "allow", "-1", 0))
        allow_out = aws.ec2.DefaultNetworkAclEgressArgs(**rule(200, "allow", "-1", 0))
        aws.ec2.DefaultNetworkAcl(
            f"{name}-default-acl",
            default_network_acl_id=self.vpc.default_network_acl_id,
            subnet_ids=[subnet.id for subnet in subnets],
            ingress=[*deny, allow_in],
            egress=[allow_out],
            tags=name_tag(f"{args.resource_prefix}-default"),
            opts=child(self),
        )

    def _transit_gateway(
        self,
        name: str,
        args: NetworkArgs,
        private_subnet_ids: list[pulumi.Output[str]],
        route_tables: list[aws.ec2.RouteTable],
    ) -> list[pulumi.Resource]:
        """Attach the VPC to the transit gateway and route the operator networks to it.

        The attachment lives in the private subnets (one ENI per zone); every
        route table, public ones included, sends the listed networks to the
        gateway, because the API endpoint's ENIs sit in both kinds of subnet
        and must be able to answer.
        """
        spec = args.spec
        attachment = aws.ec2transitgateway.VpcAttachment(
            f"{name}-tgw",
            transit_gateway_id=spec.transit_gateway_id,
            vpc_id=self.vpc.id,
            subnet_ids=private_subnet_ids,
            dns_support="enable",
            tags=name_tag(args.resource_prefix),
            opts=child(self),
        )
        opened: list[pulumi.Resource] = [attachment]
        for table_index, table in enumerate(route_tables):
            table_name = "public" if table_index == 0 else f"private-az{table_index}"
            for cidr in spec.transit_gateway_routes:
                opened.append(
                    aws.ec2.Route(
                        f"{name}-{table_name}-tgw-{cidr.replace('/', '-').replace(':', '-')}",
                        route_table_id=table.id,
                        destination_cidr_block=cidr,
                        transit_gateway_id=spec.transit_gateway_id,
                        # A route to a gateway the VPC is not attached to yet is refused.
                        opts=child(self, depends_on=[attachment]),
                    )
                )
        return opened

    def _flow_logs(self, name: str, args: NetworkArgs) -> None:
        log_group = encrypted_log_group(
            self,
            f"{name}-flow-logs",
            log_group_name=f"/aws/vpc/{args.resource_prefix}/flow-logs",
            retention_days=args.audit_log_retention_days,
            kms_key_arn=args.kms_key_arn,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        # Only this account's flow logs may use the role (confused deputy):
        # https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
        role, _ = service_role(
            self,
            f"{name}-flow-logs",
            service="vpc-flow-logs.amazonaws.com",
            source_account=identity.account_id,
            description=f"Lets VPC Flow Logs write {args.resource_prefix}'s flow logs",
            policy=log_group.arn.apply(_flow_log_writer_policy),
            boundary_arn=args.role_boundary_arn,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=name_tag(f"{args.resource_prefix}-flow-logs"),
            opts=child(self),
        )


def _flow_log_writer_policy(log_group_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [log_group_arn, f"{log_group_arn}:*"],
                },
                {
                    # The delivery checks that its destination exists; the
                    # action cannot be narrowed below the account's groups.
                    "Effect": "Allow",
                    "Action": "logs:DescribeLogGroups",
                    "Resource": log_group_arn.rsplit(":log-group:", 1)[0] + ":log-group:*",
                },
            ],
        }
    )
