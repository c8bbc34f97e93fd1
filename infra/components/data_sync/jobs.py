"""What the export and import jobs share: their namespace, scripts and containers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.components._common import child
from infra.components.addons.block_storage import SCRATCH_STORAGE_CLASS
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION
from infra.components.database_jobs import (
    AWS_CLI_IMAGE,
    POSTGRES_IMAGE,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
)
from infra.data_sync import job_files, load_rules
from infra.sql import script

NAMESPACE = "data-sync"
CONFIG_MAP = "data-sync"
# A run that takes longer than this is stuck (a lock, a dead connection): the
# pod is stopped and the job counts as failed, which alerts.
ACTIVE_DEADLINE_SECONDS = 4 * 60 * 60
# A finished run (its pod, logs and scratch volume) is deleted this long after
# it ends: time to read a failure's pod, while its logs stay in Loki.
FINISHED_TTL_SECONDS = 6 * 60 * 60
# Where each volume is mounted in every container.
WORK, SECRETS, SCRIPTS = "/work", "/secrets", "/sync"


def setup(
    parent: pulumi.Resource,
    name: str,
    *,
    provider: k8s.Provider,
    labels: Mapping[str, str],
    service_account: str,
    role_arn: pulumi.Input[str],
) -> list[pulumi.Resource]:
    """The jobs' namespace, their ServiceAccount (IRSA ``role_arn``) and scripts.

    A namespace of their own: no application pod can use the ServiceAccount.
    The scripts: export.sh, import.sh, rules.yaml and the export SQL compiled
    from it (at plan time: a malformed rules.yaml stops `pulumi up` before
    anything is created). Returns what a CronJob must wait for.
    """
    namespace = k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=NAMESPACE,
            labels={**labels, "pod-security.kubernetes.io/enforce": "restricted"},
        ),
        opts=child(parent, provider=provider),
    )
    in_namespace = child(parent, provider=provider, depends_on=[namespace])
    account = k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=service_account,
            namespace=NAMESPACE,
            labels=dict(labels),
            annotations={ROLE_ARN_ANNOTATION: role_arn},
        ),
        opts=in_namespace,
    )
    scripts = k8s.core.v1.ConfigMap(
        f"{name}-scripts",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=CONFIG_MAP, namespace=NAMESPACE, labels=dict(labels)
        ),
        # The import gives the environment's database roles their grants
        # back after replacing the schema: the same SQL as their own Job.
        data={**job_files(load_rules()), "access_roles.sql": script("access_roles.sql")},
        opts=in_namespace,
    )
    return [account, scripts]


def volume_mounts() -> list[k8s.core.v1.VolumeMountArgs]:
    return [
        k8s.core.v1.VolumeMountArgs(name="work", mount_path=WORK),
        k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS),
        k8s.core.v1.VolumeMountArgs(name="sync", mount_path=SCRIPTS, read_only=True),
    ]


def container(
    step: str, *, image: str, command: str, env: Sequence[k8s.core.v1.EnvVarArgs],
    memory: str = "256Mi",
) -> k8s.core.v1.ContainerArgs:  # fmt: skip
    """One step of a job, `sh -c command` in ``image``, under the restricted profile."""
    return k8s.core.v1.ContainerArgs(
        name=step,
        image=image,
        command=["sh", "-c", command],
        env=[
            *env,
            k8s.core.v1.EnvVarArgs(name="HOME", value=WORK),
            k8s.core.v1.EnvVarArgs(name="SYNC_DIR", value=SCRIPTS),
        ],
        volume_mounts=volume_mounts(),
        security_context=RESTRICTED_CONTAINER,
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": memory}, limits={"memory": memory}
        ),
    )


Env = Sequence[k8s.core.v1.EnvVarArgs]


def aws_step(step: str, command: str, env: Env) -> k8s.core.v1.ContainerArgs:
    return container(step, image=AWS_CLI_IMAGE, command=command, env=env)


def postgres_step(step: str, command: str, env: Env) -> k8s.core.v1.ContainerArgs:
    # psql and pg_dump stream; the memory is for the masks' sorting and hashing.
    return container(step, image=POSTGRES_IMAGE, command=command, env=env, memory="512Mi")


def cron_job(
    parent: pulumi.Resource,
    name: str,
    *,
    job: str,
    schedule: str,
    time_zone: str,
    service_account: str,
    init_steps: Sequence[k8s.core.v1.ContainerArgs],
    last_step: k8s.core.v1.ContainerArgs,
    labels: Mapping[str, str],
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource],
    scratch_gb: int,
) -> k8s.batch.v1.CronJob:
    """A weekly job: steps in order (init containers, then the last), one run at a time.

    The dump lives on a gp3 volume made for the pod and deleted with it (a
    generic ephemeral volume of the always-deleting scratch class: a
    production-sized dump would fill the node's disk), and the pod goes
    FINISHED_TTL_SECONDS after the run; the credentials on a memory-backed
    volume that never touches a disk.
    https://kubernetes.io/docs/concepts/storage/ephemeral-volumes/#generic-ephemeral-volumes
    """
    pod_labels = {**labels, "stagecraft.io/job": job}
    return k8s.batch.v1.CronJob(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=job, namespace=NAMESPACE, labels=dict(labels)),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=schedule,
            time_zone=time_zone,
            concurrency_policy="Forbid",
            # A run missed by more than an hour (the cluster was down) waits a week.
            starting_deadline_seconds=3600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=1,
                    active_deadline_seconds=ACTIVE_DEADLINE_SECONDS,
                    ttl_seconds_after_finished=FINISHED_TTL_SECONDS,
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                        spec=k8s.core.v1.PodSpecArgs(
                            service_account_name=service_account,
                            restart_policy="Never",
                            security_context=RESTRICTED_POD,
                            volumes=[
                                k8s.core.v1.VolumeArgs(
                                    name="work",
                                    ephemeral=k8s.core.v1.EphemeralVolumeSourceArgs(
                                        volume_claim_template=k8s.core.v1.PersistentVolumeClaimTemplateArgs(
                                            metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                                            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                                                access_modes=["ReadWriteOnce"],
                                                storage_class_name=SCRATCH_STORAGE_CLASS,
                                                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                                                    requests={"storage": f"{scratch_gb}Gi"}
                                                ),
                                            ),
                                        )
                                    ),
                                ),
                                k8s.core.v1.VolumeArgs(
                                    name="secrets",
                                    empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                        medium="Memory", size_limit="1Mi"
                                    ),
                                ),
                                k8s.core.v1.VolumeArgs(
                                    name="sync",
                                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                        name=CONFIG_MAP
                                    ),
                                ),
                            ],
                            init_containers=list(init_steps),
                            containers=[last_step],
                        ),
                    ),
                ),
            ),
        ),
        opts=child(parent, provider=provider, depends_on=list(depends_on)),
    )


def env(**values: pulumi.Input[str]) -> list[k8s.core.v1.EnvVarArgs]:
    return [k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in values.items()]
