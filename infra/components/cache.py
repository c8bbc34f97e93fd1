"""Cache: an ElastiCache Redis replication group, encrypted and nodes-only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import child, nodes_only_security_group, type_token
from infra.config import CacheSpec

REDIS_PORT = 6379

# Quiet hours (UTC) that follow the database's backup and maintenance windows,
# so the two never compete for the same night.
SNAPSHOT_WINDOW = "05:00-06:00"
MAINTENANCE_WINDOW = "sun:06:30-sun:07:30"


@dataclass(frozen=True)
class CacheArgs:
    spec: CacheSpec
    resource_prefix: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    availability_zones: pulumi.Input[Sequence[str]]
    node_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    auth_token: pulumi.Input[str]
    protect: bool


class Cache(pulumi.ComponentResource):
    """Redis with TLS and AUTH; a replica in another zone when there are two nodes."""

    replication_group: aws.elasticache.ReplicationGroup
    security_group: aws.ec2.SecurityGroup
    primary_address: pulumi.Output[str]

    def __init__(
        self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Cache"), name, None, opts)
        spec = args.spec
        group_id = args.resource_prefix

        subnet_group = aws.elasticache.SubnetGroup(
            name,
            # An explicit group keeps the cache out of the default VPC's
            # default subnet group (Security Hub ElastiCache.7).
            name=group_id,
            description=f"Private subnets of {group_id}",
            subnet_ids=list(args.private_subnet_ids),
            opts=child(self),
        )
        self.security_group = nodes_only_security_group(
            self,
            name,
            vpc_id=args.vpc_id,
            node_security_group_id=args.node_security_group_id,
            port=REDIS_PORT,
            service=f"Redis of {group_id}",
        )
        parameters = aws.elasticache.ParameterGroup(
            name,
            # The family is in the name: an engine upgrade needs a new group,
            # created beside the old one that is still in use.
            name=f"{group_id}-{spec.parameter_group_family.replace('.', '-')}",
            family=spec.parameter_group_family,
            description=f"Redis settings of {group_id}",
            parameters=[{"name": "maxmemory-policy", "value": spec.maxmemory_policy}],
            opts=child(self),
        )

        preferred_zones: pulumi.Input[Sequence[str]] | None = None
        if spec.replicated:
            # Primary in the first zone, replicas round-robin over the others,
            # so a zone outage always leaves a node to fail over to.
            preferred_zones = pulumi.Output.from_input(args.availability_zones).apply(
                lambda zones: [zones[i % len(zones)] for i in range(spec.node_count)]
            )

        self.replication_group = aws.elasticache.ReplicationGroup(
            name,
            replication_group_id=group_id,
            description=f"Redis of {group_id}",
            engine="redis",
            engine_version=spec.engine_version,
            node_type=spec.node_type,
            num_cache_clusters=spec.node_count,
            preferred_cache_cluster_azs=preferred_zones,
            port=REDIS_PORT,
            parameter_group_name=parameters.name,
            subnet_group_name=subnet_group.name,
            security_group_ids=[self.security_group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            transit_encryption_enabled=True,
            auth_token=pulumi.Output.secret(args.auth_token),
            automatic_failover_enabled=spec.replicated,
            multi_az_enabled=spec.replicated,
            snapshot_retention_limit=spec.snapshot_retention_days,
            snapshot_window=SNAPSHOT_WINDOW if spec.snapshot_retention_days else None,
            maintenance_window=MAINTENANCE_WINDOW,
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            opts=child(self, protect=args.protect),
        )
        self.primary_address = self.replication_group.primary_endpoint_address
        self.register_outputs(
            {
                "primaryEndpoint": self.primary_address,
                "readerEndpoint": self.replication_group.reader_endpoint_address,
                "port": REDIS_PORT,
            }
        )
