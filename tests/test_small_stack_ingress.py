"""The shared ALB: a pr-<n>/dev-<name> namespace publishes only its own hostname.

The admission policy's CEL is run here with a CEL interpreter (RE2 regexes,
as the API server's) against the requests an Ingress or Service makes.
"""

from __future__ import annotations

from typing import Any

import celpy
import pytest
from celpy.adapter import json_to_cel

from tests.conftest import shipped_value

POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
DOMAIN = shipped_value("stagecraft:domain")


@pytest.fixture(scope="module")
def policy(plans: Any) -> dict[str, Any]:
    (found,) = [
        p for p in plans["staging"].of_type(POLICY)
        if p.inputs["metadata"]["name"] == "stagecraft-small-stack-ingress"
    ]  # fmt: skip
    return found.inputs["spec"]


def _run(expression: str, resource: str, namespace: str, obj: dict[str, Any]) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    activation = {
        "request": json_to_cel(
            {
                "operation": "CREATE",
                "namespace": namespace,
                "resource": {"group": "", "version": "v1", "resource": resource},
            }
        ),
        "object": json_to_cel(obj),
    }
    return bool(program.evaluate(activation))


def _admitted(policy: dict[str, Any], resource: str, namespace: str, obj: dict[str, Any]) -> bool:
    """What the API server decides: not matched, or every validation holds."""
    (condition,) = policy["matchConditions"]
    if not _run(condition["expression"], resource, namespace, obj):
        return True
    return all(_run(v["expression"], resource, namespace, obj) for v in policy["validations"])


def _ingress(*hosts: str | None, annotations: dict[str, str] | None = None,
             default_backend: bool = False) -> dict[str, Any]:  # fmt: skip
    rules = [{"host": h} if h else {} for h in hosts]
    spec: dict[str, Any] = {"ingressClassName": "alb", "rules": rules}
    if default_backend:
        spec["defaultBackend"] = {"service": {"name": "app", "port": {"number": 80}}}
    metadata: dict[str, Any] = {"name": "app"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": spec}


ALLOWED = {
    "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
    "alb.ingress.kubernetes.io/target-type": "ip",
    "alb.ingress.kubernetes.io/healthcheck-path": "/health",
}


@pytest.mark.parametrize(
    ("namespace", "obj", "admitted"),
    [
        ("pr-42", _ingress(f"pr-42.{DOMAIN}", annotations=ALLOWED), True),
        ("pr-42", _ingress(f"pr-42.{DOMAIN}", f"pr-42.{DOMAIN}"), True),
        # The shared environment's own hostname, another preview's, any other.
        ("pr-42", _ingress(DOMAIN), False),
        ("pr-42", _ingress(f"pr-43.{DOMAIN}"), False),
        ("pr-42", _ingress(f"pr-42.{DOMAIN}", "evil.example.net"), False),
        ("pr-42", _ingress(None), False),  # a rule without a host matches every host
        ("pr-42", _ingress(f"pr-42.{DOMAIN}", default_backend=True), False),
        ("pr-42", _ingress(f"pr-42.{DOMAIN}",
                           annotations={"alb.ingress.kubernetes.io/group.order": "-1000"}), False),
        ("pr-42", _ingress(f"pr-42.{DOMAIN}",
                           annotations={"alb.ingress.kubernetes.io/inbound-cidrs": "1.2.3.4/32"}),
         False),
        ("pr-42", _ingress(f"pr-42.{DOMAIN}", annotations={
            "alb.ingress.kubernetes.io/actions.redirect": "{}"}), False),
        ("pr-42", _ingress(f"pr-42.{DOMAIN}", annotations={
            "external-dns.alpha.kubernetes.io/hostname": DOMAIN}), False),
        # The database-admin namespace is a small stack's too.
        ("pr-42-dbadmin", _ingress(DOMAIN), False),
        # The shared environment's own namespace is not confined.
        ("staging", _ingress(DOMAIN, annotations={"alb.ingress.kubernetes.io/group.order": "1"}),
         True),
    ],
)  # fmt: skip
def test_an_ingress_publishes_only_its_namespaces_hostname(policy, namespace, obj, admitted):
    assert _admitted(policy, "ingresses", namespace, obj) is admitted


@pytest.mark.parametrize(
    ("service", "admitted"),
    [
        ({"spec": {"type": "ClusterIP"}}, True),
        ({"spec": {}}, True),
        ({"spec": {"type": "LoadBalancer"}}, False),
        ({"metadata": {"annotations": {"external-dns.alpha.kubernetes.io/hostname": DOMAIN}},
          "spec": {"type": "ClusterIP"}}, False),
    ],
)  # fmt: skip
def test_no_load_balancer_or_published_name_of_its_own(policy, service, admitted):
    service = {"metadata": {"name": "app", **service.get("metadata", {})}, "spec": service["spec"]}
    assert _admitted(policy, "services", "pr-42", service) is admitted


def test_the_policy_denies_and_is_bound(plans, policy):
    assert policy["failurePolicy"] == "Fail"
    (binding,) = [
        b for b in plans["staging"].of_type(
            "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")
        if b.inputs["metadata"]["name"] == "stagecraft-small-stack-ingress"
    ]  # fmt: skip
    assert binding.inputs["spec"] == {
        "policyName": "stagecraft-small-stack-ingress",
        "validationActions": ["Deny"],
    }
    # Only where small stacks live: production hosts none.
    assert not [
        p for p in plans["production"].of_type(POLICY)
        if p.inputs["metadata"]["name"] == "stagecraft-small-stack-ingress"
    ]  # fmt: skip
