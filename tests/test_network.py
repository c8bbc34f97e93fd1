"""Network: VPC, subnets per zone, NAT strategy, routes, flow logs."""

from __future__ import annotations

from infra.subnets import plan_subnets
from tests.conftest import inside

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"


def _subnets(plan, tier):
    return sorted(
        (s for s in plan.of_type(SUBNET) if s.inputs["tags"]["tier"] == tier),
        key=lambda s: s.name,
    )


def test_vpc_uses_the_configured_range_with_dns(staging):
    vpc = staging.one(VPC)
    assert vpc.inputs["cidrBlock"] == "10.20.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] is True
    assert vpc.inputs["enableDnsSupport"] is True


def test_one_public_and_one_private_subnet_per_zone(staging, production):
    for plan, cidr, zones in ((staging, "10.20.0.0/16", 2), (production, "10.30.0.0/16", 3)):
        layout = plan_subnets(cidr, zones)
        private, public = _subnets(plan, "private"), _subnets(plan, "public")
        assert [s.inputs["cidrBlock"] for s in private] == [z.private_cidr for z in layout]
        assert [s.inputs["cidrBlock"] for s in public] == [z.public_cidr for z in layout]
        expected_zones = ["us-east-1a", "us-east-1b", "us-east-1c"][:zones]
        assert [s.inputs["availabilityZone"] for s in private] == expected_zones
        assert [s.inputs["availabilityZone"] for s in public] == expected_zones


def test_subnets_are_tagged_for_eks_load_balancers(staging):
    cluster_tag = "kubernetes.io/cluster/stagecraft-staging"
    for subnet in _subnets(staging, "public"):
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "shared"
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    for subnet in _subnets(staging, "private"):
        assert subnet.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "shared"


def test_single_nat_gateway_serves_every_private_subnet(staging):
    (nat,) = staging.of_type(NAT)
    public_az1 = next(s for s in _subnets(staging, "public") if s.name.endswith("public-az1"))
    assert public_az1.urn in nat.dependencies
    private_tables = [t for t in staging.of_type(ROUTE_TABLE) if "private" in t.name]
    assert len(private_tables) == 2
    for table in private_tables:
        assert nat.urn in table.dependencies
        assert table.inputs["routes"][0]["cidrBlock"] == "0.0.0.0/0"
        assert "natGatewayId" in table.inputs["routes"][0]


def test_per_az_nat_gives_each_zone_its_own_gateway(production):
    gateways = sorted(production.of_type(NAT), key=lambda n: n.name)
    assert [n.name.rsplit("-", 1)[-1] for n in gateways] == ["az1", "az2", "az3"]
    for gateway in gateways:
        zone = gateway.name.rsplit("-", 1)[-1]
        table = next(
            t for t in production.of_type(ROUTE_TABLE) if t.name.endswith(f"private-{zone}")
        )
        assert gateway.urn in table.dependencies
        assert [g.urn in table.dependencies for g in gateways].count(True) == 1


def test_public_route_table_goes_through_the_internet_gateway(staging):
    public = next(t for t in staging.of_type(ROUTE_TABLE) if t.name.endswith("-public"))
    gateway = staging.one("aws:ec2/internetGateway:InternetGateway")
    assert public.inputs["routes"] == [
        {"cidrBlock": "0.0.0.0/0", "gatewayId": public.inputs["routes"][0]["gatewayId"]}
    ]
    assert gateway.urn in public.dependencies


def test_flow_logs_only_where_config_enables_them(staging, production):
    assert staging.of_type("aws:ec2/flowLog:FlowLog") == []
    flow_log = production.one("aws:ec2/flowLog:FlowLog")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs"
    log_group = next(
        g
        for g in production.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs["name"] == "/aws/vpc/stagecraft-production/flow-logs"
    )
    assert log_group.inputs["retentionInDays"] == 30
    assert log_group.inputs["kmsKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    assert log_group.urn in flow_log.dependencies


def test_network_resources_belong_to_the_network_component(production):
    owned = {r.type for r in inside(production, "stagecraft:index:Network")}
    assert {VPC, SUBNET, NAT, ROUTE_TABLE, "aws:ec2/flowLog:FlowLog"} <= owned
    assert len(production.of_type(VPC)) == 1
