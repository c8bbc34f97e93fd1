"""Policy `external-secrets-scoped`: the External Secrets Operator reads only this
environment's secrets, through a store bound to one namespace.

Kept beside rules.py (which registers it) because it follows one chain across
three kinds of resource: SecretStore -> its ServiceAccount -> that
ServiceAccount's IRSA role -> the role's policies.
"""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import ReportViolation, StackValidationArgs

from policy.iam_documents import as_strings, iam_document, iam_statements

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET_STORE = "kubernetes:external-secrets.io/v1:SecretStore"
CLUSTER_SECRET_STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
CHART = "external-secrets"


def _reads_secrets(actions: Iterable[str]) -> bool:
    return any(
        a in ("*", "secretsmanager:*", "secretsmanager:GetSecretValue")
        or (a.startswith("secretsmanager:Get") and a.endswith("*"))
        for a in actions
    )


def _within(arn: str, prefix: str) -> bool:
    """An ARN naming secrets of ``prefix`` only: `...:secret:<prefix>/...`, no wildcard
    before the slash (which would reach `<prefix>-<name>` stacks too)."""
    _, marker, name = arn.partition(":secret:")
    return bool(marker) and name.startswith(f"{prefix}/")


def external_secrets_scoped(args: StackValidationArgs, report: ReportViolation) -> None:
    """The operator holds no AWS identity of its own; every store authenticates as a
    ServiceAccount of its namespace whose role reads its own stack's secrets only
    (`<project>-<stack>/...`, project from the policy config)."""
    project = str(args.get_config().get("project", "stagecraft"))
    releases = [
        r
        for r in args.resources
        if r.resource_type == HELM_RELEASE and r.props.get("chart") == CHART
    ]
    stores = [r for r in args.resources if r.resource_type == SECRET_STORE]
    cluster_stores = [r for r in args.resources if r.resource_type == CLUSTER_SECRET_STORE]
    if not releases and not stores and not cluster_stores:
        args.not_applicable("no External Secrets Operator")
        return
    for release in releases:
        values = release.props.get("values") or {}
        annotations = (values.get("serviceAccount") or {}).get("annotations") or {}
        if ROLE_ARN_ANNOTATION in annotations:
            report(
                f"{release.name}: the operator's own ServiceAccount has an IAM role: a "
                "store in any namespace that names no ServiceAccount reads with it",
                release.urn,
            )
        if (values.get("rbac") or {}).get("serviceAccountTokenCreate") is not False:
            report(
                f"{release.name}: rbac.serviceAccountTokenCreate is not false: the operator "
                "may mint a token for any ServiceAccount of any namespace",
                release.urn,
            )
        if values.get("processClusterStore") is not False:
            report(
                f"{release.name}: processClusterStore is not false: a ClusterSecretStore "
                "could read as another namespace's ServiceAccount",
                release.urn,
            )
    for store in cluster_stores:
        report(
            f"{store.name}: a ClusterSecretStore serves every namespace; use a namespaced "
            "SecretStore",
            store.urn,
        )
    accounts = [r for r in args.resources if r.resource_type == SERVICE_ACCOUNT]
    policies = [r for r in args.resources if r.resource_type == IAM_ROLE_POLICY]
    for store in stores:
        stack = store.urn.split("::", maxsplit=1)[0].removeprefix("urn:pulumi:")
        prefix = f"{project}-{stack}"
        namespace = (store.props.get("metadata") or {}).get("namespace")
        aws = ((store.props.get("spec") or {}).get("provider") or {}).get("aws") or {}
        reference = ((aws.get("auth") or {}).get("jwt") or {}).get("serviceAccountRef") or {}
        if not reference.get("name"):
            report(
                f"{store.name}: no auth.jwt.serviceAccountRef: it reads with whatever "
                "identity the operator's pods have",
                store.urn,
            )
            continue
        if aws.get("role"):
            report(
                f"{store.name}: assumes role {aws.get('role')} on top of its ServiceAccount's: "
                "the role read is not the one this policy checks",
                store.urn,
            )
        matches = [
            a
            for a in accounts
            if (a.props.get("metadata") or {}).get("name") == reference["name"]
            and (a.props.get("metadata") or {}).get("namespace") == namespace
        ]
        roles = [d for a in matches for d in a.dependencies if d.resource_type == IAM_ROLE]
        if not roles:
            report(
                f"{store.name}: its ServiceAccount {namespace}/{reference['name']} is not "
                "made by this stack with an IAM role, so what it reads cannot be checked",
                store.urn,
            )
        for role in roles:
            for policy in (p for p in policies if role in p.dependencies):
                for statement in iam_statements(iam_document(policy.props.get("policy"))):
                    if statement.get("Effect") != "Allow":
                        continue
                    actions = as_strings(statement.get("Action"))
                    if _reads_secrets(actions):
                        outside = [
                            arn
                            for arn in as_strings(statement.get("Resource"))
                            if not _within(arn, prefix)
                        ]
                        if outside:
                            report(
                                f"{policy.name}: the store's role reads secrets outside "
                                f"{prefix}/ ({', '.join(outside)})",
                                policy.urn,
                            )
                    decrypts = any(a in ("*", "kms:*", "kms:Decrypt") for a in actions)
                    via = ((statement.get("Condition") or {}).get("StringEquals") or {}).get(
                        "kms:ViaService"
                    )
                    if decrypts and not via:
                        report(
                            f"{policy.name}: the store's role may kms:Decrypt outside "
                            "Secrets Manager (no kms:ViaService condition)",
                            policy.urn,
                        )
