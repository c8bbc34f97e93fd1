"""The GitHub workflows parse and do what the README says they do."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def _steps(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_workflow_parses_and_pins_action_versions(name):
    document = _load(name)
    assert document["jobs"]
    for job in document["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert "@" in step["uses"], step["uses"]


def test_pull_requests_run_tests_offline_diff_and_gated_previews():
    document = _load("pull-request.yml")
    assert "pull_request" in document["on"]
    jobs = document["jobs"]
    assert "make test" in _steps(jobs["test"])
    diff = _steps(jobs["offline-diff"])
    assert "stagecraft diff --stack dev --stack staging --stack production" in diff
    assert "--format markdown" in diff
    script = next(s for s in jobs["offline-diff"]["steps"] if "github-script" in s.get("uses", ""))
    assert "updateComment" in script["with"]["script"]  # edited in place on later pushes
    preview = jobs["preview"]
    assert "vars.AWS_PREVIEW_ROLE_ARN" in preview["if"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "production"]
    steps = _steps(preview)
    assert "pulumi/actions@" in steps
    assert "pulumi preview --stack" in steps
    assert "--json" in steps
    assert "stagecraft gate preview.json" in steps
    assert preview["permissions"]["id-token"] == "write"


def test_merge_to_main_deploys_staging_and_smoke_checks():
    document = _load("deploy-staging.yml")
    assert document["on"]["push"]["branches"] == ["main"]
    job = document["jobs"]["deploy"]
    up = next(s for s in job["steps"] if "pulumi/actions" in s.get("uses", ""))
    assert up["with"] == {"command": "up", "stack-name": "staging"}
    assert "stagecraft check-outputs" in _steps(job)


def test_production_only_from_dispatch_or_tag_through_a_reviewed_environment():
    document = _load("deploy-production.yml")
    assert set(document["on"]) == {"push", "workflow_dispatch"}
    assert document["on"]["push"] == {"tags": ["v*"]}
    preview, deploy = document["jobs"]["preview"], document["jobs"]["deploy"]
    assert "environment" not in preview  # reviewers see a finished, gated preview
    assert deploy["environment"] == "production"
    assert deploy["needs"] == "preview"
    assert "--save-plan plan.json" in _steps(preview)
    assert "stagecraft gate preview.json" in _steps(preview)
    assert "pulumi up --stack production --yes --plan plan.json" in _steps(deploy)
    assert "merge-base --is-ancestor" in _steps(preview)


def test_jobs_that_reach_the_cluster_api_run_on_runners_that_can():
    for name, job_name in (
        ("pull-request.yml", "preview"),
        ("deploy-staging.yml", "deploy"),
        ("deploy-production.yml", "preview"),
        ("deploy-production.yml", "deploy"),
    ):
        assert "self-hosted" in str(_load(name)["jobs"][job_name]["runs-on"]), (name, job_name)


def test_untrusted_pr_input_never_reaches_a_script():
    for path in WORKFLOWS.glob("*.yml"):
        for job in _load(path.name)["jobs"].values():
            for step in job["steps"]:
                assert "github.event.pull_request.labels" not in step.get("run", "")
                assert "github.event.pull_request.title" not in step.get("run", "")


def test_credentials_come_from_oidc_never_from_keys():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "aws-access-key-id" not in text
        assert "AWS_SECRET_ACCESS_KEY" not in text
        for job in _load(path.name)["jobs"].values():
            for step in job["steps"]:
                if "configure-aws-credentials" in step.get("uses", ""):
                    assert "role-to-assume" in step["with"]


def test_policy_pack_runs_in_previews_and_in_the_pr_comment():
    jobs = _load("pull-request.yml")["jobs"]
    steps = _steps(jobs["offline-diff"])
    assert "stagecraft audit --format markdown > stagecraft-audit.md" in steps
    assert "--max-chars" in steps  # the diff leaves room for the audit
    preview = _steps(jobs["preview"])
    assert "--policy-pack policy" in preview
    assert "policy/config/${{ matrix.stack }}.json" in preview
    production = _steps(_load("deploy-production.yml")["jobs"]["preview"])
    assert "--policy-pack-config policy/config/production.json" in production


def test_pull_requests_get_an_environment_destroyed_on_close():
    document = _load("pr-environment.yml")
    assert set(document["on"]["pull_request"]["types"]) == {
        "opened",
        "synchronize",
        "reopened",
        "closed",
    }
    deploy, destroy = document["jobs"]["deploy"], document["jobs"]["destroy"]
    assert "github.event.action != 'closed'" in deploy["if"]
    assert "github.event.action == 'closed'" in destroy["if"]
    steps = _steps(deploy)
    assert 'stagecraft env create "$STACK"' in steps
    assert 'pulumi up --stack "$STACK" --cwd ephemeral --yes' in steps
    script = next(s for s in deploy["steps"] if "github-script" in s.get("uses", ""))
    assert "out.namespace" in script["with"]["script"]
    assert "updateComment" in script["with"]["script"]
    assert 'stagecraft env destroy "$STACK" --execute' in _steps(destroy)
    assert document["env"]["STACK"] == "pr-${{ github.event.pull_request.number }}"


def test_a_daily_schedule_collects_expired_environments():
    document = _load("env-gc.yml")
    assert document["on"]["schedule"] == [{"cron": "30 3 * * *"}]
    assert "stagecraft env gc --from-backend --execute" in _steps(document["jobs"]["gc"])


def test_preview_environments_run_the_policy_pack_and_can_get_their_own_database():
    steps = _steps(_load("pr-environment.yml")["jobs"]["deploy"])
    assert "--policy-pack policy --policy-pack-config policy/config/preview.json" in steps
    text = (WORKFLOWS / "pr-environment.yml").read_text()
    assert "stagecraft:own-database" in text
