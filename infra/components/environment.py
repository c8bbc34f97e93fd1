"""Environment: one stack's whole platform, composed from the six components."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components._common import child, type_token
from infra.components.access.application import (
    APP_SERVICE_ACCOUNT,
    ApplicationIdentity,
    ApplicationIdentityArgs,
    database_login_settings,
)
from infra.components.access.audiences import Access, AccessArgs, DatabaseInstances
from infra.components.access.session_manager import (
    SessionManager,
    SessionManagerArgs,
    SessionTarget,
)
from infra.components.addons import (
    ClusterAddons,
    ClusterAddonsArgs,
    ClusterIdentity,
    ingress_annotations,
)
from infra.components.addons.load_balancer_controller import INGRESS_CLASS
from infra.components.addons.small_stack_ingress import SmallStackIngress, SmallStackIngressArgs
from infra.components.cache import (
    REDIS_PORT,
    Cache,
    CacheArgs,
    member_cluster_ids,
    replication_group_id,
)
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.cost_controls.budget import COST_ALLOCATION_TAG, Budget, BudgetArgs
from infra.components.cost_controls.off_hours import (
    OffHours,
    OffHoursArgs,
    ScheduledDatabase,
    ScheduledNodeGroup,
)
from infra.components.data_sync.exporter import EXPORT_ROLE, DataExport, DataExportArgs
from infra.components.data_sync.importer import (
    ANONYMISED_SNAPSHOT_DATABASE,
    DataImport,
    DataImportArgs,
)
from infra.components.database import (
    POSTGRES_PORT,
    Database,
    DatabaseArgs,
    instance_identifier,
    replica_identifier,
)
from infra.components.database_jobs import (
    AccessRoles,
    DatabaseJobs,
    DatabaseJobsArgs,
    small_stack_jobs_role,
)
from infra.components.network import EKS_UNSUPPORTED_ZONE_IDS, Network, NetworkArgs, Zone
from infra.components.observability.access_logs import AccessLogs, AccessLogsArgs
from infra.components.observability.alerting import Alerting, AlertingArgs, WatchedResources
from infra.components.observability.audit_trail import AuditTrail, AuditTrailArgs, trail_arn
from infra.components.observability.monitoring import NAMESPACE as MONITORING_NAMESPACE
from infra.components.observability.monitoring import Monitoring, MonitoringArgs
from infra.components.recovery.backup import Backup, BackupArgs
from infra.components.recovery.smoke_test import SmokeTest, SmokeTestArgs
from infra.components.secrets import ConnectionInfo, ConnectionInfoArgs, Secrets, SecretsArgs
from infra.components.small_stack_access import SmallStackAccess, SmallStackAccessArgs
from infra.components.third_party_secrets import ThirdPartySecrets, ThirdPartySecretsArgs
from infra.components.workloads import IngressSettings, Workloads, WorkloadsArgs
from infra.config import (
    APP_DATABASE_ROLE,
    READ_ONLY_DATABASE_ROLE,
    READ_WRITE_DATABASE_ROLE,
    ConfigError,
    Problem,
    StackConfig,
    environment_boundary_name,
    small_stack_namespaces,
)
from infra.subnets import plan_subnets


class Environment(pulumi.ComponentResource):
    """VPC, EKS, RDS, ElastiCache, secrets and a namespace, sized by ``config``.

    Every AWS resource below goes through one explicit provider whose default
    tags carry environment, project, stack, owner and cost center, so nothing
    can be created untagged or in the wrong region by a stray default provider.
    """

    outputs: dict[str, pulumi.Output[object]]
    # The bastion people reach through Session Manager, where config has one:
    # its `target` is what the audience roles' session policies name.
    session_manager: SessionManager | None

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Environment"), name, None, opts)
        general = config.general
        prefix = config.resource_prefix
        protect = general.protect_stateful_resources

        provider = aws.Provider(
            f"{name}-aws",
            region=config.region,
            # Credentials of any other account are refused before anything is read.
            allowed_account_ids=[config.general.aws_account_id],
            default_tags={"tags": config.default_tags},
            opts=child(self),
        )
        on_aws = child(self, providers=[provider])
        zones, boundary_arn = _preflight(config, provider)
        hosted = config.hosted_small_stack_kind
        namespaces = small_stack_namespaces(hosted) if hosted else None
        aws_partition = config.partition
        trail = (
            trail_arn(aws_partition, config.region, general.aws_account_id, prefix)
            if config.tier.cloud_trail
            else None
        )

        secrets = Secrets(
            f"{name}-secrets",
            SecretsArgs(
                resource_prefix=prefix, region=config.region, protect=protect, trail_arn=trail
            ),
            opts=on_aws,
        )
        kms_key_arn = secrets.kms_key.arn

        network = Network(
            f"{name}-network",
            NetworkArgs(
                spec=config.network,
                resource_prefix=prefix,
                cluster_name=config.cluster_name,
                audit_log_retention_days=config.tier.audit_log_retention_days,
                kms_key_arn=kms_key_arn,
                availability_zones=zones,
                role_boundary_arn=boundary_arn,
            ),
            opts=on_aws,
        )
        cluster = Cluster(
            f"{name}-cluster",
            ClusterArgs(
                spec=config.cluster,
                cluster_name=config.cluster_name,
                region=config.region,
                audit_log_retention_days=config.tier.audit_log_retention_days,
                kms_key_arn=kms_key_arn,
                private_subnet_ids=network.private_subnet_ids,
                public_subnet_ids=network.public_subnet_ids,
                protect=protect,
                small_stack_namespaces=namespaces[0] if namespaces else None,
                role_boundary_arn=boundary_arn,
            ),
            opts=on_aws,
        )
        database = Database(
            f"{name}-database",
            DatabaseArgs(
                spec=config.database,
                resource_prefix=prefix,
                vpc_id=network.vpc.id,
                private_subnet_ids=network.private_subnet_ids,
                node_security_group_id=cluster.node_security_group_id,
                kms_key_arn=kms_key_arn,
                log_retention_days=general.log_retention_days,
                protect=protect,
                role_boundary_arn=boundary_arn,
                long_replica_reads=config.data_sync.data_export
                and config.database.read_replicas > 0,
            ),
            opts=on_aws,
        )
        cache = Cache(
            f"{name}-cache",
            CacheArgs(
                spec=config.cache,
                resource_prefix=prefix,
                vpc_id=network.vpc.id,
                private_subnet_ids=network.private_subnet_ids,
                availability_zones=network.availability_zones,
                node_security_group_id=cluster.node_security_group_id,
                kms_key_arn=kms_key_arn,
                app_password=secrets.redis_password,
                protect=protect,
            ),
            opts=on_aws,
        )
        connection_info = ConnectionInfo(
            f"{name}-connection-info",
            ConnectionInfoArgs(
                resource_prefix=prefix,
                kms_key_arn=kms_key_arn,
                database_address=database.instance.address,
                database_port=database.instance.port,
                database_name=config.database.database_name,
                database_username=config.database.master_username,
                database_master_secret_arn=database.master_secret_arn,
                redis_address=cache.primary_address,
                redis_port=REDIS_PORT,
                redis_username=cache.app_user_name,
                redis_password_secret_arn=secrets.redis_password_secret_arn,
                jwt_secret_arn=secrets.jwt_secret_arn,
                protect=protect,
            ),
            opts=on_aws,
        )
        app_settings = pulumi.Output.all(
            database.instance.address,
            database.instance.port,
            database.master_secret_arn,
            cache.primary_address,
            secrets.redis_password,
            connection_info.secret_arn,
            secrets.jwt_secret_arn,
        ).apply(
            lambda v: {
                "DATABASE_HOST": str(v[0]),
                "DATABASE_PORT": str(v[1]),
                "DATABASE_NAME": config.database.database_name,
                **database_login_settings(config.database, master_secret_arn=str(v[2])),
                "DATABASE_SSLMODE": "verify-full",
                "REDIS_HOST": str(v[3]),
                "REDIS_PORT": str(REDIS_PORT),
                "REDIS_TLS": "true",
                "REDIS_USERNAME": cache.app_user_name,
                "REDIS_PASSWORD": str(v[4]),
                "CONNECTION_INFO_SECRET_ARN": str(v[5]),
                "JWT_SECRET_ARN": str(v[6]),
            }
        )
        developers_edit_group = (
            cluster.developers_group if config.cluster.developer_access == "edit" else None
        )
        addons_spec = config.addons
        # The ALB sits in the public subnets; pods never get addresses there.
        ingress_sources = [
            zone.public_cidr
            for zone in plan_subnets(
                config.network.vpc_cidr, config.network.availability_zone_count
            )
        ]
        ingress = (
            IngressSettings(
                ingress_class=INGRESS_CLASS,
                group=config.cluster_name,
                host=addons_spec.domain,
                source_cidrs=ingress_sources,
                annotations=ingress_annotations(),
            )
            if addons_spec.load_balancer_controller and addons_spec.domain
            else None
        )
        # Built from the cluster's own outputs, so nothing is read from or
        # written to ~/.kube; `cluster_identifier` keeps a kubeconfig change
        # (say, a new CA bundle) from replacing every object. Created after the
        # nodes to run on, the enforced network policies, and the route from
        # the operator networks to a private endpoint.
        cluster_identity = ClusterIdentity(
            oidc_provider_arn=cluster.oidc_provider.arn,
            oidc_issuer_url=cluster.oidc_provider.url,
        )
        self._oidc_provider_arn = cluster.oidc_provider.arn
        self._oidc_issuer_url = cluster.oidc_provider.url
        kubernetes = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=cluster.kubeconfig,  # a secret already
            cluster_identifier=config.cluster_name,
            opts=child(self, depends_on=[*cluster.ready, *network.operator_path]),
        )
        addons = ClusterAddons(
            f"{name}-addons",
            ClusterAddonsArgs(
                spec=addons_spec,
                cluster_name=config.cluster_name,
                kubernetes_version=config.cluster.kubernetes_version,
                region=config.region,
                resource_prefix=prefix,
                vpc_id=network.vpc.id,
                vpc_arn=network.vpc.arn,
                cluster=cluster_identity,
                boundary_arn=boundary_arn,
                tags=config.default_tags,
                protect=protect,
                kms_key_arn=kms_key_arn,
                partition=aws_partition,
                nodes=cluster.ready,
            ),
            opts=child(self, providers=[provider, kubernetes]),
        )
        workloads = Workloads(
            f"{name}-workloads",
            WorkloadsArgs(
                spec=config.workloads,
                environment=config.stack,
                cluster_name=config.cluster_name,
                kubeconfig=cluster.kubeconfig,
                vpc_cidr=config.network.vpc_cidr,
                app_settings=app_settings,
                developers_edit_group=developers_edit_group,
                ingress=ingress,
                monitoring_namespace=MONITORING_NAMESPACE if config.monitoring.monitoring else None,
                provider=kubernetes,
                # Deleted before the controllers: they remove the ALB rules and
                # DNS records of the namespace's Ingresses (their finalizers).
                namespace_depends_on=addons.releases,
            ),
            opts=child(self),
        )

        observability_outputs = self._observability(
            name,
            config,
            provider=provider,
            kubernetes=kubernetes,
            partition=aws_partition,
            kms_key_arn=kms_key_arn,
            boundary_arn=boundary_arn,
            storage=[addons.storage.storage_class],
            watched=WatchedResources(
                database_id=instance_identifier(prefix, config.database.restore_name),
                database_named_after=instance_identifier(prefix),
                replica_ids=[
                    replica_identifier(instance_identifier(prefix, config.database.restore_name), n)
                    for n in range(1, config.database.read_replicas + 1)
                ],
                database_instance_class=config.database.instance_class,
                database_allocated_storage_gb=config.database.allocated_storage_gb,
                database_max_storage_gb=config.database.max_allocated_storage_gb,
                cache_member_clusters=member_cluster_ids(
                    replication_group_id(prefix), config.cache.node_count
                ),
                nat_gateways={f"az{i + 1}": nat.id for i, nat in enumerate(network.nat_gateways)},
                autoscaling_group=cluster.node_group.resources.apply(_autoscaling_group),
                cluster_name=config.cluster_name,
            ),
        )

        cost_outputs = self._cost_controls(
            name,
            config,
            provider=provider,
            cluster=cluster,
            database=database,
            alert_topic=self._alert_topic_open,
            boundary_arn=boundary_arn,
        )

        shell_outputs = self._shell_access(
            name,
            config,
            provider=provider,
            network=network,
            database=database,
            cache=cache,
            kms_key_arn=kms_key_arn,
            boundary_arn=boundary_arn,
        )

        access_outputs, database_roles = self._access(
            name,
            config,
            provider=provider,
            kubernetes=kubernetes,
            cluster=cluster,
            cluster_identity=cluster_identity,
            database=database,
            kms_key_arn=kms_key_arn,
            boundary_arn=boundary_arn,
            labels=workloads.labels,
            namespace=workloads.namespace,
            wait_for=[*cluster.ready, *addons.releases],
            sessions=self.session_manager.target if self.session_manager else None,
        )
        data_sync_outputs = self._data_sync(
            name,
            config,
            provider=provider,
            kubernetes=kubernetes,
            cluster=cluster_identity,
            database=database,
            kms_key_arn=kms_key_arn,
            boundary_arn=boundary_arn,
            labels=workloads.labels,
            wait_for=[*cluster.ready, *addons.releases],
            database_roles=database_roles,
        )

        third_party_outputs = self._third_party_secrets(
            name,
            config,
            providers=[provider, kubernetes],
            cluster=cluster_identity,
            kms_key_arn=kms_key_arn,
            boundary_arn=boundary_arn,
            labels=workloads.labels,
            wait_for=[*cluster.ready, workloads.namespace],
        )

        backup_outputs = self._backups(
            name, config, provider=provider, database=database, boundary_arn=boundary_arn
        )

        small_stack_outputs: dict[str, pulumi.Output[object]] = {}
        if namespaces:
            # The pr-<n>/dev-<name> stacks this cluster hosts run their
            # database Jobs with this one role; they create no IAM role.
            jobs_role = small_stack_jobs_role(
                self,
                name,
                provider=provider,
                resource_prefix=prefix,
                namespace_pattern=f"{namespaces[0]}-dbadmin",
                oidc_provider_arn=cluster.oidc_provider.arn,
                oidc_issuer_url=cluster.oidc_provider.url,
                admin_secret_arn=database.master_secret_arn,
                small_stack_secrets=(
                    f"arn:{aws_partition}:secretsmanager:{config.region}:"
                    f"{general.aws_account_id}:secret:{config.project}-{namespaces[0]}"
                    "/database-master-*"
                ),
                kms_key_arn=kms_key_arn,
                role_boundary_arn=boundary_arn,
            )
            small_stack_outputs["smallStackJobsRoleArn"] = jobs_role.arn

        if namespaces and ingress is not None:
            # The small stacks share this ALB: they publish only their own hostname.
            SmallStackIngress(
                f"{name}-small-stack-ingress",
                SmallStackIngressArgs(
                    namespace_pattern=namespaces[1],
                    domain=addons_spec.domain,
                    labels=workloads.labels,
                ),
                opts=child(self, providers=[kubernetes]),
            )

        if cluster.small_stack_deployers_group and namespaces:
            SmallStackAccess(
                f"{name}-small-stack-access",
                SmallStackAccessArgs(
                    group=cluster.small_stack_deployers_group,
                    namespace_pattern=namespaces[1],
                    provider=workloads.provider,
                    labels=workloads.labels,
                ),
                opts=child(self),
            )

        if config.database.reset_schedule:
            # A sandbox: the application database goes back to the seed data
            # on a schedule, from a CronJob inside the cluster (the only place
            # that can reach the database).
            DatabaseJobs(
                f"{name}-database-reset",
                DatabaseJobsArgs(
                    resource_prefix=prefix,
                    namespace=workloads.namespace_name,
                    provider=workloads.provider,
                    labels=workloads.labels,
                    oidc_provider_arn=cluster.oidc_provider.arn,
                    oidc_issuer_url=cluster.oidc_provider.url,
                    admin_secret_arn=database.master_secret_arn,
                    kms_key_arn=kms_key_arn,
                    database_host=database.instance.address,
                    database_port=database.instance.port,
                    database_name=config.database.database_name,
                    role=config.database.master_username,
                    reset_schedule=config.database.reset_schedule,
                    wait_for=[workloads.namespace],
                    role_boundary_arn=boundary_arn,
                ),
                opts=on_aws,
            )

        smoke_outputs = self._smoke_test(name, config, workloads)

        self.outputs = {
            "clusterName": cluster.eks_cluster.name,
            "clusterEndpoint": cluster.eks_cluster.endpoint,
            "kubeconfig": cluster.kubeconfig,
            "oidcProviderArn": cluster.oidc_provider.arn,
            "databaseEndpoint": database.instance.endpoint,
            # The live primary: a point-in-time restore gives it a new identifier.
            "databaseIdentifier": database.instance.identifier,
            "databaseSecretArn": database.master_secret_arn,
            "connectionInfoSecretArn": connection_info.secret_arn,
            "redisEndpoint": cache.primary_address,
            "namespace": workloads.namespace_name,
            "vpcId": network.vpc.id,
            "privateSubnetIds": pulumi.Output.all(*network.private_subnet_ids),
            # What pr-<n> and dev-<name> stacks on this cluster read through
            # a StackReference (see infra/components/shared_environment.py).
            "oidcIssuerUrl": cluster.oidc_provider.url,
            "nodeSecurityGroupId": cluster.node_security_group_id,
            "databaseAddress": database.instance.address,
            "databasePort": database.instance.port,
            "redisPort": pulumi.Output.from_input(REDIS_PORT),
            "redisUserGroupId": cache.user_group_id,
            "kmsKeyArn": kms_key_arn,
            "vpcCidr": pulumi.Output.from_input(config.network.vpc_cidr),
            "region": pulumi.Output.from_input(config.region),
            # Where the ALB's addresses are: what a small stack's namespace lets in.
            "ingressSourceCidrs": pulumi.Output.from_input(ingress_sources),
            **addons.outputs,
            **small_stack_outputs,
            **observability_outputs,
            **cost_outputs,
            **access_outputs,
            **data_sync_outputs,
            **third_party_outputs,
            **smoke_outputs,
            **shell_outputs,
            **backup_outputs,
        }
        self.register_outputs(self.outputs)

    def _observability(
        self,
        name: str,
        config: StackConfig,
        *,
        provider: aws.Provider,
        kubernetes: k8s.Provider,
        partition: str,
        kms_key_arn: pulumi.Output[str],
        boundary_arn: str,
        storage: list[pulumi.Resource],
        watched: WatchedResources,
    ) -> dict[str, pulumi.Output[object]]:
        """Monitoring in the cluster, alarms and their topic, the audit trail: as configured."""
        prefix, protect = config.resource_prefix, config.general.protect_stateful_resources
        account_id = config.general.aws_account_id
        outputs: dict[str, pulumi.Output[object]] = {}
        self._alert_topic_open: pulumi.Output[str] | None = None
        on_aws = child(self, providers=[provider])
        log_bucket = None
        self._access_log_bucket: pulumi.Output[str] | None = None
        if config.monitoring.monitoring or config.tier.cloud_trail:
            log_bucket = AccessLogs(
                f"{name}-access-logs",
                AccessLogsArgs(
                    resource_prefix=prefix,
                    account_id=account_id,
                    partition=partition,
                    retention_days=config.tier.audit_log_retention_days,
                    protect=protect,
                ),
                opts=on_aws,
            ).bucket
            outputs["accessLogBucket"] = log_bucket.bucket
            self._access_log_bucket = log_bucket.id
        if config.monitoring.monitoring and log_bucket is not None:
            monitoring = Monitoring(
                f"{name}-monitoring",
                MonitoringArgs(
                    spec=config.monitoring,
                    alerting=config.alerting,
                    environment=config.stack,
                    resource_prefix=prefix,
                    account_id=account_id,
                    region=config.region,
                    kms_key_arn=kms_key_arn,
                    log_bucket=log_bucket.id,
                    cluster=ClusterIdentity(
                        oidc_provider_arn=self._oidc_provider_arn,
                        oidc_issuer_url=self._oidc_issuer_url,
                    ),
                    boundary_arn=boundary_arn,
                    protect=protect,
                    wait_for=storage,
                ),
                opts=child(self, providers=[provider, kubernetes]),
            )
            outputs.update(monitoring.outputs)
        if config.alerting.alert_receivers:
            alerting = Alerting(
                f"{name}-alerting",
                AlertingArgs(
                    spec=config.alerting,
                    resource_prefix=prefix,
                    region=config.region,
                    account_id=account_id,
                    partition=partition,
                    kms_key_arn=kms_key_arn,
                    watched=watched,
                    domain=config.addons.domain,
                    tags=config.default_tags,
                    boundary_arn=boundary_arn,
                ),
                opts=on_aws,
            )
            outputs["alertTopicArn"] = alerting.topic.arn
            # Handed on once the topic's policy lets AWS Budgets publish.
            self._alert_topic_open = pulumi.Output.all(
                alerting.topic.arn, alerting.topic_policy.id
            ).apply(lambda v: str(v[0]))
        if config.tier.cloud_trail and log_bucket is not None:
            trail = AuditTrail(
                f"{name}-audit-trail",
                AuditTrailArgs(
                    resource_prefix=prefix,
                    region=config.region,
                    account_id=account_id,
                    partition=partition,
                    kms_key_arn=kms_key_arn,
                    log_bucket=log_bucket.id,
                    retention_days=config.tier.cloud_trail_retention_days,
                    log_group_retention_days=config.tier.audit_log_retention_days,
                    boundary_arn=boundary_arn,
                    protect=protect,
                ),
                opts=on_aws,
            )
            outputs["trailArn"] = trail.trail.arn
        return outputs

    def _cost_controls(
        self,
        name: str,
        config: StackConfig,
        *,
        provider: aws.Provider,
        cluster: Cluster,
        database: Database,
        alert_topic: pulumi.Output[str] | None,
        boundary_arn: str,
    ) -> dict[str, pulumi.Output[object]]:
        """The stack's AWS budget, and the off-hours schedule where config has one."""
        on_aws = child(self, providers=[provider])
        cost, prefix = config.cost, config.resource_prefix
        budget = Budget(
            f"{name}-budget",
            BudgetArgs(
                resource_prefix=prefix,
                stack_tag=config.default_tags[COST_ALLOCATION_TAG],
                monthly_limit_usd=config.general.monthly_budget_usd,
                actual_alert_percent=cost.budget_actual_alert_percent,
                forecast_alert_percent=cost.budget_forecast_alert_percent,
                emails=cost.budget_alert_emails,
                topic_arn=alert_topic if config.budget_notifies_topic else None,
            ),
            opts=on_aws,
        )
        outputs: dict[str, pulumi.Output[object]] = {"budgetName": budget.budget.name}
        working_hours = cost.schedule
        if working_hours is None:
            return outputs
        # Every node group of the cluster, back at its configured sizes each morning.
        node_groups = [
            ScheduledNodeGroup(
                label=shape.suffix,
                cluster_name=config.cluster_name,
                node_group_name=group.node_group_name,
                node_group_arn=group.arn,
                min_size=shape.sizes[0],
                max_size=shape.sizes[1],
                desired_size=shape.sizes[2],
            )
            for shape, group in cluster.node_groups
        ]
        off_hours = OffHours(
            f"{name}-off-hours",
            OffHoursArgs(
                working_hours=working_hours,
                time_zone=cost.working_hours_time_zone,
                resource_prefix=prefix,
                account_id=config.general.aws_account_id,
                region=config.region,
                partition=config.partition,
                node_groups=node_groups,
                database=ScheduledDatabase(
                    identifier=instance_identifier(prefix, config.database.restore_name),
                    arn=database.instance.arn,
                ),
                boundary_arn=boundary_arn,
            ),
            opts=on_aws,
        )
        outputs["offHoursScheduleGroup"] = off_hours.schedule_group.name
        return outputs

    def _access(
        self,
        name: str,
        config: StackConfig,
        *,
        provider: aws.Provider,
        kubernetes: k8s.Provider,
        cluster: Cluster,
        cluster_identity: ClusterIdentity,
        database: Database,
        kms_key_arn: pulumi.Output[str],
        boundary_arn: str,
        labels: dict[str, str],
        namespace: pulumi.Resource,
        wait_for: Sequence[pulumi.Resource],
        sessions: pulumi.Output[SessionTarget] | None,
    ) -> tuple[dict[str, pulumi.Output[object]], list[pulumi.Resource]]:
        """Who logs in to what: the database's roles, the application's identity, the
        audiences' IAM roles. Returns the outputs and what a database reader waits for."""
        prefix, access = config.resource_prefix, config.access
        outputs: dict[str, pulumi.Output[object]] = {}
        on_aws = child(self, providers=[provider, kubernetes])
        database_roles: list[pulumi.Resource] = []
        if config.database.iam_authentication:
            # Made from inside the cluster, the only place that reaches the database,
            # in a namespace of their own: the master secret stays out of the
            # application's namespace.
            database_roles.append(
                DatabaseJobs(
                    f"{name}-database-roles",
                    DatabaseJobsArgs(
                        resource_prefix=prefix,
                        namespace="database-admin",
                        dedicated_namespace="database-admin",
                        provider=kubernetes,
                        labels=labels,
                        oidc_provider_arn=cluster_identity.oidc_provider_arn,
                        oidc_issuer_url=cluster_identity.oidc_issuer_url,
                        admin_secret_arn=database.master_secret_arn,
                        kms_key_arn=kms_key_arn,
                        database_host=database.instance.address,
                        database_port=database.instance.port,
                        database_name=config.database.database_name,
                        role=config.database.master_username,
                        export_role=EXPORT_ROLE if config.data_sync.data_export else None,
                        access_roles=database_access_roles(config),
                        wait_for=wait_for,
                        role_boundary_arn=boundary_arn,
                    ),
                    opts=child(self, providers=[provider]),
                )
            )
            application = ApplicationIdentity(
                f"{name}-application",
                ApplicationIdentityArgs(
                    resource_prefix=prefix,
                    partition=config.partition,
                    region=config.region,
                    account_id=config.general.aws_account_id,
                    cluster=cluster_identity,
                    namespace=config.workloads.namespace,
                    database_role=APP_DATABASE_ROLE,
                    database_resource_ids=[
                        database.instance.resource_id,
                        *(replica.resource_id for replica in database.replicas),
                    ],
                    labels=labels,
                    kubernetes=kubernetes,
                    boundary_arn=boundary_arn,
                    wait_for=[namespace],
                ),
                opts=on_aws,
            )
            outputs["applicationRoleArn"] = application.role_arn
        audiences = Access(
            f"{name}-access",
            AccessArgs(
                spec=access,
                resource_prefix=prefix,
                partition=config.partition,
                region=config.region,
                account_id=config.general.aws_account_id,
                cluster_name=cluster.eks_cluster.name,
                cluster_arn=cluster.eks_cluster.arn,
                namespace=config.workloads.namespace,
                database=DatabaseInstances(
                    primary_arn=database.instance.arn,
                    primary_resource_id=database.instance.resource_id,
                    replica_arns=[replica.arn for replica in database.replicas],
                    replica_resource_ids=[replica.resource_id for replica in database.replicas],
                ),
                boundary_arn=boundary_arn,
                sessions=sessions,
            ),
            opts=on_aws,
        )
        if audiences.role_arns:
            outputs["audienceRoleArns"] = pulumi.Output.from_input(audiences.role_arns)
        return outputs, database_roles

    def _smoke_test(
        self, name: str, config: StackConfig, workloads: Workloads
    ) -> dict[str, pulumi.Output[object]]:
        """The post-deploy smoke test: the application's access, tried from its namespace."""
        if not config.smoke_test.smoke_test:
            return {}
        path, domain = config.alerting.health_check_path, config.addons.domain
        SmokeTest(
            f"{name}-smoke-test",
            SmokeTestArgs(
                namespace=workloads.namespace_name,
                provider=workloads.provider,
                labels=workloads.labels,
                region=config.region,
                service_account=APP_SERVICE_ACCOUNT,
                database_user=APP_DATABASE_ROLE,
                health_url=f"https://{domain}{path}" if path and domain else None,
                health_skip_reason=(
                    "no healthCheckPath in this stack's config, so no public endpoint to call"
                ),
                deadline_seconds=config.smoke_test.smoke_test_deadline_seconds,
                wait_for=[workloads.namespace],
            ),
            opts=child(self),
        )
        # What `stagecraft smoke-test` starts a run from.
        return {"smokeTestCronJob": pulumi.Output.from_input("smoke-test")}

    def _data_sync(
        self,
        name: str,
        config: StackConfig,
        *,
        provider: aws.Provider,
        kubernetes: k8s.Provider,
        cluster: ClusterIdentity,
        database: Database,
        kms_key_arn: pulumi.Output[str],
        boundary_arn: str,
        labels: dict[str, str],
        wait_for: Sequence[pulumi.Resource],
        database_roles: Sequence[pulumi.Resource],
    ) -> dict[str, pulumi.Output[object]]:
        """Production's weekly export of anonymised data, or another stack's import of it."""
        sync, prefix = config.data_sync, config.resource_prefix
        outputs: dict[str, pulumi.Output[object]] = {}
        on_aws = child(self, providers=[provider, kubernetes])
        if sync.data_export:
            # The export reads a replica where there is one: the primary keeps its I/O.
            source = database.replicas[0] if database.replicas else database.instance
            export = DataExport(
                f"{name}-data-export",
                DataExportArgs(
                    spec=sync,
                    resource_prefix=prefix,
                    region=config.region,
                    account_id=config.general.aws_account_id,
                    partition=config.partition,
                    cluster=cluster,
                    kubernetes=kubernetes,
                    labels=labels,
                    environment_kms_key_arn=kms_key_arn,
                    database_host=source.address,
                    database_port=source.port,
                    database_name=config.database.database_name,
                    database_resource_id=source.resource_id,
                    log_bucket=self._access_log_bucket,
                    boundary_arn=boundary_arn,
                    protect=config.general.protect_stateful_resources,
                    wait_for=[*database_roles, *wait_for],
                ),
                opts=on_aws,
            )
            outputs["dataSyncBucket"] = export.bucket.bucket
            outputs["dataSyncKmsKeyArn"] = export.key.arn
            outputs["dataExportRoleArn"] = export.role.arn
        if sync.data_import:
            data_import = DataImport(
                f"{name}-data-import",
                DataImportArgs(
                    spec=sync,
                    resource_prefix=prefix,
                    region=config.region,
                    partition=config.partition,
                    cluster=cluster,
                    kubernetes=kubernetes,
                    labels=labels,
                    database_host=database.instance.address,
                    database_port=database.instance.port,
                    database_name=config.database.database_name,
                    database_owner=config.database.master_username,
                    access_roles=database_access_roles(config),
                    admin_secret_arn=database.master_secret_arn,
                    environment_kms_key_arn=kms_key_arn,
                    boundary_arn=boundary_arn,
                    snapshot_database=(
                        ANONYMISED_SNAPSHOT_DATABASE if config.hosted_small_stack_kind else None
                    ),
                    wait_for=wait_for,
                ),
                opts=on_aws,
            )
            outputs["dataImportRoleArn"] = data_import.role.arn
            if config.hosted_small_stack_kind:
                outputs["anonymisedDataDatabase"] = pulumi.Output.from_input(
                    ANONYMISED_SNAPSHOT_DATABASE
                )
        return outputs

    def _third_party_secrets(
        self,
        name: str,
        config: StackConfig,
        *,
        providers: list[pulumi.ProviderResource],
        cluster: ClusterIdentity,
        kms_key_arn: pulumi.Output[str],
        boundary_arn: str,
        labels: dict[str, str],
        wait_for: Sequence[pulumi.Resource],
    ) -> dict[str, pulumi.Output[object]]:
        """The third-party secret slots and their delivery into the namespace, if any."""
        if not config.secrets.third_party_secrets:
            return {}
        delivery = ThirdPartySecrets(
            f"{name}-third-party-secrets",
            ThirdPartySecretsArgs(
                spec=config.secrets,
                resource_prefix=config.resource_prefix,
                region=config.region,
                account_id=config.general.aws_account_id,
                partition=config.partition,
                kms_key_arn=kms_key_arn,
                namespace=config.workloads.namespace,
                labels=labels,
                cluster=cluster,
                boundary_arn=boundary_arn,
                protect=config.general.protect_stateful_resources,
                replicas=config.addons.addon_replicas,
                wait_for=wait_for,
            ),
            opts=child(self, providers=providers),
        )
        return {
            "thirdPartySecretArns": pulumi.Output.from_input(delivery.slot_arns),
            "thirdPartySecretsReaderRoleArn": delivery.role.arn,
        }

    def _shell_access(
        self,
        name: str,
        config: StackConfig,
        *,
        provider: aws.Provider,
        network: Network,
        database: Database,
        cache: Cache,
        kms_key_arn: pulumi.Output[str],
        boundary_arn: str,
    ) -> dict[str, pulumi.Output[object]]:
        """The Session Manager bastion, where config has one (no SSH anywhere)."""
        self.session_manager = None
        if not config.shell_access.bastion:
            return {}
        self.session_manager = SessionManager(
            f"{name}-shell-access",
            SessionManagerArgs(
                spec=config.shell_access,
                resource_prefix=config.resource_prefix,
                region=config.region,
                account_id=config.general.aws_account_id,
                partition=config.partition,
                vpc_id=network.vpc.id,
                private_subnet_ids=network.private_subnet_ids,
                kms_key_arn=kms_key_arn,
                database_security_group_id=database.security_group.id,
                database_port=POSTGRES_PORT,
                database_hosts=[database.instance.address, *(r.address for r in database.replicas)],
                cache_security_group_id=cache.security_group.id,
                cache_port=REDIS_PORT,
                cache_hosts=[cache.primary_address],
                boundary_arn=boundary_arn,
            ),
            opts=child(self, providers=[provider]),
        )
        return dict(self.session_manager.outputs)

    def _backups(
        self,
        name: str,
        config: StackConfig,
        *,
        provider: aws.Provider,
        database: Database,
        boundary_arn: str,
    ) -> dict[str, pulumi.Output[object]]:
        """AWS Backup of the database, its copy region and restore tests, where config asks."""
        spec = config.backup
        if not spec.aws_backup or self._alert_topic_open is None:
            return {}  # config refuses awsBackup without an alert topic
        backup = Backup(
            f"{name}-backup",
            BackupArgs(
                spec=spec,
                resource_prefix=config.resource_prefix,
                region=config.region,
                account_id=config.general.aws_account_id,
                partition=config.partition,
                default_tags=config.default_tags,
                database_arn=database.instance.arn,
                db_subnet_group_name=database.instance.db_subnet_group_name,
                db_security_group_id=database.security_group.id,
                alert_topic_arn=self._alert_topic_open,
                boundary_arn=boundary_arn,
                protect=config.general.protect_stateful_resources,
            ),
            opts=child(self, providers=[provider]),
        )
        outputs: dict[str, pulumi.Output[object]] = {
            "backupVaultName": backup.vault.name,
            "backupPlanId": backup.plan.id,
            "restoreTestingPlanName": backup.restore_testing_plan.name,
        }
        if backup.copy_vault is not None:
            outputs["backupCopyVaultArn"] = backup.copy_vault.arn
        return outputs


def database_access_roles(config: StackConfig) -> AccessRoles | None:
    """The database's login roles (with IAM authentication; none without)."""
    if not config.database.iam_authentication:
        return None
    people = config.access.database_roles_wanted()
    return AccessRoles(
        app=APP_DATABASE_ROLE,
        read_only=READ_ONLY_DATABASE_ROLE,
        read_only_wanted=READ_ONLY_DATABASE_ROLE in people,
        read_write=READ_WRITE_DATABASE_ROLE,
        read_write_wanted=READ_WRITE_DATABASE_ROLE in people,
    )


def _autoscaling_group(groups: Sequence[aws.eks.outputs.NodeGroupResource]) -> str:
    """The Auto Scaling group EKS made for the managed node group (it has one)."""
    return str(groups[0].autoscaling_groups[0].name)  # type: ignore[index]


def _preflight(config: StackConfig, provider: aws.Provider) -> tuple[list[Zone], str]:
    """What only the account can answer, asked before anything is created.

    Reads (never changes): the zones to use, that the account was
    bootstrapped (the Auto Scaling service-linked role and this
    environment's permissions boundary exist), and, when `pulumi up` is about
    to change things, whether the identity running it will be able to reach
    the cluster it creates. Every problem found stops the run as one
    ConfigError. Returns the zones and the boundary's ARN.
    """
    zones, problems = _availability_zones(config, provider)
    problems += _service_linked_role_problems(config, provider)
    boundary_arn, boundary_problems = _role_boundary(config, provider)
    problems += boundary_problems
    if not pulumi.runtime.is_dry_run():
        problems += _deployer_problems(config, provider)
    if problems:
        raise ConfigError(config.stack, problems)
    return zones, boundary_arn


def _role_boundary(config: StackConfig, provider: aws.Provider) -> tuple[str, list[Problem]]:
    """The permissions boundary every IAM role of this environment carries.

    The bootstrap makes it (`<project>-<stack>-boundary`): no role the deploy
    role creates can reach IAM, another environment or the state, so the
    deploy role cannot grant itself more than it has. The deploy role may
    create roles only with it.
    """
    invoke = pulumi.InvokeOptions(provider=provider)
    name = environment_boundary_name(config.project, config.stack)
    # The account the provider is pinned to (allowedAccountIds): no need to ask.
    arn = f"arn:{config.partition}:iam::{config.general.aws_account_id}:policy/{name}"
    try:
        aws.iam.get_policy(arn=arn, opts=invoke)
    except Exception as exc:  # the provider's "not found", or an access denial
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return arn, [
            Problem(
                "aws:region",
                config.region,
                f"the permissions boundary {arn} cannot be read ({first_line}): run the "
                "bootstrap with this environment in its `environments` first (README "
                "'Deploy for real', step 3)",
            )
        ]
    return arn, []


def _service_linked_role_problems(config: StackConfig, provider: aws.Provider) -> list[Problem]:
    """The Auto Scaling service-linked role must exist before the environment's KMS key.

    The key's policy names it (the nodes' encrypted volumes are created
    through Auto Scaling), and KMS refuses a policy naming a role that does
    not exist; the role is made by the first Auto Scaling group an account
    ever has, or by the bootstrap.
    """
    roles = aws.iam.get_roles(
        path_prefix="/aws-service-role/autoscaling.amazonaws.com/",
        opts=pulumi.InvokeOptions(provider=provider),
    )
    if roles.names:
        return []
    return [
        Problem(
            "aws:region",
            config.region,
            "this account has no Auto Scaling service-linked role "
            "(AWSServiceRoleForAutoScaling), which the environment's KMS key policy names: "
            "run the bootstrap first (README 'Deploy for real'), or `aws iam "
            "create-service-linked-role --aws-service-name autoscaling.amazonaws.com`",
        )
    ]


def _deployer_problems(config: StackConfig, provider: aws.Provider) -> list[Problem]:
    """The deploying identity must be one of the cluster's listed admins.

    The cluster gives nobody implicit access (no creator entry), so an
    identity missing from clusterAdminRoleArns would create the cluster and
    then fail on its first Kubernetes object, half-way through.
    """
    invoke = pulumi.InvokeOptions(provider=provider)
    caller = aws.get_caller_identity(opts=invoke)
    role_arn = aws.iam.get_session_context(arn=caller.arn, opts=invoke).issuer_arn
    if role_arn in config.cluster.admin_role_arns:
        return []
    return [
        Problem(
            "stagecraft:clusterAdminRoleArns",
            config.cluster.admin_role_arns,
            f"must list the role running `pulumi up` ({role_arn}): only listed roles can "
            "reach the cluster, and this run creates Kubernetes objects in it",
        )
    ]


def _availability_zones(
    config: StackConfig, provider: aws.Provider
) -> tuple[list[Zone], list[Problem]]:
    """The configured number of zones, chosen by zone id and checked before anything is created.

    Zone names map to different physical zones in every account; zone ids
    do not.  Taking the lowest ids that EKS supports gives every account the
    same physical zones and never one where EKS refuses the cluster.  Asked
    up front (a read, not a change) so that a region with too few usable
    zones stops the run as a config error instead of half-way through it.
    """
    wanted = config.network.availability_zone_count
    offered = aws.get_availability_zones(
        state="available",
        # Local Zones and Wavelength zones have no NAT gateways or EKS nodes.
        filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
        opts=pulumi.InvokeOptions(provider=provider),
    )
    usable = sorted(
        (
            Zone(name=name, zone_id=zone_id)
            for name, zone_id in zip(offered.names, offered.zone_ids, strict=True)
            if zone_id not in EKS_UNSUPPORTED_ZONE_IDS
        ),
        key=lambda zone: zone.zone_id,
    )
    if len(usable) < wanted:
        excluded = sorted(set(offered.zone_ids) & EKS_UNSUPPORTED_ZONE_IDS)
        note = f" ({', '.join(excluded)} excluded: EKS does not run there)" if excluded else ""
        return [], [
            Problem(
                "stagecraft:availabilityZoneCount",
                wanted,
                f"{config.region} offers {len(usable)} zone{'' if len(usable) == 1 else 's'} "
                f"EKS can use ({', '.join(z.zone_id for z in usable)}){note}; choose at most "
                f"{len(usable)}",
            )
        ]
    return usable[:wanted], []
