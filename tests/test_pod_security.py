"""Every pod the project creates is admitted by the namespace it runs in."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policy.harness import audit, evaluate_rule, load_policy_config
from policy.pod_security import namespace_levels, pod_spec_of, violations
from policy.rules import RULES_BY_NAME
from stagecraft.cli.main import main
from stagecraft.offline.engine import Plan, evaluate
from stagecraft.offline.stackfiles import load_project, scratch_copy
from tests.conftest import REPO

RULE = RULES_BY_NAME["pod-security-standards"]


@pytest.fixture(scope="module")
def every_plan(tmp_path_factory: pytest.TempPathFactory) -> list[Plan]:
    root = scratch_copy(load_project(REPO), tmp_path_factory.mktemp("pods")).directory
    for stack in ("pr-3", "dev-carol"):
        assert main(["--project-dir", str(root), "env", "create", stack]) == 0
    ephemeral = Path(root) / "ephemeral"
    full = [
        evaluate(stack, project_dir=REPO) for stack in ("dev", "sandbox", "staging", "production")
    ]
    return full + [evaluate(s, project_dir=ephemeral) for s in ("pr-3", "dev-carol")]


def _pods(plan: Plan) -> Iterator[tuple[Any, Any, str | None]]:
    levels = namespace_levels([(r.type, r.inputs) for r in plan.resources])
    for resource in plan.resources:
        spec = pod_spec_of(resource.type, resource.inputs)
        if spec is not None:
            yield resource, spec, levels.get(resource.inputs["metadata"]["namespace"])


def test_every_pod_in_every_plan_is_admitted_by_its_namespace(every_plan):
    judged = 0
    for plan in every_plan:
        for resource, spec, level in _pods(plan):
            assert level is not None, f"{plan.stack}: {resource.name} in a namespace not planned"
            assert violations(spec, level) == [], f"{plan.stack}: {resource.name}"
            judged += 1
    # sandbox's reset CronJob, each small stack's setup Job and drop CronJob,
    # production's export CronJob and export-role Job, staging's import CronJob,
    # every full environment's access-roles Job and smoke-test CronJob
    assert judged == 1 + 2 * 2 + 2 + 1 + 4 + 4


def test_the_database_admin_namespaces_enforce_restricted(every_plan):
    for plan in every_plan[4:]:
        levels = namespace_levels([(r.type, r.inputs) for r in plan.resources])
        assert levels[f"{plan.stack}-dbadmin"] == "restricted"


def _without_seccomp(plan: Plan) -> Plan:
    """The database Jobs as they were before the fix: no seccompProfile anywhere."""
    resources = []
    for resource in plan.resources:
        spec = pod_spec_of(resource.type, resource.inputs)
        if spec is None:
            resources.append(resource)
            continue
        inputs = copy.deepcopy(resource.inputs)
        editable: Any = pod_spec_of(resource.type, inputs)
        editable["securityContext"].pop("seccompProfile")
        for container in [*editable.get("initContainers", []), *editable["containers"]]:
            container["securityContext"].pop("seccompProfile", None)
        resources.append(dataclasses.replace(resource, inputs=inputs))
    return dataclasses.replace(plan, resources=resources)


def test_the_policy_fails_a_pod_the_restricted_namespace_would_refuse(every_plan):
    preview = every_plan[4]
    config = load_policy_config(None)
    assert evaluate_rule(RULE, preview, config).status == "pass"
    verdict = evaluate_rule(RULE, _without_seccomp(preview), config)
    assert verdict.status == "fail"
    messages = [v.message for v in verdict.violations]
    assert (
        "stagecraft-pr-3-database-jobs-setup: initContainer fetch-admin-secret has no "
        "seccompProfile RuntimeDefault (pod or container); namespace pr-3-dbadmin enforces "
        "restricted"
    ) in messages


def test_the_policy_fails_a_privileged_pod_in_a_baseline_namespace(every_plan):
    sandbox = every_plan[1]
    resources = []
    for resource in sandbox.resources:
        if resource.type != "kubernetes:batch/v1:CronJob":
            resources.append(resource)
            continue
        inputs = copy.deepcopy(resource.inputs)
        spec: Any = pod_spec_of(resource.type, inputs)
        spec["hostNetwork"] = True
        resources.append(dataclasses.replace(resource, inputs=inputs))
    verdict = evaluate_rule(
        RULE, dataclasses.replace(sandbox, resources=resources), load_policy_config(None)
    )
    assert [v.message for v in verdict.violations] == [
        "stagecraft-sandbox-database-reset-reset: hostNetwork is true; namespace sandbox "
        "enforces baseline",
        "stagecraft-sandbox-smoke-test-cronjob: hostNetwork is true; namespace sandbox "
        "enforces baseline",
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
         ["container c is privileged"]),
        ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}], "containers": []},
         ["volume root is a hostPath"]),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]},
         ["container c uses a hostPort"]),
        ({"containers": [{"name": "c",
                          "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
         ["container c adds capabilities SYS_ADMIN"]),
    ],
)  # fmt: skip
def test_baseline_refuses_what_admission_refuses(spec, expected):
    assert violations(spec, "baseline") == expected
    assert violations(spec, "privileged") == []


def test_audit_runs_the_policy_on_every_stack(every_plan):
    for plan in every_plan:
        verdicts = {v.rule.name: v for v in audit(plan, load_policy_config(None)).verdicts}
        assert verdicts["pod-security-standards"].status == "pass", plan.stack
