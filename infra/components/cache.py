"""Cache: ElastiCache Redis, encrypted, nodes-only, with a Redis user per environment.

Access is by Redis ACL users (ElastiCache RBAC), not one shared AUTH token:
the environment's application logs in as its own user, and every preview or
developer environment on the shared cache gets a user of its own whose ACL
only reaches its key prefix (`pr-42:*`).  A preview therefore never holds a
credential that reads or writes staging's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws_types import NAME_RULES, fitted_name
from infra.components._common import child, nodes_only_security_group, type_token
from infra.config import CacheSpec

REDIS_PORT = 6379

# Quiet hours (UTC) that follow the database's backup and maintenance windows,
# so the two never compete for the same night.
SNAPSHOT_WINDOW = "05:00-06:00"
MAINTENANCE_WINDOW = "sun:06:30-sun:07:30"

ENGINE = "redis"
MAX_USER_ID = NAME_RULES["aws:elasticache/user:User"].limit
APP_USER = "app"
# The environment's own application owns its cache: every key and command.
APP_ACCESS = "on ~* &* +@all"


def prefix_access(key_prefix: str) -> str:
    """The ACL of a user confined to one key prefix (a preview on a shared cache).

    Keys and pub/sub channels outside the prefix are invisible to it, and the
    dangerous commands (FLUSHALL, KEYS, CONFIG, ...) that reach across
    prefixes are refused.
    """
    return f"on ~{key_prefix}* &{key_prefix}* +@all -@dangerous"


def replication_group_id(resource_prefix: str) -> str:
    return resource_prefix


def member_cluster_ids(group_id: str, node_count: int) -> list[str]:
    """A replication group's nodes (num_cache_clusters): cache clusters <id>-001, -002, ..."""
    return [f"{group_id}-{n:03d}" for n in range(1, node_count + 1)]


@dataclass(frozen=True)
class CacheArgs:
    spec: CacheSpec
    resource_prefix: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    availability_zones: pulumi.Input[Sequence[str]]
    node_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    app_password: pulumi.Input[str]  # the application user's password (generated)
    protect: bool


class Cache(pulumi.ComponentResource):
    """Redis with TLS and AUTH; a replica in another zone when there are two nodes."""

    replication_group: aws.elasticache.ReplicationGroup
    security_group: aws.ec2.SecurityGroup
    primary_address: pulumi.Output[str]
    user_group_id: pulumi.Output[str]
    app_user_name: str

    def __init__(
        self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Cache"), name, None, opts)
        spec = args.spec
        group_id = replication_group_id(args.resource_prefix)

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

        # The user group every RBAC-enabled group needs holds a user named
        # "default"; ours can do nothing, so a client that forgets to log in
        # gets no access at all.
        default_user = aws.elasticache.User(
            f"{name}-default-user",
            user_id=fitted_name(f"{group_id}-default", MAX_USER_ID),
            user_name="default",
            engine=ENGINE,
            access_string="off -@all",
            authentication_mode={"type": "no-password-required"},
            opts=child(self),
        )
        self.app_user_name = APP_USER
        app_user = aws.elasticache.User(
            f"{name}-app-user",
            user_id=fitted_name(f"{group_id}-{APP_USER}", MAX_USER_ID),
            user_name=APP_USER,
            engine=ENGINE,
            access_string=APP_ACCESS,
            authentication_mode={
                "type": "password",
                "passwords": [pulumi.Output.secret(args.app_password)],
            },
            opts=child(self),
        )
        user_group = aws.elasticache.UserGroup(
            f"{name}-users",
            user_group_id=fitted_name(group_id, MAX_USER_ID),
            engine=ENGINE,
            user_ids=[default_user.user_id, app_user.user_id],
            # pr-<n> and dev-<name> stacks add their own users to this group
            # (UserGroupAssociation); the list this stack wrote must not undo them.
            opts=child(self, ignore_changes=["userIds"]),
        )
        self.user_group_id = user_group.user_group_id

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
            user_group_ids=[user_group.user_group_id],
            automatic_failover_enabled=spec.replicated,
            multi_az_enabled=spec.replicated,
            snapshot_retention_limit=spec.snapshot_retention_days,
            snapshot_window=SNAPSHOT_WINDOW if spec.snapshot_retention_days else None,
            maintenance_window=MAINTENANCE_WINDOW,
            auto_minor_version_upgrade=True,
            apply_immediately=spec.apply_immediately,
            opts=child(self, protect=args.protect),
        )
        self.primary_address = self.replication_group.primary_endpoint_address
        self.register_outputs(
            {
                "primaryEndpoint": self.primary_address,
                "readerEndpoint": self.replication_group.reader_endpoint_address,
                "port": REDIS_PORT,
                "userGroupId": self.user_group_id,
            }
        )
