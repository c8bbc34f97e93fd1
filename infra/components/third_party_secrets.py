"""Third-party secrets: empty slots in Secrets Manager, delivered into the namespace.

The values (payment keys, e-mail API keys) are not ours to generate, so the
stack makes only the slots, `<prefix>/third-party/<name>`, under the
environment's KMS key, and never a version: an operator puts each value with
`aws secretsmanager put-secret-value`, so no value is ever in a stack file, the
plan or the state. The External Secrets Operator reads them with a role that
can read this environment's slots and nothing else, and writes them into one
Kubernetes Secret in the environment's namespace.

Who reads what:
- the operator's controller runs in kube-system with no AWS role at all
  (nothing is annotated on its ServiceAccount);
- the namespaced SecretStore authenticates as the ServiceAccount
  `third-party-secrets-reader` of the environment's namespace, whose IRSA
  role (trusting exactly that ServiceAccount) may read `<prefix>/third-party/*`
  and decrypt with the environment's key through Secrets Manager only;
- the controller may mint tokens for that one ServiceAccount only (the
  chart's blanket `serviceaccounts/token` permission is off; a Role in the
  namespace names it), so a SecretStore in another namespace (a pr-<n>
  stack's on staging's cluster) cannot borrow it;
- ClusterSecretStores and ClusterExternalSecrets are not installed: nothing
  cluster-wide can name the reader from outside its namespace.

https://external-secrets.io/latest/provider/aws-access/ (EKS Service Account credentials)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.charts import EXTERNAL_SECRETS
from infra.components._common import child, type_token
from infra.components.addons.irsa import ROLE_ARN_ANNOTATION, ClusterIdentity, irsa_role
from infra.components.addons.release import pinned_release
from infra.components.secrets import recovery_window_days
from infra.config import SecretsSpec

# The operator is cluster-wide, like the other add-ons in kube-system.
CONTROLLER_NAMESPACE = "kube-system"
CONTROLLER_SERVICE_ACCOUNT = "external-secrets"
# In the environment's namespace: the identity the SecretStore reads as.
READER_SERVICE_ACCOUNT = "third-party-secrets-reader"
STORE_NAME = "third-party"
# The one Kubernetes Secret applications read; a key per slot.
TARGET_SECRET = "third-party-secrets"
API_VERSION = "external-secrets.io/v1"
# Tags on each slot saying that nothing rotates it and how old it may get
# (`stagecraft report` lists them; an auditor sees it in the console too).
ROTATION_TAG = "rotation"
MAX_AGE_TAG = "max-age-days"
MANUAL_ROTATION = "by hand"


def slot_name(resource_prefix: str, name: str) -> str:
    """`<prefix>/third-party/<name>`: the slash keeps `stagecraft-dev/...` apart from a
    `stagecraft-dev-<name>` developer stack's secrets."""
    return f"{resource_prefix}/third-party/{name}"


def slots_arn_pattern(partition: str, region: str, account_id: str, resource_prefix: str) -> str:
    """Every slot of this environment, and no other environment's secret."""
    return (
        f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:"
        f"{slot_name(resource_prefix, '*')}"
    )


def reader_policy(slots_arn: str, kms_key_arn: str, region: str) -> str:
    """Read this environment's slots; decrypt them through Secrets Manager only.

    GetSecretValue and DescribeSecret are what a SecretStore's `data` entries
    use (by name, never ListSecrets or BatchGetSecretValue, which take no
    resource). Secrets Manager decrypts with the caller's permission and puts
    the secret's ARN in the encryption context, so the key may serve these
    slots and no other secret.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadThisEnvironmentsSlots",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": slots_arn,
                },
                {
                    "Sid": "DecryptThemThroughSecretsManager",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": kms_key_arn,
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{region}.amazonaws.com"
                        },
                        "StringLike": {"kms:EncryptionContext:SecretARN": slots_arn},
                    },
                },
            ],
        }
    )


def controller_values(replicas: int) -> dict[str, object]:
    """The chart's values: no AWS identity, no cluster-wide stores, tokens for one SA only."""
    spread = replicas > 1
    return {
        "installCRDs": True,
        "replicaCount": replicas,
        # Two replicas must not both reconcile.
        "leaderElect": spread,
        "podDisruptionBudget": {"enabled": spread, "minAvailable": 1},
        "priorityClassName": "system-cluster-critical",
        "serviceAccount": {"create": True, "name": CONTROLLER_SERVICE_ACCOUNT},
        # Nothing cluster-wide: a ClusterSecretStore could name the reader
        # ServiceAccount of any namespace. The chart pairs each CRD switch
        # with its controller switch.
        "crds": {"createClusterSecretStore": False, "createClusterExternalSecret": False},
        "processClusterStore": False,
        "processClusterExternalSecret": False,
        # No blanket permission to mint any ServiceAccount's token: the Role
        # in the environment's namespace grants the reader's only.
        "rbac": {"serviceAccountTokenCreate": False},
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "webhook": {
            "replicaCount": replicas,
            "podDisruptionBudget": {"enabled": spread, "minAvailable": 1},
            "priorityClassName": "system-cluster-critical",
        },
        "certController": {"priorityClassName": "system-cluster-critical"},
    }


@dataclass(frozen=True)
class ThirdPartySecretsArgs:
    spec: SecretsSpec
    resource_prefix: str
    region: str
    account_id: str
    partition: str
    kms_key_arn: pulumi.Input[str]
    # The environment's namespace (created by Workloads: in wait_for).
    namespace: str
    labels: Mapping[str, str]
    cluster: ClusterIdentity
    boundary_arn: pulumi.Input[str] | None
    protect: bool
    replicas: int = 1
    # The nodes and the namespace: the chart's pods and the store need both.
    wait_for: Sequence[pulumi.Resource] = ()


class ThirdPartySecrets(pulumi.ComponentResource):
    """The slots, the operator, its store in the namespace and the one ExternalSecret.

    ``opts`` carries both providers: AWS for the slots and the role, the
    cluster's for the chart and the objects in the namespace.
    """

    slot_arns: dict[str, pulumi.Output[str]]
    role: aws.iam.Role
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: ThirdPartySecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("ThirdPartySecrets"), name, None, opts)
        spec, prefix = args.spec, args.resource_prefix
        days = spec.secret_rotation_days

        # Slots only: no SecretVersion, so the stack never holds a value and
        # `pulumi up` never overwrites one put by hand.
        self.slot_arns = {
            slot: aws.secretsmanager.Secret(
                f"{name}-{slot}",
                name=slot_name(prefix, slot),
                description=(
                    f"{slot} of {prefix}: third-party, set by hand with `aws secretsmanager "
                    f"put-secret-value`, rotated by hand every {days} days"
                ),
                kms_key_id=args.kms_key_arn,
                recovery_window_in_days=recovery_window_days(args.protect),
                tags={ROTATION_TAG: MANUAL_ROTATION, MAX_AGE_TAG: str(days)},
                opts=child(self),
            ).arn
            for slot in spec.third_party_secrets
        }

        slots_arn = slots_arn_pattern(args.partition, args.region, args.account_id, prefix)
        self.role = irsa_role(
            self,
            f"{name}-reader",
            cluster=args.cluster,
            namespace=args.namespace,
            service_account=READER_SERVICE_ACCOUNT,
            policy=pulumi.Output.from_input(args.kms_key_arn).apply(
                lambda key: reader_policy(slots_arn, key, args.region)
            ),
            description=f"Reads {prefix}'s third-party secret slots for External Secrets",
            boundary_arn=args.boundary_arn,
        )

        on_k8s = child(self, depends_on=list(args.wait_for))
        labels = dict(args.labels)
        reader = k8s.core.v1.ServiceAccount(
            f"{name}-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=READER_SERVICE_ACCOUNT,
                namespace=args.namespace,
                labels=labels,
                annotations={ROLE_ARN_ANNOTATION: self.role.arn},
            ),
            # No pod runs as it: the operator asks the API for its tokens.
            automount_service_account_token=False,
            opts=on_k8s,
        )
        self.release = pinned_release(
            self,
            f"{name}-operator",
            EXTERNAL_SECRETS,
            namespace=CONTROLLER_NAMESPACE,
            values=controller_values(args.replicas),
            depends_on=args.wait_for,
        )
        token_role = k8s.rbac.v1.Role(
            f"{name}-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="external-secrets-reader-token", namespace=args.namespace, labels=labels
            ),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["serviceaccounts/token"],
                    resource_names=[READER_SERVICE_ACCOUNT],
                    verbs=["create"],
                )
            ],
            opts=on_k8s,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="external-secrets-reader-token", namespace=args.namespace, labels=labels
            ),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="Role",
                name="external-secrets-reader-token",
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount",
                    name=CONTROLLER_SERVICE_ACCOUNT,
                    namespace=CONTROLLER_NAMESPACE,
                )
            ],
            opts=child(self, depends_on=[token_role]),
        )
        # After the release: its CRDs and admission webhook must exist.
        store = k8s.apiextensions.CustomResource(
            f"{name}-store",
            api_version=API_VERSION,
            kind="SecretStore",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=STORE_NAME, namespace=args.namespace, labels=labels
            ),
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": args.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": READER_SERVICE_ACCOUNT}}},
                    }
                }
            },
            opts=child(self, depends_on=[self.release, reader, binding]),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-delivery",
            api_version=API_VERSION,
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=TARGET_SECRET, namespace=args.namespace, labels=labels
            ),
            spec={
                "refreshInterval": f"{spec.external_secrets_refresh_minutes}m",
                "secretStoreRef": {"name": STORE_NAME, "kind": "SecretStore"},
                # The operator owns the Secret: deleting the ExternalSecret
                # deletes it, and nobody else writes it.
                "target": {"name": TARGET_SECRET, "creationPolicy": "Owner"},
                "data": [
                    {"secretKey": slot, "remoteRef": {"key": slot_name(prefix, slot)}}
                    for slot in spec.third_party_secrets
                ],
            },
            opts=child(self, depends_on=[store]),
        )
        self.register_outputs(
            {
                "slotArns": self.slot_arns,
                "readerRoleArn": self.role.arn,
                "chartVersion": EXTERNAL_SECRETS.version,
            }
        )
