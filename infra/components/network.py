"""Network: the environment's VPC, subnets per zone, routing, NAT and flow logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import (
    assume_role_policy,
    child,
    encrypted_log_group,
    name_tag,
    type_token,
)
from infra.config import NetworkSpec
from infra.subnets import plan_subnets

# Subnet tags the AWS Load Balancer Controller uses to pick subnets:
# https://docs.aws.amazon.com/eks/latest/userguide/network-load-balancing.html
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


@dataclass(frozen=True)
class NetworkArgs:
    spec: NetworkSpec
    resource_prefix: str
    cluster_name: str  # subnets are tagged as usable by this EKS cluster
    log_retention_days: int
    kms_key_arn: pulumi.Input[str]  # encrypts the flow-log group
    availability_zones: Sequence[str]  # one per configured zone, in order


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

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Network"), name, None, opts)
        spec = args.spec
        layout = plan_subnets(spec.vpc_cidr, spec.availability_zone_count)

        self.availability_zones = list(args.availability_zones)

        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=spec.vpc_cidr,
            enable_dns_hostnames=True,  # EKS nodes and RDS endpoints need DNS names
            enable_dns_support=True,
            tags=name_tag(args.resource_prefix),
            opts=child(self),
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw",
            vpc_id=self.vpc.id,
            tags=name_tag(args.resource_prefix),
            opts=child(self),
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags=name_tag(f"{args.resource_prefix}-public"),
            opts=child(self),
        )

        cluster_tag = f"kubernetes.io/cluster/{args.cluster_name}"
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for zone in layout:
            zone_name = self.availability_zones[zone.zone_index]
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
                    {PUBLIC_ELB_TAG: "1", cluster_tag: "shared", "tier": "public"},
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
                    {INTERNAL_ELB_TAG: "1", cluster_tag: "shared", "tier": "private"},
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
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags=name_tag(f"{args.resource_prefix}-private-{suffix}"),
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}",
                subnet_id=subnet.id,
                route_table_id=routes.id,
                opts=child(self),
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

    def _flow_logs(self, name: str, args: NetworkArgs) -> None:
        log_group = encrypted_log_group(
            self,
            f"{name}-flow-logs",
            log_group_name=f"/aws/vpc/{args.resource_prefix}/flow-logs",
            retention_days=args.log_retention_days,
            kms_key_arn=args.kms_key_arn,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=assume_role_policy("vpc-flow-logs.amazonaws.com"),
            description=f"Lets VPC Flow Logs write {args.resource_prefix}'s flow logs",
            opts=child(self),
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(_flow_log_writer_policy),
            opts=child(self),
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
                }
            ],
        }
    )
