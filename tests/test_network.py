"""Network: VPC, subnets per zone, NAT strategy, routes, flow logs."""

from __future__ import annotations

import json

import pytest

from infra.config import ConfigError
from infra.subnets import plan_subnets
from stagecraft.offline.engine import evaluate
from tests.conftest import ACCOUNT, edit_stack, inside, shipped_value

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ROLE = "aws:iam/role:Role"
TGW_ATTACHMENT = "aws:ec2transitgateway/vpcAttachment:VpcAttachment"


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
        # Chosen by zone id, lowest first, skipping use1-az3 (EKS refuses it);
        # the mock account names use1-az4 "us-east-1c".
        expected_ids = ["use1-az1", "use1-az2", "use1-az4"][:zones]
        expected_names = ["us-east-1a", "us-east-1b", "us-east-1c"][:zones]
        for tier in (private, public):
            assert [s.inputs["tags"]["zone-id"] for s in tier] == expected_ids
            assert [s.inputs["availabilityZone"] for s in tier] == expected_names


def test_zones_eks_refuses_are_never_chosen(scratch):
    # In us-west-1 the mock account has usw1-az1 and usw1-az2; EKS refuses the
    # second, so a two-zone stack there is refused before anything is created.
    # (Route 53 health checks alarm from us-east-1 only: none there.)
    edit_stack(scratch, "staging", **{"aws:region": "us-west-1", "stagecraft:healthCheckPath": ""})
    with pytest.raises(ConfigError) as caught:
        evaluate("staging", project_dir=scratch)
    assert [str(p) for p in caught.value.problems] == [
        "stagecraft:availabilityZoneCount = 2: us-west-1 offers 1 zone EKS can use "
        "(usw1-az1) (usw1-az2 excluded: EKS does not run there); choose at most 1"
    ]


def test_subnets_are_tagged_for_eks_load_balancers(staging):
    cluster_tag = "kubernetes.io/cluster/stagecraft-staging"
    for subnet in _subnets(staging, "public"):
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "shared"
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    for subnet in _subnets(staging, "private"):
        assert subnet.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "shared"


def _routes_of(plan, table):
    return [r for r in plan.of_type(ROUTE) if table.urn in r.dependencies]


def test_route_tables_hold_no_inline_routes(plans):
    # Inline routes are the table's whole truth: `pulumi up` would delete a
    # route anyone else added.  Every route is a resource of its own.
    for plan in plans.values():
        for table in plan.of_type(ROUTE_TABLE):
            assert "routes" not in table.inputs, table.name


def test_single_nat_gateway_serves_every_private_subnet(staging):
    (nat,) = staging.of_type(NAT)
    public_az1 = next(s for s in _subnets(staging, "public") if s.name.endswith("public-az1"))
    assert public_az1.urn in nat.dependencies
    private_tables = [t for t in staging.of_type(ROUTE_TABLE) if "private" in t.name]
    assert len(private_tables) == 2
    for table in private_tables:
        (route,) = _routes_of(staging, table)
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert nat.urn in route.dependencies


def test_per_az_nat_gives_each_zone_its_own_gateway(production):
    gateways = sorted(production.of_type(NAT), key=lambda n: n.name)
    assert [n.name.rsplit("-", 1)[-1] for n in gateways] == ["az1", "az2", "az3"]
    for gateway in gateways:
        zone = gateway.name.rsplit("-", 1)[-1]
        table = next(
            t for t in production.of_type(ROUTE_TABLE) if t.name.endswith(f"private-{zone}")
        )
        (internet,) = [
            r
            for r in _routes_of(production, table)
            if r.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        ]
        assert [g.urn in internet.dependencies for g in gateways].count(True) == 1
        assert gateway.urn in internet.dependencies


def test_public_route_table_goes_through_the_internet_gateway(staging):
    public = next(t for t in staging.of_type(ROUTE_TABLE) if t.name.endswith("-public"))
    gateway = staging.one("aws:ec2/internetGateway:InternetGateway")
    (route,) = _routes_of(staging, public)
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    assert gateway.urn in route.dependencies
    assert "gatewayId" in route.inputs


def test_default_security_group_is_adopted_and_emptied(plans):
    # Security Hub EC2.2: the VPC's default group must allow nothing.
    for plan in plans.values():
        group = plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
        assert plan.one(VPC).urn in group.dependencies
        # Explicitly empty lists, not unset: unset rule lists are "computed",
        # and a rule added by hand later would stay, unseen.
        assert group.inputs["ingress"] == []
        assert group.inputs["egress"] == []


def test_transit_gateway_routes_the_operator_network_from_every_subnet(production):
    attachment = production.one(TGW_ATTACHMENT)
    assert attachment.inputs["transitGatewayId"] == shipped_value(
        "stagecraft:transitGatewayId", "production"
    )
    private = {s.urn for s in _subnets(production, "private")}
    assert private <= set(attachment.dependencies)
    assert len(attachment.inputs["subnetIds"]) == 3
    tgw_routes = [
        r for r in production.of_type(ROUTE) if r.inputs.get("transitGatewayId") is not None
    ]
    # one per route table: public plus one private per zone
    assert len(tgw_routes) == len(production.of_type(ROUTE_TABLE)) == 4
    for route in tgw_routes:
        assert route.inputs["destinationCidrBlock"] == "10.200.0.0/16"
        assert attachment.urn in route.dependencies


def test_kubernetes_objects_wait_for_the_path_from_the_operator_network(production):
    provider = production.one("pulumi:providers:kubernetes")
    waited = set(provider.dependencies)
    assert production.one(TGW_ATTACHMENT).urn in waited
    tgw_routes = {
        r.urn for r in production.of_type(ROUTE) if r.inputs.get("transitGatewayId") is not None
    }
    assert tgw_routes <= waited


def test_no_transit_gateway_where_none_is_configured(staging):
    assert staging.of_type(TGW_ATTACHMENT) == []


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
    # Flow logs are audit trail: kept auditLogRetentionDays, not logRetentionDays.
    assert log_group.inputs["retentionInDays"] == 365
    assert log_group.inputs["kmsKeyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert log_group.urn in flow_log.dependencies


def test_flow_log_role_is_this_accounts_and_may_write_its_group(production):
    role = next(r for r in production.of_type(ROLE) if r.name.endswith("network-flow-logs"))
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": f"{ACCOUNT}"}}
    statements = json.loads(
        next(p for p in production.of_type("aws:iam/rolePolicy:RolePolicy")
             if p.name.endswith("network-flow-logs")).inputs["policy"]
    )["Statement"]  # fmt: skip
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str)
                                               else s["Action"])}  # fmt: skip
    # The provider's own example grants DescribeLogGroups; delivery checks the group.
    assert {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups"} <= actions


def test_network_resources_belong_to_the_network_component(production):
    owned = {r.type for r in inside(production, "stagecraft:index:Network")}
    assert {
        VPC,
        SUBNET,
        NAT,
        ROUTE_TABLE,
        ROUTE,
        TGW_ATTACHMENT,
        "aws:ec2/flowLog:FlowLog",
    } <= owned
    assert len(production.of_type(VPC)) == 1


def test_no_subnet_admits_ssh_or_rdp_at_the_network_acl(plans):
    # Security Hub EC2.21: AWS's default ACL admits everything.
    for plan in plans.values():
        acl = plan.one("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl").inputs
        rules = sorted(acl["ingress"], key=lambda r: r["ruleNo"])
        for port in (22, 3389):
            first = next(
                r for r in rules if r["protocol"] == "-1" or r["fromPort"] <= port <= r["toPort"]
            )
            assert first["action"] == "deny", (plan.stack, port)
        assert len(acl["subnetIds"]) == len(plan.of_type(SUBNET))  # no drift on associations
