"""Access: an IAM role per audience (developers, QA, on-call), what each may do.

The people's own roles (SSO permission sets, or IAM users) assume the
environment's audience role; the audience role holds the environment's
grants: its level in the cluster (an EKS access entry), and where it has a
database role, `rds-db:connect` for exactly that user on exactly this
environment's instances. Nothing here is a standing credential: tokens last
15 minutes (IAM database authentication) and sessions an hour.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws_types import ROLE_POLICY, physical_name
from infra.components._common import child, type_token
from infra.components.access.policies import (
    audience_policy,
    cluster_grants,
    connect_targets,
    db_user_arn,
    people_trust_policy,
    session_kinds,
)
from infra.components.access.session_manager import SessionTarget, session_policy
from infra.config import AccessSpec, Audience


def audience_role_name(resource_prefix: str, audience: str) -> str:
    """Fixed, so people and their identity provider know which role to ask for."""
    return f"{resource_prefix}-{audience}"


@dataclass(frozen=True)
class DatabaseInstances:
    """The instances people log in to: identified for IAM by their DbiResourceId."""

    primary_arn: pulumi.Input[str]
    primary_resource_id: pulumi.Input[str]
    replica_arns: Sequence[pulumi.Input[str]]
    replica_resource_ids: Sequence[pulumi.Input[str]]


@dataclass(frozen=True)
class AccessArgs:
    spec: AccessSpec
    resource_prefix: str
    partition: str
    region: str
    account_id: str
    cluster_name: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    namespace: str  # the environment's namespace: where `edit` applies
    database: DatabaseInstances
    boundary_arn: pulumi.Input[str] | None
    # The environment's Session Manager bastion, where it has one: on-call
    # (cluster admin) may open a shell there, every audience with a database
    # role may forward a port to the database through it.
    sessions: pulumi.Output[SessionTarget] | None = None


class Access(pulumi.ComponentResource):
    """One IAM role per audience with someone to assume it, mapped to cluster and database."""

    role_arns: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Access"), name, None, opts)
        self.role_arns = {}
        for audience in args.spec.audiences():
            self.role_arns[audience.name] = self._audience(name, audience, args)
        self.register_outputs({"audienceRoleArns": self.role_arns})

    def _audience(self, name: str, audience: Audience, args: AccessArgs) -> pulumi.Output[str]:
        resource = f"{name}-{audience.name}"
        role = aws.iam.Role(
            resource,
            name=audience_role_name(args.resource_prefix, audience.name),
            description=(
                f"{audience.name} of {args.resource_prefix}: cluster {audience.cluster}, "
                f"database {audience.database}"
            ),
            assume_role_policy=json.dumps(people_trust_policy(audience.principal_arns)),
            permissions_boundary=args.boundary_arn,
            opts=child(self),
        )
        database = args.database
        database_role = audience.database_role
        aws.iam.RolePolicy(
            f"{resource}-grants",
            name=physical_name(ROLE_POLICY, f"{resource}-grants"),
            role=role.id,
            policy=pulumi.Output.all(
                args.cluster_arn,
                database.primary_arn,
                database.primary_resource_id,
                pulumi.Output.all(*database.replica_arns),
                pulumi.Output.all(*database.replica_resource_ids),
            ).apply(
                lambda v: json.dumps(
                    audience_policy(
                        audience,
                        cluster_arn=str(v[0]),
                        primary_arn=str(v[1]),
                        replica_arns=[str(arn) for arn in v[3]],
                        connect_arns=[
                            db_user_arn(
                                args.partition, args.region, args.account_id, target, database_role
                            )
                            for target in connect_targets(audience, str(v[2]), list(v[4]))
                        ]
                        if database_role
                        else [],
                    )
                )
            ),
            opts=child(self),
        )
        kinds = session_kinds(audience)
        if args.sessions is not None and kinds:
            aws.iam.RolePolicy(
                f"{resource}-sessions",
                name=physical_name(ROLE_POLICY, f"{resource}-sessions"),
                role=role.id,
                policy=args.sessions.apply(lambda target: session_policy(kinds, target)),
                opts=child(self),
            )
        entry = aws.eks.AccessEntry(
            resource,
            cluster_name=args.cluster_name,
            principal_arn=role.arn,
            type="STANDARD",
            opts=child(self),
        )
        for policy, scope in cluster_grants(audience):
            aws.eks.AccessPolicyAssociation(
                f"{resource}-{policy.removeprefix('AmazonEKS').removesuffix('Policy').lower()}",
                cluster_name=args.cluster_name,
                principal_arn=entry.principal_arn,
                policy_arn=f"arn:{args.partition}:eks::aws:cluster-access-policy/{policy}",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                    type=scope, namespaces=[args.namespace] if scope == "namespace" else None
                ),
                opts=child(self),
            )
        return role.arn
