"""SmallStackIngress: what a pr-<n>/dev-<name> namespace may publish on the shared ALB.

The small stacks join their shared stack's IngressGroup, so an Ingress in
one of their namespaces adds rules to the ALB that serves the shared
environment's own application. Whoever can edit such a namespace (a pull
request's code, its developers) could otherwise claim the shared
environment's hostname, put its rules first (`group.order`), answer every
unmatched request (a default backend), stop the whole group with a
conflicting annotation, or have external-dns publish any name in the zone.
A ValidatingAdmissionPolicy allows an Ingress there only for the namespace's
own hostname (`<namespace>.<domain>`), with only the annotations that shape
its own target group, and no Service of type LoadBalancer.
https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components._common import denying_admission_policy, type_token

ADMISSION_POLICY = "stagecraft-small-stack-ingress"
# The controller's annotations that concern an Ingress's own listeners,
# targets and health checks; every other one (group, order, actions,
# conditions, scheme, inbound CIDRs, ...) would reach the shared ALB.
ALLOWED_ALB_ANNOTATIONS = (
    "listen-ports",
    "target-type",
    "backend-protocol",
    "backend-protocol-version",
    "healthcheck-path",
    "healthcheck-port",
    "healthcheck-protocol",
    "healthcheck-interval-seconds",
    "healthcheck-timeout-seconds",
    "healthy-threshold-count",
    "unhealthy-threshold-count",
    "success-codes",
    "target-group-attributes",
)


def ingress_expression(domain: str) -> str:
    """Every rule of an Ingress names the namespace's own hostname; no default backend."""
    return (
        "request.resource.resource != 'ingresses' || "
        "(!has(object.spec.defaultBackend) && has(object.spec.rules) && "
        "object.spec.rules.all(r, has(r.host) && "
        f"r.host == request.namespace + '.{domain}'))"
    )


def annotation_expression() -> str:
    """Only the controller's own-target annotations, and no external-dns ones."""
    allowed = ", ".join(f"'alb.ingress.kubernetes.io/{a}'" for a in ALLOWED_ALB_ANNOTATIONS)
    return (
        "!has(object.metadata.annotations) || object.metadata.annotations.all(k, "
        f"(!k.startsWith('alb.ingress.kubernetes.io/') || k in [{allowed}]) && "
        "!k.startsWith('external-dns.alpha.kubernetes.io/'))"
    )


def service_expression() -> str:
    """No load balancer of its own (a Service of type LoadBalancer makes one)."""
    return (
        "request.resource.resource != 'services' || !has(object.spec.type) || "
        "object.spec.type != 'LoadBalancer'"
    )


@dataclass(frozen=True)
class SmallStackIngressArgs:
    namespace_pattern: str  # RE2 regex of the small stacks' namespaces
    domain: str  # the shared environment's
    labels: dict[str, str]


class SmallStackIngress(pulumi.ComponentResource):
    """The admission policy and its binding, on the cluster hosting the small stacks."""

    def __init__(
        self, name: str, args: SmallStackIngressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("SmallStackIngress"), name, None, opts)
        denying_admission_policy(
            self,
            name,
            policy_name=ADMISSION_POLICY,
            labels=args.labels,
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=k8s.admissionregistration.v1.MatchResourcesArgs(
                    resource_rules=[
                        k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                            api_groups=["networking.k8s.io"],
                            api_versions=["v1"],
                            operations=["CREATE", "UPDATE"],
                            resources=["ingresses"],
                        ),
                        k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                            api_groups=[""],
                            api_versions=["v1"],
                            operations=["CREATE", "UPDATE"],
                            resources=["services"],
                        ),
                    ]
                ),
                # Only in the small stacks' namespaces, whoever asks.
                match_conditions=[
                    k8s.admissionregistration.v1.MatchConditionArgs(
                        name="small-stack-namespaces",
                        expression=f"request.namespace.matches('{args.namespace_pattern}')",
                    )
                ],
                validations=[
                    k8s.admissionregistration.v1.ValidationArgs(
                        expression=ingress_expression(args.domain),
                        message=(
                            "an Ingress of a pr-<n>/dev-<name> namespace serves only "
                            f"<namespace>.{args.domain}, in every rule, and has no default "
                            "backend: the shared ALB serves other environments too"
                        ),
                    ),
                    k8s.admissionregistration.v1.ValidationArgs(
                        expression=annotation_expression(),
                        message=(
                            "only the load balancer controller's target and health-check "
                            "annotations are allowed here ("
                            + ", ".join(ALLOWED_ALB_ANNOTATIONS)
                            + "), and no external-dns annotation"
                        ),
                    ),
                    k8s.admissionregistration.v1.ValidationArgs(
                        expression=service_expression(),
                        message="a pr-<n>/dev-<name> namespace gets no load balancer of its own; "
                        "use an Ingress of class alb",
                    ),
                ],
            ),
        )
        self.register_outputs({})
