"""The subnet arithmetic, without Pulumi."""

import ipaddress

import pytest

from infra.subnets import plan_subnets


def test_two_zones_of_a_slash_16():
    zones = plan_subnets("10.20.0.0/16", 2)
    assert [(z.private_cidr, z.public_cidr) for z in zones] == [
        ("10.20.0.0/18", "10.20.192.0/20"),
        ("10.20.64.0/18", "10.20.208.0/20"),
    ]


def test_adding_a_zone_renumbers_nothing():
    two = plan_subnets("10.30.0.0/16", 2)
    three = plan_subnets("10.30.0.0/16", 3)
    assert three[:2] == two
    assert three[2].private_cidr == "10.30.128.0/18"
    assert three[2].public_cidr == "10.30.224.0/20"


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/18", "192.168.0.0/20"])
def test_subnets_are_disjoint_and_inside_the_vpc(cidr):
    vpc = ipaddress.IPv4Network(cidr)
    zones = plan_subnets(cidr, 3)
    networks = [ipaddress.IPv4Network(c) for z in zones for c in (z.private_cidr, z.public_cidr)]
    assert all(n.subnet_of(vpc) for n in networks)
    for i, a in enumerate(networks):
        for b in networks[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_private_subnets_are_four_times_the_public_ones():
    zone = plan_subnets("10.0.0.0/20", 3)[0]
    private = ipaddress.IPv4Network(zone.private_cidr)
    public = ipaddress.IPv4Network(zone.public_cidr)
    assert private.num_addresses == 4 * public.num_addresses == 1024


@pytest.mark.parametrize(("cidr", "zones"), [("10.0.0.0/16", 0), ("10.0.0.0/16", 4)])
def test_zone_count_out_of_range_is_refused(cidr, zones):
    with pytest.raises(ValueError, match=r"zone_count must be 1\.\.3"):
        plan_subnets(cidr, zones)


def test_too_small_a_vpc_is_refused():
    with pytest.raises(ValueError, match="too small"):
        plan_subnets("10.0.0.0/26", 2)
