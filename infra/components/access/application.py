"""The application's identity: a ServiceAccount whose IAM role logs in to the database.

No database password: the application asks RDS for a 15-minute token
(`generate-db-auth-token`, the AWS SDKs' RDS signer) with the pod's IRSA
credentials and logs in as its own role, which may change rows and create
tables but is no master user.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components._common import child, type_token
from infra.components.access.policies import application_policy, db_user_arn
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION, ClusterIdentity, irsa_role
from infra.config import APP_DATABASE_ROLE, DatabaseSpec

APP_SERVICE_ACCOUNT = "app"


def database_login_settings(spec: DatabaseSpec, *, master_secret_arn: str) -> dict[str, str]:
    """How the application logs in, as its `app-connection` Secret tells it.

    With IAM authentication: as its own role, with a token its
    ServiceAccount's IRSA role may ask for; it never sees the master secret.
    Without: as the master user, whose secret it reads (no role to log in as).
    """
    if spec.iam_authentication:
        return {"DATABASE_USER": APP_DATABASE_ROLE, "DATABASE_IAM_AUTH": "true"}
    return {
        "DATABASE_USER": spec.master_username,
        "DATABASE_IAM_AUTH": "false",
        "DATABASE_MASTER_SECRET_ARN": master_secret_arn,
    }


@dataclass(frozen=True)
class ApplicationIdentityArgs:
    resource_prefix: str
    partition: str
    region: str
    account_id: str
    cluster: ClusterIdentity
    namespace: str
    database_role: str
    # DbiResourceIds of the primary and the replicas (the application may read there).
    database_resource_ids: Sequence[pulumi.Input[str]]
    labels: Mapping[str, str]
    kubernetes: k8s.Provider
    boundary_arn: pulumi.Input[str] | None
    wait_for: Sequence[pulumi.Resource] = ()


class ApplicationIdentity(pulumi.ComponentResource):
    """The `app` ServiceAccount in the environment namespace and its IRSA role."""

    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ApplicationIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("ApplicationIdentity"), name, None, opts)
        role = irsa_role(
            self,
            f"{name}-irsa",
            cluster=args.cluster,
            namespace=args.namespace,
            service_account=APP_SERVICE_ACCOUNT,
            policy=pulumi.Output.all(*args.database_resource_ids).apply(
                lambda ids: json.dumps(
                    application_policy(
                        [
                            db_user_arn(
                                args.partition,
                                args.region,
                                args.account_id,
                                str(resource_id),
                                args.database_role,
                            )
                            for resource_id in ids
                        ]
                    )
                )
            ),
            description=(
                f"The application of {args.resource_prefix}: log in to its database as "
                f"{args.database_role}"
            ),
            boundary_arn=args.boundary_arn,
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=APP_SERVICE_ACCOUNT,
                namespace=args.namespace,
                labels=dict(args.labels),
                annotations={ROLE_ARN_ANNOTATION: role.arn},
            ),
            opts=child(self, provider=args.kubernetes, depends_on=list(args.wait_for)),
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})
