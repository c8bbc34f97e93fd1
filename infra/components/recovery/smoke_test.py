"""SmokeTest: after every deploy, does the application's own access work from inside the cluster?

A suspended CronJob ``smoke-test`` in the environment's namespace, used only
as a template: the deploy workflows (and an operator) start a run with
``stagecraft smoke-test`` (``kubectl create job --from=cronjob/smoke-test``),
wait for it to complete or fail, print its log and fail on failure. A Job
made by `pulumi up` would run once when created and never again (Pulumi
replaces it only when its spec changes); a CronJob that never fires on its
own is the Kubernetes object that can be started on demand, as often as
needed, with the same spec each time.

The pod runs as the application's ServiceAccount (its IRSA role may
`rds-db:connect` as the application's database user) and reads the
application's `app-connection` Secret, so it tests exactly what the
application would use:

- database: an IAM auth token for that user, psql with sslmode=verify-full
  against the RDS CA bundle, `SELECT 1`;
- cache: redis-cli --tls as the application's Redis user, PING -> PONG;
- health: HTTPS GET of https://<domain><healthCheckPath>, 2xx; skipped,
  saying so, where the stack has no public health endpoint.

One container per check, so every check runs and reports even when another
fails; each prints one PASS/FAIL/SKIP line (infra/smoke/smoke.sh).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components._common import child, type_token
from infra.components.access.application import APP_SERVICE_ACCOUNT
from infra.components.database_jobs import (
    AWS_CLI_IMAGE,
    NEVER,
    POSTGRES_IMAGE,
    RESTRICTED_POD,
)
from infra.components.workloads import CONNECTION_SECRET_NAME
from infra.config import APP_DATABASE_ROLE
from infra.smoke import script

CRONJOB_NAME = "smoke-test"
SCRIPT_CONFIGMAP_NAME = "smoke-test-script"
# redis-cli of the official image is built with TLS (BUILD_TLS=yes); the
# same major version as the ElastiCache engine (infra/components/cache.py).
REDIS_IMAGE = "public.ecr.aws/docker/library/redis:7.4.2-alpine"
# curl (curl-minimal, HTTPS included) and the system CA store come with the
# AL2023 container image:
# https://docs.aws.amazon.com/linux/al2023/ug/curl-minimal.html
CURL_IMAGE = "public.ecr.aws/amazonlinux/amazonlinux:2023.9.20251117.1"
# Where AWS publishes the CA bundle of every RDS region: fetched by the pod
# at run time over verified HTTPS (the image's CA store), so a CA AWS adds
# is trusted without a change here. verify-full then checks the database's
# certificate chain against it and its name against DATABASE_HOST.
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
# The order `stagecraft smoke-test` prints the containers' logs in.
CHECKS = ("database", "cache", "health")
# A finished run's Job and pod (and so its log) stay this long for a look.
KEEP_FINISHED_SECONDS = 86400

# Pod Security `restricted`, as the database Jobs; a read-only root file
# system on top: the checks write only to the pod's in-memory volume.
SMOKE_CONTAINER = k8s.core.v1.SecurityContextArgs(
    allow_privilege_escalation=False,
    run_as_non_root=True,
    read_only_root_filesystem=True,
    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
)
# Each container's share, counted against the namespace's ResourceQuota.
RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "50m", "memory": "64Mi"},
    limits={"cpu": "250m", "memory": "256Mi"},
)


@dataclass(frozen=True)
class SmokeTestArgs:
    namespace: pulumi.Input[str]
    provider: k8s.Provider
    labels: Mapping[str, str]
    region: str
    # The application's ServiceAccount (its IRSA role may rds-db:connect as
    # ``database_user``) and that database user: made by the access layer.
    service_account: str = APP_SERVICE_ACCOUNT
    database_user: str = APP_DATABASE_ROLE
    # https://<domain><healthCheckPath>; None: the health check is skipped,
    # and ``health_skip_reason`` says why in the run's output.
    health_url: str | None = None
    health_skip_reason: str = "no public health endpoint configured"
    deadline_seconds: int = 300
    wait_for: Sequence[pulumi.Resource] = ()


class SmokeTest(pulumi.ComponentResource):
    """The suspended `smoke-test` CronJob and the ConfigMap with its script."""

    def __init__(
        self, name: str, args: SmokeTestArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("SmokeTest"), name, None, opts)
        in_cluster = child(self, provider=args.provider, depends_on=list(args.wait_for))
        labels = {**args.labels, "app.kubernetes.io/name": CRONJOB_NAME}

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=labels
            )

        script_map = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata=meta(SCRIPT_CONFIGMAP_NAME),
            data={"smoke.sh": script()},
            opts=in_cluster,
        )
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata=meta(CRONJOB_NAME),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=NEVER,
                suspend=True,
                # Would matter only for scheduled runs, which never happen:
                # `kubectl create job --from` ignores it (the deploy workflows'
                # concurrency groups keep their runs apart).
                concurrency_policy="Forbid",
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.batch.v1.JobSpecArgs(
                        # One try: a retry could hide a flaky dependency, and
                        # the deploy should see the first failure.
                        backoff_limit=0,
                        active_deadline_seconds=args.deadline_seconds,
                        ttl_seconds_after_finished=KEEP_FINISHED_SECONDS,
                        template=_pod(args, labels),
                    ),
                ),
            ),
            opts=child(self, provider=args.provider, depends_on=[*args.wait_for, script_map]),
        )
        self.register_outputs({"cronJob": CRONJOB_NAME})


def _from_connection(name: str, key: str | None = None) -> k8s.core.v1.EnvVarArgs:
    """An environment variable read from the application's connection Secret."""
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                name=CONNECTION_SECRET_NAME, key=key or name
            )
        ),
    )


def _pod(args: SmokeTestArgs, labels: Mapping[str, str]) -> k8s.core.v1.PodTemplateSpecArgs:
    database_env = [
        _from_connection("DATABASE_HOST"),
        _from_connection("DATABASE_PORT"),
        _from_connection("DATABASE_NAME"),
        _from_connection("DATABASE_SSLMODE"),
        k8s.core.v1.EnvVarArgs(name="DATABASE_USER", value=args.database_user),
    ]
    common = [k8s.core.v1.EnvVarArgs(name="HOME", value="/work")]
    mounts = [
        k8s.core.v1.VolumeMountArgs(name="work", mount_path="/work"),
        k8s.core.v1.VolumeMountArgs(name="script", mount_path="/smoke", read_only=True),
    ]

    def container(
        check: str, image: str, env: list[k8s.core.v1.EnvVarArgs]
    ) -> k8s.core.v1.ContainerArgs:
        return k8s.core.v1.ContainerArgs(
            name=check,
            image=image,
            command=["sh", "/smoke/smoke.sh", check],
            env=[*common, *env],
            volume_mounts=mounts,
            security_context=SMOKE_CONTAINER,
            resources=RESOURCES,
        )

    health_env = [
        k8s.core.v1.EnvVarArgs(name="HEALTH_URL", value=args.health_url or ""),
        k8s.core.v1.EnvVarArgs(name="HEALTH_SKIP_REASON", value=args.health_skip_reason),
    ]
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, "stagecraft.io/job": "smoke-test"}),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=args.service_account,
            restart_policy="Never",
            security_context=RESTRICTED_POD,
            volumes=[
                # In memory: the IAM token never reaches a node's disk.
                k8s.core.v1.VolumeArgs(
                    name="work",
                    empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                        medium="Memory", size_limit="16Mi"
                    ),
                ),
                k8s.core.v1.VolumeArgs(
                    name="script",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=SCRIPT_CONFIGMAP_NAME),
                ),
            ],
            init_containers=[
                container(
                    "ca-bundle",
                    CURL_IMAGE,
                    [k8s.core.v1.EnvVarArgs(name="RDS_CA_BUNDLE_URL", value=RDS_CA_BUNDLE_URL)],
                ),
                container(
                    "db-token",
                    AWS_CLI_IMAGE,
                    [*database_env, k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=args.region)],
                ),
            ],
            containers=[
                container("database", POSTGRES_IMAGE, database_env),
                container(
                    "cache",
                    REDIS_IMAGE,
                    [
                        _from_connection("REDIS_HOST"),
                        _from_connection("REDIS_PORT"),
                        _from_connection("REDIS_USERNAME"),
                        _from_connection("REDIS_TLS"),
                        # redis-cli's own variable: never on its command line.
                        _from_connection("REDISCLI_AUTH", "REDIS_PASSWORD"),
                    ],
                ),
                container("health", CURL_IMAGE, health_env),
            ],
        ),
    )
