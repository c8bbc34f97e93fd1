"""Subnet arithmetic for the VPC: a pure function, tested without Pulumi.

The VPC range is cut into four equal quarters.  Quarters 0-2 are the private
subnets of availability zones 0-2 (nodes, pods, database, cache: the VPC CNI
gives every pod a VPC address, so they get the most room).  Quarter 3 is cut
into four again and its first three pieces are the public subnets (NAT
gateways and load balancers only).  Each zone keeps the same ranges whatever
the zone count, so going from two zones to three adds subnets and renumbers
none.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_AVAILABILITY_ZONES = 3


@dataclass(frozen=True)
class ZoneSubnets:
    """The two subnets of one availability zone."""

    zone_index: int
    private_cidr: str
    public_cidr: str


def plan_subnets(vpc_cidr: str, zone_count: int) -> list[ZoneSubnets]:
    """Private and public subnet CIDRs for the first ``zone_count`` zones."""
    if not 1 <= zone_count <= MAX_AVAILABILITY_ZONES:
        raise ValueError(f"zone_count must be 1..{MAX_AVAILABILITY_ZONES}, got {zone_count}")
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    if vpc.prefixlen > 24:
        raise ValueError(f"{vpc_cidr} is too small to split into per-zone subnets")
    quarters = list(vpc.subnets(prefixlen_diff=2))
    public_pieces = list(quarters[3].subnets(prefixlen_diff=2))
    return [
        ZoneSubnets(
            zone_index=index,
            private_cidr=str(quarters[index]),
            public_cidr=str(public_pieces[index]),
        )
        for index in range(zone_count)
    ]
