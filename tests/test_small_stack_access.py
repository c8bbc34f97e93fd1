"""The small-stack deployers' group may touch only the small stacks' namespaces.

The admission policy's CEL expression is run here by a CEL interpreter (RE2
regexes, like the API server's) against the requests a deploy makes, and a
pull request's code might make.
"""

from __future__ import annotations

import celpy
import pytest
from celpy.adapter import json_to_cel

from infra.config import small_stack_namespaces

POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


@pytest.fixture(scope="module")
def policy(plans):
    (found,) = [
        p for p in plans["staging"].of_type(POLICY)
        if p.inputs["metadata"]["name"] == "stagecraft-small-stack-namespaces"
    ]  # fmt: skip
    return found


def _evaluate(
    expression: str,
    operation: str,
    resource: str,
    name: str,
    namespace: str,
    labels: dict[str, str] | None = None,
) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    metadata: dict[str, object] = {"name": name, "namespace": namespace}
    if labels is not None:
        metadata["labels"] = labels
    target = {"metadata": metadata}
    activation = {
        "request": json_to_cel(
            {
                "operation": operation,
                "namespace": namespace,
                "resource": {"group": "", "version": "v1", "resource": resource},
                "userInfo": {"groups": ["stagecraft-small-stack-deployers"]},
            }
        ),
        "object": json_to_cel(None if operation == "DELETE" else target),
        "oldObject": json_to_cel(target if operation != "CREATE" else None),
    }
    return bool(program.evaluate(activation))


@pytest.mark.parametrize(
    ("operation", "resource", "name", "namespace", "allowed"),
    [
        ("CREATE", "namespaces", "pr-123", "", True),
        ("CREATE", "namespaces", "pr-123-dbadmin", "", True),
        ("DELETE", "namespaces", "pr-123", "", True),
        ("CREATE", "resourcequotas", "environment-quota", "pr-123", True),
        ("UPDATE", "limitranges", "container-defaults", "pr-7-dbadmin", True),
        # What a pull request's code must never do:
        ("DELETE", "namespaces", "staging", "", False),
        ("DELETE", "namespaces", "kube-system", "", False),
        ("UPDATE", "namespaces", "staging", "", False),
        ("CREATE", "namespaces", "pr-1x", "", False),
        ("CREATE", "namespaces", "pr-0", "", False),
        ("UPDATE", "resourcequotas", "environment-quota", "staging", False),
        ("DELETE", "limitranges", "container-defaults", "kube-system", False),
    ],
)
def test_the_policy_admits_only_the_small_stacks_namespaces(
    policy, operation, resource, name, namespace, allowed
):
    names, _ = policy.inputs["spec"]["validations"]
    assert _evaluate(names["expression"], operation, resource, name, namespace) is allowed


PSS = "pod-security.kubernetes.io/enforce"


@pytest.mark.parametrize(
    ("operation", "labels", "allowed"),
    [
        ("CREATE", {PSS: "baseline"}, True),
        ("UPDATE", {PSS: "restricted", "team": "x"}, True),
        ("DELETE", None, True),
        # A pull request must not make its namespace privileged: its pods
        # could then reach the node and every other pod's token on it.
        ("UPDATE", {PSS: "privileged"}, False),
        ("CREATE", {"team": "x"}, False),
        ("CREATE", None, False),
    ],
)
def test_a_small_stacks_namespace_keeps_its_pod_security(policy, operation, labels, allowed):
    _, pod_security = policy.inputs["spec"]["validations"]
    verdict = _evaluate(pod_security["expression"], operation, "namespaces", "pr-7", "", labels)
    assert verdict is allowed
    # Quotas and limit ranges are not namespaces: this rule leaves them alone.
    assert _evaluate(pod_security["expression"], "CREATE", "resourcequotas", "q", "pr-7", None)


def test_the_policy_judges_only_the_deployers_group_and_denies(plans, policy):
    spec = policy.inputs["spec"]
    (condition,) = spec["matchConditions"]
    assert (
        condition["expression"] == "'stagecraft-small-stack-deployers' in request.userInfo.groups"
    )
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert sorted(rule["resources"]) == ["limitranges", "namespaces", "resourcequotas"]
    assert sorted(rule["operations"]) == ["CREATE", "DELETE", "UPDATE"]
    (binding,) = [
        b for b in plans["staging"].of_type(BINDING)
        if b.inputs["metadata"]["name"] == "stagecraft-small-stack-namespaces"
    ]  # fmt: skip
    assert binding.inputs["spec"] == {
        "policyName": policy.inputs["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    # The rights it confines exist only where the policy does.
    role = plans["staging"].one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    assert binding.urn in role.dependencies
    # `bind` on `edit` only, so a small stack can bind its developers to it.
    (bind,) = [r for r in role.inputs["rules"] if "bind" in r["verbs"]]
    assert bind == {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "resourceNames": ["edit"],
        "verbs": ["bind"],
    }

    def namespace_policies(stack: str) -> list[object]:
        return [
            p for p in plans[stack].of_type(POLICY)
            if p.inputs["metadata"]["name"] == "stagecraft-small-stack-namespaces"
        ]  # fmt: skip

    assert namespace_policies("production") == []
    assert namespace_policies("dev") == []  # dev hosts no CI-deployed small stacks


def test_the_pattern_is_the_stack_name_rule():
    from infra.config import stack_kind

    _, pattern = small_stack_namespaces("preview")
    environment = celpy.Environment()
    for name in ("pr-1", "pr-999999", "pr-1000000", "pr-01", "pr-12a"):
        program = environment.program(environment.compile(f"'{name}'.matches('{pattern}')"))
        assert bool(program.evaluate({})) is (stack_kind(name) == "preview"), name
