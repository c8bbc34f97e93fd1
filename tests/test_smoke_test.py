"""The post-deploy smoke test: its CronJob in the plans, its config, `stagecraft smoke-test`.

The checks themselves (smoke.sh) run for real in tests/test_smoke_script.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.components.database_jobs import NEVER
from infra.config import ConfigError
from infra.smoke import script
from policy.pod_security import pod_spec_of, violations
from stagecraft import smoke_run
from stagecraft.cli.main import main
from stagecraft.cost import estimate
from stagecraft.offline.engine import Plan
from stagecraft.report import plan_rows
from tests.conftest import stack_config

CRONJOB = "kubernetes:batch/v1:CronJob"
# The only literal values the pod may carry: nothing secret.
LITERALS = {
    "HOME", "DATABASE_USER", "AWS_REGION", "RDS_CA_BUNDLE_URL", "HEALTH_URL", "HEALTH_SKIP_REASON",
}  # fmt: skip


def _smoke_job(plan: Plan) -> dict[str, Any]:
    (job,) = [
        r.inputs for r in plan.of_type(CRONJOB) if r.inputs["metadata"]["name"] == "smoke-test"
    ]
    return job


def _pod(plan: Plan) -> dict[str, Any]:
    return _smoke_job(plan)["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _env(plan: Plan, container: str) -> dict[str, Any]:
    pod = _pod(plan)
    (found,) = [c for c in pod["containers"] + pod["initContainers"] if c["name"] == container]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in found["env"]}


def test_every_environment_has_a_smoke_test_template_in_its_namespace(plans):
    for stack, plan in plans.items():
        job = _smoke_job(plan)
        assert job["metadata"]["namespace"] == stack
        # A template only: it never fires on its own; the deploy starts it.
        assert (job["spec"]["schedule"], job["spec"]["suspend"]) == (NEVER, True)
        run = job["spec"]["jobTemplate"]["spec"]
        assert run["backoffLimit"] == 0  # the first failure fails the deploy
        assert run["activeDeadlineSeconds"] == 300
        assert run["ttlSecondsAfterFinished"] == 86400
        assert plan.outputs["smokeTestCronJob"] == "smoke-test"


def test_it_runs_as_the_application_and_reads_the_applications_secret(staging):
    pod = _pod(staging)
    assert pod["serviceAccountName"] == "app"
    assert pod["restartPolicy"] == "Never"
    # One container per check, so each reports even when another fails.
    assert [c["name"] for c in pod["initContainers"]] == ["ca-bundle", "db-token"]
    assert [c["name"] for c in pod["containers"]] == ["database", "cache", "health"]
    database = _env(staging, "database")
    assert database["DATABASE_USER"] == "stagecraft_app"
    assert database["DATABASE_HOST"] == {
        "secretKeyRef": {"name": "app-connection", "key": "DATABASE_HOST"}
    }
    # redis-cli's own variable, from the application's password: never argv.
    assert _env(staging, "cache")["REDISCLI_AUTH"] == {
        "secretKeyRef": {"name": "app-connection", "key": "REDIS_PASSWORD"}
    }
    for container in pod["containers"] + pod["initContainers"]:
        assert container["command"] == ["sh", "/smoke/smoke.sh", container["name"]]
        for variable in container["env"]:
            if "value" in variable:
                assert variable["name"] in LITERALS, variable
            else:
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "app-connection"


def test_the_script_is_shipped_as_is(staging):
    (config_map,) = [
        r.inputs
        for r in staging.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == "smoke-test-script"
    ]
    assert config_map["data"] == {"smoke.sh": script()}
    volumes = {v["name"]: v for v in _pod(staging)["volumes"]}
    assert volumes["script"]["configMap"]["name"] == "smoke-test-script"
    # The IAM token lives in memory only.
    assert volumes["work"]["emptyDir"]["medium"] == "Memory"


def test_the_pod_meets_pod_security_restricted_and_the_quota(plans):
    for plan in plans.values():
        job = next(r for r in plan.of_type(CRONJOB) if r.inputs["metadata"]["name"] == "smoke-test")
        spec = pod_spec_of(job.type, job.inputs)
        assert spec is not None
        assert violations(spec, "restricted") == []
        for container in spec["containers"] + spec["initContainers"]:
            # The namespace's ResourceQuota counts requests and limits.
            assert set(container["resources"]) == {"requests", "limits"}
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            image = container["image"]
            assert image.startswith("public.ecr.aws/"), image
            assert ":" in image.rsplit("/", 1)[-1], image
            assert not image.endswith(":latest"), image


def test_the_health_url_comes_from_domain_and_health_check_path(staging, production, dev):
    assert _env(staging, "health")["HEALTH_URL"] == "https://staging.example.com/healthz"
    assert _env(production, "health")["HEALTH_URL"] == "https://app.example.com/healthz"
    # dev has a domain but no healthCheckPath: the run says it skipped.
    assert _env(dev, "health")["HEALTH_URL"] == ""
    assert "no healthCheckPath" in _env(dev, "health")["HEALTH_SKIP_REASON"]


def test_the_job_costs_nothing_of_its_own(plans):
    for plan in plans.values():
        cost = estimate(plan, budget=None)
        (line,) = [c for c in cost.lines if c.type == CRONJOB and "smoke-test" in c.name]
        assert (line.kind, line.monthly) == ("free", 0.0)


def test_the_report_says_what_the_smoke_test_checks(project, staging, dev):
    row = plan_rows(staging, stack_config(project, "staging"), estimate(staging, budget=None))
    assert row["Post-deploy smoke test"] == (
        "after each deploy, as ServiceAccount app: database as stagecraft_app (IAM token, "
        "verify-full TLS), Redis PING over TLS, HTTPS /healthz on its domain answers 2xx; "
        "fails the deploy on any failure or after 300 s"
    )
    dev_row = plan_rows(dev, stack_config(project, "dev"), estimate(dev, budget=None))
    assert "health skipped (no healthCheckPath" in dev_row["Post-deploy smoke test"]


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"dbIamAuthentication": False}, "stagecraft:smokeTest",
         "needs dbIamAuthentication: true, or set smokeTest: false"),
        ({"smokeTestDeadlineSeconds": 30}, "stagecraft:smokeTestDeadlineSeconds",
         "must be at least 60"),
        ({"smokeTest": False, "smokeTestDeadlineSeconds": 600},
         "stagecraft:smokeTestDeadlineSeconds", "applies only with smokeTest: true"),
    ],
)  # fmt: skip
def test_bad_smoke_test_config_is_one_clear_error(project, overrides, key, message):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "staging", **overrides)
    text = str(caught.value)
    assert key in text
    assert message in text
    assert "Traceback" not in text


def test_off_means_no_run_and_says_so(project, capsys, scratch):
    from tests.conftest import edit_stack

    edit_stack(scratch, "dev", **{"stagecraft:smokeTest": False})
    assert main(["--project-dir", str(scratch), "smoke-test", "--stack", "dev"]) == 0
    assert "smokeTest is false" in capsys.readouterr().out


# ---------------------------------------------------------------- smoke-test runs


def _job(condition: str | None, reason: str = "") -> str:
    conditions = [{"type": condition, "status": "True", "reason": reason}] if condition else []
    return json.dumps({"status": {"conditions": conditions}})


PODS = json.dumps(
    {
        "items": [
            {
                "status": {
                    "containerStatuses": [
                        {"name": "database", "state": {"terminated": {"exitCode": 1,
                                                                       "reason": "Error"}}},
                        {"name": "cache", "state": {"waiting": {"reason": "ImagePullBackOff",
                                                                 "message": "no such tag"}}},
                    ]
                }
            }
        ]
    }
)  # fmt: skip


class FakeKubectl:
    """Answers the commands `smoke_run.run` sends, as a cluster would."""

    def __init__(self, states: list[str], logs: dict[str, str]) -> None:
        self.states, self.logs = states, logs
        self.calls: list[list[str]] = []

    def __call__(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        verb = command[5]
        out = ""
        if verb == "get" and command[6] == "job":
            out = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        elif verb == "get":
            out = PODS
        elif verb == "logs":
            out = self.logs.get(command[-1], "")
        return subprocess.CompletedProcess(command, 0, out, "")


SMOKE = smoke_run.SmokeRun(namespace="staging", job="smoke-test-7-1", kubeconfig="kc",
                           timeout_seconds=60)  # fmt: skip
LOGS = {
    "database": "PASS database: stagecraft_app@db:5432/app: SELECT 1 over TLSv1.3, ...",
    "cache": "PASS cache: app@redis:6379: PING answered PONG over TLS",
    "health": "SKIP health: no healthCheckPath",
}


def _run(kubectl: FakeKubectl) -> tuple[bool, list[str]]:
    said: list[str] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    passed = smoke_run.run(
        SMOKE, runner=kubectl, sleep=sleep, clock=lambda: now[0], say=said.append
    )
    return passed, said


def test_a_completed_run_passes_and_prints_every_check():
    kubectl = FakeKubectl([_job(None), _job(None), _job("Complete")], LOGS)
    passed, said = _run(kubectl)
    assert passed
    assert kubectl.calls[0] == [
        "kubectl", "--kubeconfig", "kc", "--namespace", "staging",
        "create", "job", "smoke-test-7-1", "--from=cronjob/smoke-test",
    ]  # fmt: skip
    assert said == [
        "started job/smoke-test-7-1 in namespace staging from cronjob/smoke-test",
        *LOGS.values(),
        "smoke test passed (job/smoke-test-7-1)",
    ]


def test_a_failed_run_fails_and_says_where_it_stuck():
    logs = {**LOGS, "database": "FAIL database: ... PAM authentication failed", "cache": ""}
    passed, said = _run(FakeKubectl([_job("FailureTarget"), _job("Failed", "BackoffLimitExceeded")],
                                    logs))  # fmt: skip
    assert not passed
    assert "FAIL database: ... PAM authentication failed" in said
    assert "---- cache: no output (the container did not run)" in said
    assert "  cache: waiting, ImagePullBackOff: no such tag" in said
    assert said[-1] == "smoke test FAILED (job/smoke-test-7-1: BackoffLimitExceeded)"


def test_a_run_that_never_finishes_fails_at_the_timeout():
    passed, said = _run(FakeKubectl([_job(None)], LOGS))
    assert not passed
    assert said[-1] == "smoke test FAILED: job/smoke-test-7-1 did not finish within 60 s"


def test_a_run_that_cannot_start_is_an_error(capsys, tmp_path, monkeypatch):
    fake = tmp_path / "kubectl"
    fake.write_text('#!/bin/sh\necho "Error from server (NotFound): cronjobs.batch not found" >&2\n'
                    "exit 1\n")  # fmt: skip
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    code = main(["smoke-test", "--stack", "staging", "--kubeconfig", str(tmp_path / "kc"),
                 "--job", "smoke-test-1-1"])  # fmt: skip
    assert code == 2
    assert "cronjobs.batch not found" in capsys.readouterr().err


def test_a_small_stack_has_no_smoke_test(capsys, scratch):
    assert main(["--project-dir", str(scratch), "env", "create", "pr-9"]) == 0
    assert main(["--project-dir", str(scratch), "smoke-test", "--stack", "pr-9"]) == 2
    assert "not a full environment" in capsys.readouterr().err


def test_the_job_name_is_unique_per_workflow_run():
    assert smoke_run.default_job_name("8812", "2", 0) == "smoke-test-8812-2"
    assert smoke_run.default_job_name(None, None, 0) == "smoke-test-19700101-000000"
    assert smoke_run.JOB_NAME.fullmatch(smoke_run.default_job_name("9" * 19, "99", 0))


def test_dry_run_prints_the_commands(capsys):
    assert main(["smoke-test", "--stack", "production", "--job", "smoke-test-5-1",
                 "--dry-run"]) == 0  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "aws eks update-kubeconfig --name stagecraft-production --region us-east-1 "
        "--kubeconfig .stagecraft-kubeconfig-production"
    )
    assert out[1].endswith("--namespace production create job smoke-test-5-1 "
                           "--from=cronjob/smoke-test")  # fmt: skip
    assert "at most 420 s" in out[-1]


def test_the_kubeconfig_path_is_never_a_secret_in_the_repository():
    # Written into the checkout by the workflow: ignored by git.
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".stagecraft-kubeconfig-staging"],
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert ignored.returncode == 0
