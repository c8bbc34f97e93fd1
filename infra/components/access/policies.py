"""The IAM documents of the access layer (pure, tested without Pulumi)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from infra.config import Audience

# EKS access policies, by what an audience may do in the cluster.
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
VIEW_POLICY = "AmazonEKSViewPolicy"
EDIT_POLICY = "AmazonEKSEditPolicy"
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"


def db_user_arn(partition: str, region: str, account_id: str, resource_id: str, user: str) -> str:
    """The one database user on the one instance an `rds-db:connect` grant names.

    ``resource_id`` is the instance's DbiResourceId (`db-...`), not its name:
    a restored or re-created instance gets a new one, and an old grant dies with it.
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
    """
    return f"arn:{partition}:rds-db:{region}:{account_id}:dbuser:{resource_id}/{user}"


def people_trust_policy(principal_arns: Sequence[str]) -> dict[str, Any]:
    """The listed people's roles (or users) may assume the audience role, and nobody else.

    `sts:SetSourceIdentity` lets an identity provider pass the person's name,
    which CloudTrail then records on every call made with the role.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ThePeopleOfThisAudience",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(principal_arns)},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
            }
        ],
    }


def audience_policy(
    audience: Audience,
    *,
    cluster_arn: str,
    primary_arn: str,
    replica_arns: Sequence[str],
    connect_arns: Sequence[str],
) -> dict[str, Any]:
    """What an audience's role may do beyond its cluster access entry.

    Find the cluster (for `aws eks update-kubeconfig`) and the database
    instances, and log in to the database as exactly its role where it has
    one (``connect_arns``: that user on the instances it may reach).
    """
    statements: list[dict[str, Any]] = [
        {
            "Sid": "FindTheCluster",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": cluster_arn,
        },
    ]
    if connect_arns:
        statements += [
            {
                "Sid": "FindTheDatabase",
                "Effect": "Allow",
                "Action": "rds:DescribeDBInstances",
                "Resource": [primary_arn, *replica_arns],
            },
            {
                "Sid": "LogInToTheDatabase",
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "Resource": list(connect_arns),
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def connect_targets(
    audience: Audience, primary_resource_id: str, replica_resource_ids: Sequence[str]
) -> list[str]:
    """The instances an audience's database role logs in to: read-only people may
    use the replicas (and should: the primary keeps its I/O); writers need the primary."""
    if audience.database == "none":
        return []
    if audience.database == "read-only":
        return [primary_resource_id, *replica_resource_ids]
    return [primary_resource_id]


def cluster_grants(audience: Audience) -> list[tuple[str, str]]:
    """EKS access policies and their scope (`cluster` or `namespace`) for an audience."""
    if audience.cluster == "admin":
        return [(CLUSTER_ADMIN_POLICY, "cluster")]
    if audience.cluster == "edit":
        return [(VIEW_POLICY, "cluster"), (EDIT_POLICY, "namespace")]
    return [(VIEW_POLICY, "cluster")]


def session_kinds(audience: Audience) -> list[Literal["shell", "port-forwarding"]]:
    """The Session Manager sessions an audience may open on the bastion.

    A shell in the VPC is cluster-admin's (on-call, DevOps); a port forwarded
    to the database is for whoever has a database role to log in as.
    """
    kinds: list[Literal["shell", "port-forwarding"]] = []
    if audience.cluster == "admin":
        kinds.append("shell")
    if audience.database != "none":
        kinds.append("port-forwarding")
    return kinds


def application_policy(connect_arns: Sequence[str]) -> dict[str, Any]:
    """The application logs in as its database role, on the primary and the replicas."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LogInToTheDatabase",
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "Resource": list(connect_arns),
            }
        ],
    }
