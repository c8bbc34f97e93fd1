"""SharedEnvironment: a pull request's or a developer's environment on a shared cluster.

A full environment per pull request costs an EKS control plane, NAT and a
database server before it runs anything.  This one borrows all of that from
the shared stack (staging for `pr-<n>`, dev for `dev-<name>`), read through a
StackReference, and owns only what isolates it:

- a namespace with its own quota, default-deny network policy (other
  namespaces cannot reach it) and connection Secret;
- its own database and role inside the shared RDS instance, made by an
  in-cluster Job (or its own small instance where config asks);
- its own secrets (database password, JWT secret, Redis password) and a
  Redis user of its own, confined by its ACL to its key prefix;
- a TTL, as tags and outputs, after which `stagecraft env gc` removes it.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.aws_types import fitted_name
from infra.components._common import child, type_token
from infra.components.addons.load_balancer_controller import ingress_annotations
from infra.components.cache import ENGINE, MAX_USER_ID, REDIS_PORT, prefix_access
from infra.components.cluster import DEVELOPERS_GROUP
from infra.components.database import Database, DatabaseArgs
from infra.components.database_jobs import DatabaseJobs, DatabaseJobsArgs
from infra.components.secrets import store_secret
from infra.components.workloads import IngressSettings, Workloads, WorkloadsArgs
from infra.config import (
    ConfigError,
    DatabaseSpec,
    EphemeralStackConfig,
    Problem,
    database_admin_namespace,
)

# A shared stack's outputs this environment reads (see Environment.outputs).
REQUIRED_OUTPUTS = (
    "clusterName",
    "kubeconfig",
    "oidcProviderArn",
    "oidcIssuerUrl",
    "databaseAddress",
    "databasePort",
    "databaseSecretArn",
    "redisEndpoint",
    "redisUserGroupId",
    "kmsKeyArn",
    "vpcCidr",
    "vpcId",
    "privateSubnetIds",
    "nodeSecurityGroupId",
    "smallStackJobsRoleArn",
)


class SharedEnvironment(pulumi.ComponentResource):
    outputs: dict[str, pulumi.Output[object]]

    def __init__(
        self, name: str, config: EphemeralStackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("SharedEnvironment"), name, None, opts)
        shared_config = config.shared
        prefix = config.resource_prefix

        shared = pulumi.StackReference(
            f"{name}-shared", stack_name=shared_config.shared_stack, opts=child(self)
        )

        def parent_output(key: str) -> pulumi.Output[object]:
            return shared.require_output(key)

        def parent_str(key: str) -> pulumi.Output[str]:
            return parent_output(key).apply(str)

        provider = aws.Provider(
            f"{name}-aws",
            region=config.region,
            # Credentials of any other account are refused before anything is read.
            allowed_account_ids=[config.general.aws_account_id],
            default_tags={"tags": config.default_tags},
            opts=child(self),
        )
        on_aws = child(self, providers=[provider])
        kms_key_arn = parent_str("kmsKeyArn")

        database_password = random.RandomPassword(
            f"{name}-database-password", length=32, special=False, opts=child(self)
        )
        jwt_secret = random.RandomPassword(
            f"{name}-jwt-secret", length=64, special=False, opts=child(self)
        )
        redis_password = random.RandomPassword(
            f"{name}-redis-password", length=48, special=False, opts=child(self)
        )

        if shared_config.own_database:
            own = Database(
                f"{name}-database",
                DatabaseArgs(
                    spec=_small_database(config),
                    resource_prefix=prefix,
                    vpc_id=parent_str("vpcId"),
                    private_subnet_ids=parent_output("privateSubnetIds").apply(_as_str_list),
                    node_security_group_id=parent_str("nodeSecurityGroupId"),
                    kms_key_arn=kms_key_arn,
                    log_retention_days=config.general.log_retention_days,
                    protect=False,
                ),
                opts=on_aws,
            )
            database_host: pulumi.Output[str] = own.instance.address
            database_port: pulumi.Output[int] = own.instance.port
            admin_secret_arn = own.master_secret_arn
        else:
            database_host = parent_str("databaseAddress")
            # Numbers cross a StackReference as JSON numbers (5432.0).
            database_port = parent_output("databasePort").apply(lambda p: int(float(str(p))))
            admin_secret_arn = parent_str("databaseSecretArn")

        credentials_document = pulumi.Output.all(
            database_host, database_port, database_password.result
        ).apply(
            lambda v: json.dumps(
                {
                    "host": v[0],
                    "port": v[1],
                    "dbname": config.database_name,
                    "username": config.database_role,
                    "password": v[2],
                },
                sort_keys=True,
            )
        )
        credentials = store_secret(
            self,
            f"{name}-database-credentials",
            secret_name=f"{prefix}/database-credentials",
            description=f"Database, role and password of {config.stack} (generated)",
            value=credentials_document,
            kms_key_arn=kms_key_arn,
            protect=False,
            opts=on_aws,
        )
        jwt = store_secret(
            self,
            f"{name}-jwt-secret",
            secret_name=f"{prefix}/jwt-secret",
            description=f"JWT and session signing secret of {config.stack} (generated)",
            value=jwt_secret.result,
            kms_key_arn=kms_key_arn,
            protect=False,
            opts=on_aws,
        )

        # A Redis user of its own on the shared cache, whose ACL reaches only
        # this environment's key prefix: the shared stack's own credentials
        # never leave it.
        redis_secret = store_secret(
            self,
            f"{name}-redis-password",
            secret_name=f"{prefix}/redis-password",
            description=f"Redis user password of {config.stack} (generated)",
            value=redis_password.result,
            kms_key_arn=kms_key_arn,
            protect=False,
            opts=on_aws,
        )
        redis_user = aws.elasticache.User(
            f"{name}-redis-user",
            user_id=fitted_name(prefix, MAX_USER_ID),
            user_name=config.stack,
            engine=ENGINE,
            access_string=prefix_access(config.redis_key_prefix),
            authentication_mode={
                "type": "password",
                "passwords": [redis_password.result],  # a secret output of pulumi-random
            },
            opts=on_aws,
        )
        redis_membership = aws.elasticache.UserGroupAssociation(
            f"{name}-redis-user",
            user_group_id=parent_str("redisUserGroupId"),
            user_id=redis_user.user_id,
            opts=on_aws,
        )

        app_settings = pulumi.Output.all(
            database_host,
            database_port,
            database_password.result,
            parent_str("redisEndpoint"),
            redis_password.result,
            jwt.arn,
            credentials.arn,
            redis_secret.arn,
        ).apply(
            lambda v: {
                "DATABASE_HOST": str(v[0]),
                "DATABASE_PORT": str(v[1]),
                "DATABASE_NAME": config.database_name,
                "DATABASE_USER": config.database_role,
                "DATABASE_PASSWORD": str(v[2]),
                "DATABASE_SSLMODE": "verify-full",
                "REDIS_HOST": str(v[3]),
                "REDIS_PORT": str(REDIS_PORT),
                "REDIS_TLS": "true",
                "REDIS_USERNAME": config.stack,
                "REDIS_PASSWORD": str(v[4]),
                "REDIS_PASSWORD_SECRET_ARN": str(v[7]),
                "REDIS_KEY_PREFIX": config.redis_key_prefix,
                "JWT_SECRET_ARN": str(v[5]),
                "DATABASE_CREDENTIALS_SECRET_ARN": str(v[6]),
            }
        )
        # The shared stack's ALB serves this stack too: its IngressGroup, a
        # hostname under the shared domain (covered by its wildcard
        # certificate, written into its zone by its external-dns).
        hostname = pulumi.Output.concat(config.stack, ".", parent_str("domain"))
        ingress = IngressSettings(
            ingress_class=parent_str("ingressClass"),
            group=parent_str("ingressGroup"),
            host=hostname,
            source_cidrs=parent_output("ingressSourceCidrs").apply(_as_str_list),
            annotations=ingress_annotations(),
        )
        workloads = Workloads(
            f"{name}-workloads",
            WorkloadsArgs(
                spec=config.workloads,
                environment=config.stack,
                ingress=ingress,
                cluster_name=parent_str("clusterName"),
                kubeconfig=parent_str("kubeconfig"),
                vpc_cidr=parent_str("vpcCidr"),
                app_settings=app_settings,
                # A pull request's or a developer's own environment: developers
                # may change it (never its database-admin namespace).
                developers_edit_group=DEVELOPERS_GROUP,
                # The application may log in to Redis only once its user is in
                # the shared cache's user group.
                wait_for=[redis_membership],
            ),
            opts=child(self),
        )
        DatabaseJobs(
            f"{name}-database-jobs",
            DatabaseJobsArgs(
                resource_prefix=prefix,
                namespace=workloads.namespace_name,
                provider=workloads.provider,
                labels=workloads.labels,
                oidc_provider_arn=parent_str("oidcProviderArn"),
                oidc_issuer_url=parent_str("oidcIssuerUrl"),
                admin_secret_arn=admin_secret_arn,
                kms_key_arn=kms_key_arn,
                database_host=database_host,
                database_port=database_port,
                database_name=config.database_name,
                role=config.database_role,
                role_password=database_password.result,
                create=True,
                wait_for=[workloads.namespace],
                dedicated_namespace=database_admin_namespace(config.stack),
                # The shared stack's role for its small stacks' Jobs: this
                # stack creates no IAM role (its CI role may create none).
                role_arn=parent_str("smallStackJobsRoleArn"),
                seed_from_database=(
                    shared.get_output("anonymisedDataDatabase").apply(
                        lambda name: _anonymised_copy(config, name)
                    )
                    if shared_config.initial_data == "anonymised"
                    else None
                ),
            ),
            opts=on_aws,
        )

        expires_at = config.default_tags["expires-at"]
        self.outputs = {
            "namespace": workloads.namespace_name,
            "url": pulumi.Output.concat("https://", hostname),
            "hostname": hostname,
            "ingressClass": parent_str("ingressClass"),
            "sharedStack": pulumi.Output.from_input(shared_config.shared_stack),
            "databaseHost": database_host,
            "databaseName": pulumi.Output.from_input(config.database_name),
            "databaseRole": pulumi.Output.from_input(config.database_role),
            "databaseCredentialsSecretArn": credentials.arn,
            "redisKeyPrefix": pulumi.Output.from_input(config.redis_key_prefix),
            "redisUser": pulumi.Output.from_input(config.stack),
            "ttl": pulumi.Output.from_input(shared_config.ttl),
            "expiresAt": pulumi.Output.from_input(expires_at),
        }
        self.register_outputs(self.outputs)


def _anonymised_copy(config: EphemeralStackConfig, database: object) -> str:
    """The shared stack's anonymised copy of production, or one clear error (in preview)."""
    if not database:
        raise ConfigError(
            config.stack,
            [
                Problem(
                    "stagecraft:initialData",
                    config.shared.initial_data,
                    f"{config.shared.shared_stack} keeps no anonymised copy of production "
                    "(only a stack with dataImport keeps one: staging, for pr-<n>); use "
                    "initialData: seed",
                )
            ],
        )
    return str(database)


def _as_str_list(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _small_database(config: EphemeralStackConfig) -> DatabaseSpec:
    """The own database of a schema-changing pull request: small, disposable."""
    storage = config.shared.own_db_allocated_storage_gb
    return DatabaseSpec.model_validate(
        {
            "dbEngineVersion": "16",
            "dbInstanceClass": config.shared.own_db_instance_class,
            "dbAllocatedStorageGb": storage,
            "dbMaxAllocatedStorageGb": storage * 2,
            "dbMultiAz": False,
            "dbBackupRetentionDays": 1,
            "dbDeletionProtection": False,
            "dbFinalSnapshot": False,
            "dbName": "app",
        }
    )
