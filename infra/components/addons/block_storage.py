"""Block storage: the EBS CSI driver and an encrypted gp3 StorageClass.

Since Kubernetes 1.23 the in-tree EBS provisioner is migrated to the CSI
driver: without the driver no PersistentVolumeClaim binds (Prometheus,
Alertmanager, Loki, Tempo and Grafana all keep their data on volumes).
https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.components._common import attach_policies, child, type_token
from infra.components.addons.irsa import ClusterIdentity, irsa_role

NAMESPACE = "kube-system"
# The EKS add-on's controller ServiceAccount (fixed by the add-on).
SERVICE_ACCOUNT = "ebs-csi-controller-sa"
STORAGE_CLASS = "gp3"
# For volumes that must never outlive their pod (the data-sync dumps): always
# deleted with their claim, where the environment's own class retains.
SCRATCH_STORAGE_CLASS = "gp3-scratch"
# The policy AWS maintains for the driver's EC2 calls (create, attach, snapshot).
MANAGED_POLICY = "service-role/AmazonEBSCSIDriverPolicy"


def kms_policy(key_arn: str) -> str:
    """Volumes encrypted with the environment's key: EBS uses it through grants.

    The AWS-managed policy has no KMS permissions; these are the ones the EKS
    guide adds for a customer managed key, limited to that one key.
    https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html (KMS encryption)
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GrantsForEbs",
                    "Effect": "Allow",
                    "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                    "Resource": key_arn,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
                {
                    "Sid": "EncryptVolumes",
                    "Effect": "Allow",
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "Resource": key_arn,
                },
            ],
        }
    )


@dataclass(frozen=True)
class BlockStorageArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    kms_key_arn: pulumi.Input[str]
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None
    partition: pulumi.Input[str]
    # Retain: a deleted claim leaves its volume (and the data) for a human.
    retain_volumes: bool
    # The nodes: the driver's pods need them, and an add-on created before
    # any node stays DEGRADED until `pulumi up` times out.
    wait_for: Sequence[pulumi.Resource] = ()


class BlockStorage(pulumi.ComponentResource):
    """The `aws-ebs-csi-driver` EKS add-on (IRSA) and the `gp3` StorageClass."""

    storage_class: k8s.storage.v1.StorageClass

    def __init__(
        self, name: str, args: BlockStorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("BlockStorage"), name, None, opts)
        role = irsa_role(
            self,
            f"{name}-csi",
            cluster=args.cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=pulumi.Output.from_input(args.kms_key_arn).apply(kms_policy),
            description="EBS CSI driver: creates and attaches the cluster's volumes",
            boundary_arn=args.boundary_arn,
        )
        managed = attach_policies(self, role, f"{name}-csi", args.partition, [MANAGED_POLICY])
        # EKS's default version for the cluster's Kubernetes version, like the VPC CNI.
        version = aws.eks.get_addon_version_output(
            addon_name="aws-ebs-csi-driver",
            kubernetes_version=args.kubernetes_version,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).version
        driver = aws.eks.Addon(
            f"{name}-ebs-csi-driver",
            cluster_name=args.cluster_name,
            addon_name="aws-ebs-csi-driver",
            addon_version=version,
            service_account_role_arn=role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=child(self, depends_on=[*managed, *args.wait_for]),
        )

        def gp3_class(
            class_name: str, *, reclaim: str, expandable: bool
        ) -> k8s.storage.v1.StorageClass:
            """Encrypted gp3 with the environment's key, made in the pod's zone."""
            return k8s.storage.v1.StorageClass(
                f"{name}-{class_name}",
                metadata={"name": class_name},
                provisioner="ebs.csi.aws.com",
                parameters=pulumi.Output.from_input(args.kms_key_arn).apply(
                    lambda key: {"type": "gp3", "encrypted": "true", "kmsKeyId": key}
                ),
                # Created in the zone of the pod that first uses it, not a random one.
                volume_binding_mode="WaitForFirstConsumer",
                allow_volume_expansion=expandable or None,
                reclaim_policy=reclaim,
                opts=child(self, depends_on=[driver]),
            )

        self.storage_class = gp3_class(
            STORAGE_CLASS, reclaim="Retain" if args.retain_volumes else "Delete", expandable=True
        )
        self.scratch_storage_class = gp3_class(
            SCRATCH_STORAGE_CLASS, reclaim="Delete", expandable=False
        )
        self.register_outputs(
            {"storageClass": STORAGE_CLASS, "scratchStorageClass": SCRATCH_STORAGE_CLASS}
        )
