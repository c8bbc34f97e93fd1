"""The GitHub workflows parse and do what the README says they do."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, SUBJECT

WORKFLOWS = REPO / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def _steps(job: dict[str, Any]) -> str:
    return "\n".join(
        str(step.get("run", "")) + str(step.get("uses", "")) for step in job.get("steps", [])
    )


PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_every_action_is_pinned_to_a_full_commit_with_its_version(name):
    # A tag can be moved to other code; a commit cannot.  The version comment
    # is what Dependabot and Renovate read to keep the pin current.
    document = _load(name)
    assert document["jobs"]
    lines = (WORKFLOWS / name).read_text().splitlines()
    uses = [line.split("uses:", 1)[1].strip() for line in lines if "uses:" in line]
    assert uses
    for reference in uses:
        # This repository's own reusable workflow is pinned by the run's commit.
        if reference.startswith("./.github/workflows/"):
            continue
        assert PINNED.match(reference), reference


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_no_checkout_leaves_the_token_in_the_workspace(name):
    for job in _load(name)["jobs"].values():
        for step in job.get("steps", []):
            if "actions/checkout@" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_write_permissions_belong_to_the_jobs_that_need_them(name):
    document = _load(name)
    workflow_level = document.get("permissions") or {}
    assert not [scope for scope, level in workflow_level.items() if level == "write"]
    for job in document["jobs"].values():
        assert "permissions" in job or not workflow_level.get("id-token")


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_the_pulumi_cli_is_the_version_of_the_pinned_sdk(name):
    pinned = next(
        line.split("==")[1].strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.startswith("pulumi==")
    )
    for job in _load(name)["jobs"].values():
        for step in job.get("steps", []):
            if "pulumi/actions@" in step.get("uses", ""):
                assert str(step["with"]["pulumi-version"]) == pinned


def test_pull_requests_run_tests_offline_diff_and_gated_previews():
    document = _load("pull-request.yml")
    assert "pull_request" in document["on"]
    jobs = document["jobs"]
    assert "make test" in _steps(jobs["test"])
    diff = _steps(jobs["offline-diff"])
    # One run: every environment (no --stack), comment and artifact from the
    # same plans, the audit included; the base revision is planned once.
    assert diff.count("stagecraft diff") == 1
    assert '.venv/bin/stagecraft diff --base "$BASE_REF" --audit' in diff
    assert "--write markdown=stagecraft-comment.md --write json=stagecraft-diff.json" in diff
    assert "--stack" not in diff
    assert "stagecraft validate" in diff
    # The offline diff is gated like a real preview, on every PR.
    assert 'stagecraft gate stagecraft-diff.json --labels "$PR_LABELS"' in diff
    script = next(s for s in jobs["offline-diff"]["steps"] if "github-script" in s.get("uses", ""))
    assert "updateComment" in script["with"]["script"]  # edited in place on later pushes
    preview = jobs["preview"]
    assert "vars.AWS_PREVIEW_ROLE_ARN" in preview["if"]
    # Every environment but production: a pull request's code runs here, and
    # production's state holds its secrets (deploy-production.yml previews it).
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "sandbox"]
    # A fork's pull request gets no credentials.
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
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
    assert up["with"] == {
        "command": "up",
        "stack-name": "staging",
        "pulumi-version": "3.272.0",
        # The policy pack judges the update itself, not only the PR's preview.
        "policyPacks": "policy",
        "policyPackConfigs": "policy/config/staging.json",
    }
    assert "stagecraft check-outputs" in _steps(job)


def test_production_only_from_dispatch_or_tag_through_a_reviewed_environment():
    document = _load("deploy-production.yml")
    assert set(document["on"]) == {"push", "workflow_dispatch", "workflow_call"}
    assert document["on"]["push"] == {"tags": ["v*"]}
    preview, deploy = document["jobs"]["preview"], document["jobs"]["deploy"]
    # Reviewers see a finished, gated preview, made by a read-only role.
    assert preview["environment"] == "production-plan"
    assert deploy["environment"] == "production"
    assert deploy["needs"] == "preview"
    assert "--save-plan plan.json" in _steps(preview)
    assert "stagecraft gate preview.json" in _steps(preview)
    assert (
        "pulumi up --stack production --yes --plan plan.json --policy-pack policy "
        "--policy-pack-config policy/config/production.json"
    ) in _steps(deploy)
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
            for step in job.get("steps", []):
                assert "github.event.pull_request.labels" not in step.get("run", "")
                assert "github.event.pull_request.title" not in step.get("run", "")


def test_credentials_come_from_oidc_never_from_keys():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "aws-access-key-id" not in text
        assert "AWS_SECRET_ACCESS_KEY" not in text
        for job in _load(path.name)["jobs"].values():
            for step in job.get("steps", []):
                if "configure-aws-credentials" in step.get("uses", ""):
                    assert "role-to-assume" in step["with"]


def test_policy_pack_runs_in_previews_and_in_the_pr_comment():
    jobs = _load("pull-request.yml")["jobs"]
    steps = _steps(jobs["offline-diff"])
    assert "--audit" in steps  # the audit is in the same comment, under the same limit
    preview = _steps(jobs["preview"])
    assert "--policy-pack policy" in preview
    # The matrix value reaches the script through the environment, not pasted in.
    assert "policy/config/$STACK.json" in preview
    assert next(s for s in jobs["preview"]["steps"] if s.get("name") == "Preview")["env"] == {
        "STACK": "${{ matrix.stack }}"
    }
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
    # The CI role reaches pr-* stacks only; developers remove their own.
    assert "stagecraft env gc --from-backend --kind preview --execute" in _steps(
        document["jobs"]["gc"]
    )


def test_preview_environments_run_the_policy_pack_and_can_get_their_own_database():
    steps = _steps(_load("pr-environment.yml")["jobs"]["deploy"])
    assert "--policy-pack policy --policy-pack-config policy/config/preview.json" in steps
    text = (WORKFLOWS / "pr-environment.yml").read_text()
    assert "stagecraft:own-database" in text
    # A label starts the preview from staging's anonymised copy of production.
    assert "stagecraft:anonymised-data" in text
    assert 'env create "$STACK" "$OWN_DATABASE" --initial-data "$INITIAL_DATA"' in steps


def test_the_audit_report_is_written_weekly_and_checks_the_register():
    document = _load("audit-report.yml")
    assert document["on"]["schedule"]
    assert "policy/**" in document["on"]["push"]["paths"]
    job = document["jobs"]["report"]
    assert job["permissions"] == {"contents": "read"}
    steps = _steps(job)
    assert "stagecraft report --format html -o stagecraft-report.html" in steps
    assert "stagecraft report --check" in steps
    upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert "stagecraft-report.html" in upload["with"]["path"]


def _role_variables(job: dict[str, Any]) -> list[str]:
    return [
        re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}", step["with"]["role-to-assume"]).group(1)  # type: ignore[union-attr]
        for step in job.get("steps", [])
        if "configure-aws-credentials" in step.get("uses", "")
    ]


def test_every_job_assumes_a_role_that_trusts_exactly_that_job():
    """The token's `sub` is the job's GitHub environment, else `pull_request`: the role
    behind each variable must trust that, as the bootstrap writes it."""
    from stagecraft.offline.engine import evaluate

    bootstrap = evaluate("bootstrap", project_dir=REPO / "bootstrap")
    subjects = {
        r.inputs["name"]: json.loads(r.inputs["assumeRolePolicy"])["Statement"][0]["Condition"][
            "StringEquals"
        ]["token.actions.githubusercontent.com:sub"]
        for r in bootstrap.of_type("aws:iam/role:Role")
    }
    repository_variables = bootstrap.outputs["githubRepositoryVariables"]
    environment_variables = bootstrap.outputs["githubEnvironmentVariables"]
    checked = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        document = _load(path.name)
        for job_name, job in document["jobs"].items():
            for variable in _role_variables(job):
                environment = job.get("environment")
                context = f"environment:{environment}" if environment else "pull_request"
                arn = (environment_variables.get(environment) or {}).get(variable) or (
                    repository_variables.get(variable)
                )
                assert arn, f"{path.name} {job_name}: no bootstrap output sets {variable}"
                role = arn.rsplit("/", 1)[-1]
                assert subjects[role] == f"{SUBJECT}:{context}", (
                    f"{path.name} {job_name} assumes {role}, which trusts {subjects[role]}"
                )
                if context == "pull_request":
                    assert "github.event.pull_request.head.repo.full_name" in job.get("if", "")
                checked += 1
    assert checked == 8  # every job of the six workflows that reaches AWS


def test_a_rollback_is_a_production_deploy_of_an_earlier_release_tag():
    document = _load("rollback-production.yml")
    assert set(document["on"]) == {"workflow_dispatch"}
    check, deploy = document["jobs"]["check"], document["jobs"]["deploy"]
    # The same workflow, so the same gate, policy pack and reviewers.
    assert deploy["uses"] == "./.github/workflows/deploy-production.yml"
    assert deploy["needs"] == "check"
    assert deploy["with"]["ref"] == "${{ inputs.tag }}"
    called = _load("deploy-production.yml")
    assert called["on"]["workflow_call"]["inputs"]["ref"]["required"] is True
    for job in called["jobs"].values():
        checkout = next(s for s in job["steps"] if "actions/checkout@" in s.get("uses", ""))
        assert checkout["with"]["ref"] == "${{ inputs.ref || github.ref }}"
    # Only a release of main, checked before anything reaches AWS; the tag
    # reaches the script through the environment, never pasted into it.
    script = _steps(check)
    assert 'git merge-base --is-ancestor "refs/tags/$TAG" origin/main' in script
    assert "inputs.tag" not in script
    assert check["permissions"] == {"contents": "read"}
    # It says what it cannot undo.
    for limit in ("rows and schema changes", "comes back empty", "secrets rotated"):
        assert limit in script


def _step_index(job: dict[str, Any], text: str) -> int:
    return next(
        i
        for i, step in enumerate(job["steps"])
        if text in str(step.get("run", "")) or text in str(step.get("with", {}).get("command", ""))
    )


@pytest.mark.parametrize(
    ("name", "stack", "deploy_step"),
    [
        ("deploy-staging.yml", "staging", "up"),
        ("deploy-production.yml", "production", "pulumi up --stack production"),
    ],
)
def test_every_deploy_runs_the_smoke_test_after_pulumi_up_and_fails_on_it(name, stack, deploy_step):
    job = _load(name)["jobs"]["deploy"]
    smoke = _step_index(job, f".venv/bin/stagecraft smoke-test --stack {stack}")
    assert smoke > _step_index(job, deploy_step)
    step = job["steps"][smoke]
    # Its exit status is the step's (bash -e): a failed check or a run that
    # does not finish fails the deploy; nothing swallows it.
    script = step["run"]
    assert "|| true" not in script
    assert "continue-on-error" not in step
    assert script.strip().endswith(f".venv/bin/stagecraft smoke-test --stack {stack}")
    assert step["timeout-minutes"] * 60 > 1800 + 120  # the longest deadline, and the margin
    # No expression pasted into the script: the run's id reaches the Job's
    # name through GitHub's own GITHUB_RUN_ID.
    assert "${{" not in script


def test_a_rollback_runs_the_smoke_test_of_the_deploy_it_calls():
    # rollback-production.yml calls deploy-production.yml, whose deploy job has
    # the step; a release older than the smoke test only warns.
    job = _load("deploy-production.yml")["jobs"]["deploy"]
    script = job["steps"][-1]["run"]
    assert "smoke-test --help" in script
    assert "::warning::" in script
