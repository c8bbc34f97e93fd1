"""IAM roles for ServiceAccounts (IRSA): one role per add-on, trusted by one ServiceAccount.

https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws_types import ROLE, ROLE_POLICY, physical_name
from infra.components._common import child

AUDIENCE = "sts.amazonaws.com"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True)
class ClusterIdentity:
    """What an IRSA trust needs of the cluster: its OIDC provider."""

    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]


def service_account_subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def trust_policy(provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """Exactly one ServiceAccount, for the STS audience: both pinned, StringEquals."""
    issuer = issuer_url.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": service_account_subject(namespace, service_account),
                            f"{issuer}:aud": AUDIENCE,
                        }
                    },
                }
            ],
        }
    )


def irsa_role(
    parent: pulumi.Resource,
    name: str,
    *,
    cluster: ClusterIdentity,
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    description: str,
    boundary_arn: pulumi.Input[str] | None,
    fixed_name: bool = False,
) -> aws.iam.Role:
    """The role ``namespace/service_account`` assumes, with ``policy`` inline.

    ``fixed_name``: named exactly ``name`` (no auto-name suffix), for a role
    another stack's policy names before it can read this stack's outputs.

    Inline, not a managed policy: it lives and dies with the role, and the
    deploy role may attach only AWS-managed policies. Under the
    environment's permissions boundary, like every role an environment makes.
    """
    role = aws.iam.Role(
        name,
        name=name if fixed_name else physical_name(ROLE, name),
        description=description,
        assume_role_policy=pulumi.Output.all(
            cluster.oidc_provider_arn, cluster.oidc_issuer_url
        ).apply(lambda v: trust_policy(str(v[0]), str(v[1]), namespace, service_account)),
        permissions_boundary=boundary_arn,
        opts=child(parent),
    )
    aws.iam.RolePolicy(
        f"{name}-policy",
        name=physical_name(ROLE_POLICY, f"{name}-policy"),
        role=role.id,
        policy=policy,
        opts=child(parent),
    )
    return role
