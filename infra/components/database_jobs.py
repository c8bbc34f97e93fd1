"""DatabaseJobs: create, reset and drop a stack's database from inside the cluster.

The machine running `pulumi up` cannot reach a database in private subnets;
the cluster can.  So the SQL in infra/sql runs in Kubernetes:

- ``database-setup`` (a Job, when ``create``): the stack's role and database,
  seeded if empty; `pulumi up` waits for it to finish;
- ``database-drop`` (a suspended CronJob, when ``create``): the teardown,
  started with ``kubectl create job --from=cronjob/database-drop`` by
  `stagecraft env gc` and the PR-closed workflow before `pulumi destroy`;
- ``database-reset`` (a CronJob, when ``reset_schedule``): back to the seed
  data on a schedule (the sandbox);
- ``database-export-role`` (a Job, when ``export_role``): the read-only,
  IAM-authenticated role the weekly data export reads as (production);
- ``database-access-roles`` (a Job, when ``access_roles``): the application's
  and the people's IAM-authenticated roles (infra/sql/access_roles.sql).

The pods read the RDS master secret through IRSA: a ServiceAccount whose
IAM role may read that one secret (and decrypt it with the environment's
key), and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws_types import ROLE, ROLE_POLICY, physical_name
from infra.components._common import child, type_token
from infra.sql import SCRIPTS, script

SERVICE_ACCOUNT = "database-admin"
# Images from ECR Public: no Docker Hub pull limits on the nodes.
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.22.0"
# 16.10 or later: its pg_dump writes \restrict into plain dumps, so a dump's
# text cannot smuggle psql meta-commands into the psql that loads it
# (CVE-2025-8714); the data-sync import loads production's schema dump.
POSTGRES_IMAGE = "public.ecr.aws/docker/library/postgres:16.13-alpine"
# February 31st: a CronJob that never fires on its own, only as a template.
NEVER = "0 0 31 2 *"

# The Pod Security Standard `restricted` profile, which the database-admin
# namespace enforces: a pod missing any of this is refused at admission.
# https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
RESTRICTED_POD = k8s.core.v1.PodSecurityContextArgs(
    run_as_non_root=True,
    run_as_user=70,  # postgres in the alpine image; any non-root uid works for aws
    run_as_group=70,
    fs_group=70,
    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
)
RESTRICTED_CONTAINER = k8s.core.v1.SecurityContextArgs(
    allow_privilege_escalation=False,
    run_as_non_root=True,
    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
)


@dataclass(frozen=True)
class AccessRoles:
    """The application's role, and whether the people's read-only/read-write roles are wanted."""

    app: str
    read_only: str
    read_only_wanted: bool
    read_write: str
    read_write_wanted: bool

    def env(self) -> dict[str, str]:
        """What run.sh access-roles and import.sh load read (access_roles.sql's variables)."""
        return {
            "APP_ROLE": self.app,
            "READONLY_ROLE": self.read_only,
            "WANT_READONLY": str(self.read_only_wanted).lower(),
            "READWRITE_ROLE": self.read_write,
            "WANT_READWRITE": str(self.read_write_wanted).lower(),
        }


@dataclass(frozen=True)
class DatabaseJobsArgs:
    resource_prefix: str
    namespace: pulumi.Input[str]
    provider: k8s.Provider
    labels: Mapping[str, str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    admin_secret_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    database_host: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: str
    role: str
    role_password: pulumi.Input[str] | None = None  # needed with create
    create: bool = False
    reset_schedule: str = ""
    wait_for: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # Run the jobs in a namespace of their own (created here), not beside the
    # application: a pod of the application's namespace could otherwise use
    # the ServiceAccount and read the master secret of a *shared* instance.
    dedicated_namespace: str | None = None
    # The role the jobs' ServiceAccount assumes. None: one of their own,
    # trusted by that ServiceAccount alone, reading ``admin_secret_arn``. A
    # pr-<n>/dev-<name> stack passes its shared stack's role for the small
    # stacks' jobs instead, and so creates no IAM role at all.
    role_arn: pulumi.Input[str] | None = None
    # The environment's permissions boundary, on the role made here.
    role_boundary_arn: pulumi.Input[str] | None = None
    # The data export's database role (infra/sql/export_role.sql), made by a Job.
    export_role: str | None = None
    # The environment database's login roles (infra/sql/access_roles.sql).
    access_roles: AccessRoles | None = None
    # With create: start from a copy of this database (on the same instance)
    # instead of the seed data: the shared stack's anonymised copy of production.
    seed_from_database: pulumi.Input[str] | None = None


class DatabaseJobs(pulumi.ComponentResource):
    """The in-cluster Jobs that manage one database in a (possibly shared) instance."""

    def __init__(
        self, name: str, args: DatabaseJobsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("DatabaseJobs"), name, None, opts)
        if args.create and args.role_password is None:
            raise ValueError("DatabaseJobs(create=True) needs the role's password")

        role_arn: pulumi.Input[str]
        granted: list[pulumi.Resource] = []
        if args.role_arn is not None:
            role_arn = args.role_arn
        else:
            role = aws.iam.Role(
                f"{name}-irsa",
                name=physical_name(ROLE, f"{name}-irsa"),
                description=f"Database jobs of {args.resource_prefix}: read the RDS master secret",
                assume_role_policy=pulumi.Output.all(
                    args.oidc_provider_arn,
                    args.oidc_issuer_url,
                    args.dedicated_namespace or args.namespace,
                ).apply(lambda v: _irsa_trust(v[0], v[1], v[2])),
                permissions_boundary=args.role_boundary_arn,
                opts=child(self),
            )
            granted.append(
                aws.iam.RolePolicy(
                    f"{name}-read-admin-secret",
                    name=physical_name(ROLE_POLICY, f"{name}-read-admin-secret"),
                    role=role.id,
                    policy=pulumi.Output.all(args.admin_secret_arn, args.kms_key_arn).apply(
                        lambda v: _read_secret_policy(v[0], v[1])
                    ),
                    opts=child(self),
                )
            )
            role_arn = role.arn

        in_cluster = child(self, provider=args.provider, depends_on=list(args.wait_for))
        namespace: pulumi.Input[str] = args.namespace
        if args.dedicated_namespace is not None:
            admin_namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=args.dedicated_namespace,
                    labels={**args.labels, "pod-security.kubernetes.io/enforce": "restricted"},
                ),
                opts=in_cluster,
            )
            namespace = admin_namespace.metadata.apply(
                lambda m: m.name or str(args.dedicated_namespace)
            )
            in_cluster = child(
                self, provider=args.provider, depends_on=[*args.wait_for, admin_namespace]
            )

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=namespace, labels=dict(args.labels)
            )

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT,
                namespace=namespace,
                labels=dict(args.labels),
                annotations={"eks.amazonaws.com/role-arn": role_arn},
            ),
            opts=in_cluster,
        )
        sql = k8s.core.v1.ConfigMap(
            f"{name}-sql",
            metadata=meta("database-sql"),
            data={file: script(file) for file in SCRIPTS},
            opts=in_cluster,
        )
        # The role's permission must exist before a pod tries it: IAM is
        # eventually consistent, and AccessDenied would burn the Job's retries.
        ready: list[pulumi.Resource] = [service_account, sql, *granted]
        if args.role_password is not None:
            password: pulumi.Output[str] = pulumi.Output.secret(args.role_password)
            ready.append(
                k8s.core.v1.Secret(
                    f"{name}-role",
                    metadata=meta("database-role"),
                    string_data={"ROLE_PASSWORD": password},
                    opts=in_cluster,
                )
            )
        after_setup = child(self, provider=args.provider, depends_on=ready)

        def pod(action: str) -> k8s.core.v1.PodTemplateSpecArgs:
            return _pod(action, args)

        if args.create:
            k8s.batch.v1.Job(
                f"{name}-setup",
                metadata=meta("database-setup"),
                spec=k8s.batch.v1.JobSpecArgs(backoff_limit=4, template=pod("create")),
                opts=after_setup,
            )
            k8s.batch.v1.CronJob(
                f"{name}-drop",
                metadata=meta("database-drop"),
                spec=k8s.batch.v1.CronJobSpecArgs(
                    schedule=NEVER,
                    suspend=True,
                    job_template=k8s.batch.v1.JobTemplateSpecArgs(
                        spec=k8s.batch.v1.JobSpecArgs(backoff_limit=4, template=pod("drop"))
                    ),
                ),
                opts=after_setup,
            )
        # One after the other: both change the database's and the schema's
        # grants, and concurrent catalog updates can fail one of them; the
        # export role's defaults name the application role, made first.
        roles_made: list[pulumi.Resource] = []
        if args.access_roles:
            roles_made.append(
                k8s.batch.v1.Job(
                    f"{name}-access-roles",
                    metadata=meta("database-access-roles"),
                    spec=k8s.batch.v1.JobSpecArgs(backoff_limit=4, template=pod("access-roles")),
                    opts=after_setup,
                )
            )
        if args.export_role:
            k8s.batch.v1.Job(
                f"{name}-export-role",
                metadata=meta("database-export-role"),
                spec=k8s.batch.v1.JobSpecArgs(backoff_limit=4, template=pod("export-role")),
                opts=child(self, provider=args.provider, depends_on=[*ready, *roles_made]),
            )
        if args.reset_schedule:
            k8s.batch.v1.CronJob(
                f"{name}-reset",
                metadata=meta("database-reset"),
                spec=k8s.batch.v1.CronJobSpecArgs(
                    schedule=args.reset_schedule,
                    time_zone="Etc/UTC",
                    concurrency_policy="Forbid",
                    successful_jobs_history_limit=3,
                    failed_jobs_history_limit=3,
                    job_template=k8s.batch.v1.JobTemplateSpecArgs(
                        spec=k8s.batch.v1.JobSpecArgs(backoff_limit=2, template=pod("reset"))
                    ),
                ),
                opts=after_setup,
            )
        self.role_arn = pulumi.Output.from_input(role_arn)
        self.register_outputs({"roleArn": self.role_arn})


def _pod(action: str, args: DatabaseJobsArgs) -> k8s.core.v1.PodTemplateSpecArgs:
    env = [
        k8s.core.v1.EnvVarArgs(name="PGHOST", value=args.database_host),
        k8s.core.v1.EnvVarArgs(
            name="PGPORT", value=pulumi.Output.from_input(args.database_port).apply(str)
        ),
        k8s.core.v1.EnvVarArgs(name="PGSSLMODE", value="require"),
        k8s.core.v1.EnvVarArgs(name="DBNAME", value=args.database_name),
        k8s.core.v1.EnvVarArgs(name="ROLE", value=args.role),
    ]
    if args.export_role:
        env.append(k8s.core.v1.EnvVarArgs(name="EXPORT_ROLE", value=args.export_role))
    if args.access_roles:
        env += [
            k8s.core.v1.EnvVarArgs(name=key, value=value)
            for key, value in args.access_roles.env().items()
        ]
    if args.seed_from_database is not None:
        env.append(k8s.core.v1.EnvVarArgs(name="SEED_FROM_DATABASE", value=args.seed_from_database))
    if args.role_password is not None:
        env.append(
            k8s.core.v1.EnvVarArgs(
                name="ROLE_PASSWORD",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                        name="database-role", key="ROLE_PASSWORD"
                    )
                ),
            )
        )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**args.labels, "stagecraft.io/job": action}),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=SERVICE_ACCOUNT,
            restart_policy="Never",
            security_context=RESTRICTED_POD,
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="work", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                ),
                k8s.core.v1.VolumeArgs(
                    name="sql",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="database-sql"),
                ),
            ],
            init_containers=[
                k8s.core.v1.ContainerArgs(
                    name="fetch-admin-secret",
                    image=AWS_CLI_IMAGE,
                    command=["sh", "-c"],
                    args=[
                        'aws secretsmanager get-secret-value --secret-id "$ADMIN_SECRET_ARN" '
                        "--query SecretString --output text > /work/admin.json"
                    ],
                    env=[
                        k8s.core.v1.EnvVarArgs(
                            name="ADMIN_SECRET_ARN", value=args.admin_secret_arn
                        ),
                        k8s.core.v1.EnvVarArgs(name="HOME", value="/work"),
                    ],
                    volume_mounts=[k8s.core.v1.VolumeMountArgs(name="work", mount_path="/work")],
                    security_context=RESTRICTED_CONTAINER,
                )
            ],
            containers=[
                k8s.core.v1.ContainerArgs(
                    name="psql",
                    image=POSTGRES_IMAGE,
                    command=["sh", "/sql/run.sh", action],
                    env=env,
                    volume_mounts=[
                        k8s.core.v1.VolumeMountArgs(name="work", mount_path="/work"),
                        k8s.core.v1.VolumeMountArgs(name="sql", mount_path="/sql"),
                    ],
                    security_context=RESTRICTED_CONTAINER,
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests={"cpu": "50m", "memory": "64Mi"},
                        limits={"cpu": "250m", "memory": "128Mi"},
                    ),
                )
            ],
        ),
    )


def _irsa_trust(provider_arn: str, issuer_url: str, namespace: str) -> str:
    """Only this namespace's database-admin ServiceAccount may assume the role.

    ``namespace`` may be a pattern (`pr-*-dbadmin`): the role the small
    stacks' jobs share, whose namespaces only their deployers can create.
    """
    issuer = issuer_url.removeprefix("https://")
    subject = f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
    operator = "StringLike" if "*" in namespace else "StringEquals"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {f"{issuer}:aud": "sts.amazonaws.com"},
                        operator: {f"{issuer}:sub": subject},
                    }
                    if operator == "StringLike"
                    else {
                        "StringEquals": {
                            f"{issuer}:sub": subject,
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


def _read_secret_policy(secret_arn: str | list[str], kms_key_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": secret_arn,
                },
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn},
            ],
        }
    )


def small_stack_jobs_role(
    parent: pulumi.Resource,
    name: str,
    *,
    provider: aws.Provider,
    resource_prefix: str,
    namespace_pattern: str,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer_url: pulumi.Input[str],
    admin_secret_arn: pulumi.Input[str],
    small_stack_secrets: pulumi.Input[str],
    kms_key_arn: pulumi.Input[str],
    role_boundary_arn: pulumi.Input[str] | None,
) -> aws.iam.Role:
    """The role every pr-<n>/dev-<name> stack's database Jobs share, made by the shared stack.

    Trusted by the `database-admin` ServiceAccount of any namespace matching
    ``namespace_pattern`` (`pr-*-dbadmin`: only the small stacks' deployers
    can create those, see SmallStackAccess); reads the shared instance's
    master secret and the small stacks' own instances' master secrets, none
    of their other secrets.
    Owned here, so a small stack's CI role creates no IAM role at all.
    """
    role = aws.iam.Role(
        f"{name}-small-stack-jobs",
        name=physical_name(ROLE, f"{name}-small-stack-jobs"),
        description=f"Database jobs of the small stacks on {resource_prefix}",
        assume_role_policy=pulumi.Output.all(oidc_provider_arn, oidc_issuer_url).apply(
            lambda v: _irsa_trust(v[0], v[1], namespace_pattern)
        ),
        permissions_boundary=role_boundary_arn,
        opts=child(parent, provider=provider),
    )
    aws.iam.RolePolicy(
        f"{name}-small-stack-jobs-read-secrets",
        name=physical_name(ROLE_POLICY, f"{name}-small-stack-jobs-read-secrets"),
        role=role.id,
        policy=pulumi.Output.all(admin_secret_arn, small_stack_secrets, kms_key_arn).apply(
            lambda v: _read_secret_policy([v[0], v[1]], v[2])
        ),
        opts=child(parent, provider=provider),
    )
    return role
