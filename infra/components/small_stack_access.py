"""SmallStackAccess: what the roles deploying pr-<n>/dev-<name> stacks may do in the cluster.

Their EKS access entry makes them admin of the small stacks' namespaces
(`pr-*`), and nothing else. A small stack also creates those namespaces, and
its quota and limit range, which no namespaced permission can grant: RBAC
authorizes `create` before the object's name is known. So the deployers'
group gets these verbs cluster-wide here, and a ValidatingAdmissionPolicy
(GA since Kubernetes 1.30) refuses every such request of that group outside
the small stacks' namespaces: a pull request's code cannot touch staging's
own namespace, kube-system, or another environment's quota.
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components._common import child, denying_admission_policy, type_token

CLUSTER_ROLE = "stagecraft-small-stack-deployer"
ADMISSION_POLICY = "stagecraft-small-stack-namespaces"
# The Pod Security Standards a small stack's namespace may enforce: never
# `privileged`, which would let a pull request's pods reach the node.
PSS_LABEL = "pod-security.kubernetes.io/enforce"
PSS_ALLOWED = ("baseline", "restricted")

# Namespaces, and the two namespaced kinds the namespace-scoped EKS admin
# policy cannot create (Kubernetes' `admin` role only reads them).
EDIT_CLUSTER_ROLE = "edit"  # Kubernetes' own, bound to the developers per namespace

CLUSTER_SCOPED_RULES = (
    ("", "namespaces"),
    ("", "resourcequotas"),
    ("", "limitranges"),
)


@dataclass(frozen=True)
class SmallStackAccessArgs:
    group: str  # the deployers' Kubernetes group (their access entry's)
    namespace_pattern: str  # RE2 regex of the namespaces the small stacks own
    provider: k8s.Provider
    labels: dict[str, str]
    wait_for: Sequence[pulumi.Resource] = ()


def pod_security_expression() -> str:
    """A namespace the deployers create or change keeps a Pod Security Standard of
    `baseline` or stricter (not checked on DELETE, when ``object`` is null)."""
    allowed = ", ".join(f"'{level}'" for level in PSS_ALLOWED)
    return (
        "request.resource.resource != 'namespaces' || request.operation == 'DELETE' || "
        "(has(object.metadata.labels) && "
        f"'{PSS_LABEL}' in object.metadata.labels && "
        f"object.metadata.labels['{PSS_LABEL}'] in [{allowed}])"
    )


def admission_expression(pattern: str) -> str:
    """The CEL the policy evaluates: the namespace a request touches must match ``pattern``.

    For a namespace that is the object's own name (the old object's on
    DELETE, when ``object`` is null); for a quota or limit range, the
    request's namespace.
    """
    return (
        "(request.resource.resource == 'namespaces' ? "
        "(request.operation == 'DELETE' ? oldObject : object).metadata.name : "
        f"request.namespace).matches('{pattern}')"
    )


class SmallStackAccess(pulumi.ComponentResource):
    """Namespace rights for the small-stack deployers' group, confined to their names."""

    def __init__(
        self, name: str, args: SmallStackAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("SmallStackAccess"), name, None, opts)

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, labels=args.labels)

        # The policy first: the rights below are never live without it.
        binding = denying_admission_policy(
            self,
            name,
            policy_name=ADMISSION_POLICY,
            labels=args.labels,
            provider=args.provider,
            depends_on=args.wait_for,
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=k8s.admissionregistration.v1.MatchResourcesArgs(
                    resource_rules=[
                        k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                            api_groups=[""],
                            api_versions=["v1"],
                            operations=["CREATE", "UPDATE", "DELETE"],
                            resources=[resource for _, resource in CLUSTER_SCOPED_RULES],
                        )
                    ]
                ),
                # Only the deployers' requests; everyone else is unaffected.
                match_conditions=[
                    k8s.admissionregistration.v1.MatchConditionArgs(
                        name="small-stack-deployers",
                        expression=f"'{args.group}' in request.userInfo.groups",
                    )
                ],
                validations=[
                    k8s.admissionregistration.v1.ValidationArgs(
                        expression=admission_expression(args.namespace_pattern),
                        message=(
                            "the small-stack deployers may create, change and delete only the "
                            f"namespaces of pr-<n>/dev-<name> stacks ({args.namespace_pattern}), "
                            "and quotas and limit ranges in them"
                        ),
                    ),
                    k8s.admissionregistration.v1.ValidationArgs(
                        expression=pod_security_expression(),
                        message=(
                            "a small stack's namespace must enforce the "
                            f"{' or '.join(PSS_ALLOWED)} Pod Security Standard ({PSS_LABEL}); "
                            "privileged pods would reach the shared nodes"
                        ),
                    ),
                ],
            ),
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata=meta(CLUSTER_ROLE),
            rules=[
                *(
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=[group],
                        resources=[resource],
                        verbs=["get", "list", "watch", "create", "update", "patch", "delete"],
                    )
                    for group, resource in CLUSTER_SCOPED_RULES
                ),
                # A small stack binds `edit` to the developers in its namespace.
                # RBAC lets nobody grant what they do not hold through RBAC, and
                # what the EKS access policy grants does not count: `bind` on
                # that one ClusterRole is what makes the RoleBinding possible.
                # https://kubernetes.io/docs/reference/access-authn-authz/rbac/#restrictions-on-role-binding-creation-or-update
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["rbac.authorization.k8s.io"],
                    resources=["clusterroles"],
                    resource_names=[EDIT_CLUSTER_ROLE],
                    verbs=["bind"],
                ),
            ],
            opts=child(self, provider=args.provider, depends_on=[binding]),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-role-binding",
            metadata=meta(CLUSTER_ROLE),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=CLUSTER_ROLE
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    api_group="rbac.authorization.k8s.io", kind="Group", name=args.group
                )
            ],
            opts=child(self, provider=args.provider, depends_on=[role, binding]),
        )
        self.register_outputs({})
