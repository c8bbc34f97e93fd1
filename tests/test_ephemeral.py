# ruff: noqa: E501  (plan paths and expected commands read better on one line)
"""pr-<n> and dev-<name> environments on the shared clusters, and `stagecraft env`."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ConfigError, parse_ephemeral_config
from policy.harness import CONFIG_DIR, audit, evaluate_rule, load_policy_config
from policy.rules import RULES_BY_NAME
from stagecraft.cli.main import main
from stagecraft.cost import estimate
from stagecraft.envs import create
from stagecraft.offline.engine import Plan, evaluate
from stagecraft.offline.stackfiles import load_project, scratch_copy
from tests.conftest import REPO, edit_stack

OWN_INFRA = ("aws:eks/cluster:Cluster", "aws:ec2/vpc:Vpc", "aws:rds/instance:Instance")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project's stack files, with environments created by `env create`."""
    root = scratch_copy(load_project(REPO), tmp_path_factory.mktemp("workspace")).directory
    assert main(["--project-dir", str(root), "env", "create", "pr-123"]) == 0
    assert main(["--project-dir", str(root), "env", "create", "dev-alice", "--ttl", "30d"]) == 0
    assert main(["--project-dir", str(root), "env", "create", "pr-7", "--own-database"]) == 0
    return root


@pytest.fixture(scope="module")
def small_plans(workspace: Path) -> dict[str, Plan]:
    ephemeral = workspace / "ephemeral"
    return {s: evaluate(s, project_dir=ephemeral) for s in ("pr-123", "dev-alice", "pr-7")}


def test_env_create_writes_a_valid_stack_file_and_says_how_to_deploy(workspace, capsys):
    path = workspace / "ephemeral" / "Pulumi.pr-123.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    assert config["stagecraft:sharedStack"] == "organization/stagecraft/staging"
    assert config["stagecraft:ttl"] == "7d"
    assert config["stagecraft:namespace"] == "pr-123"
    assert main(["--project-dir", str(workspace), "env", "create", "pr-124"]) == 0
    out = capsys.readouterr().out
    assert "pulumi up --stack pr-124 --cwd ephemeral" in out
    (workspace / "ephemeral" / "Pulumi.pr-124.yaml").unlink()


@pytest.mark.parametrize("stack", ["pr-123", "dev-alice"])
def test_shared_mode_owns_no_cluster_vpc_or_database_server(small_plans, stack):
    plan = small_plans[stack]
    for type_token in OWN_INFRA:
        assert plan.of_type(type_token) == [], type_token
    assert set(plan.type_counts()) == {
        "pulumi:pulumi:StackReference",
        "pulumi:providers:aws",
        "pulumi:providers:kubernetes",
        "random:index/randomPassword:RandomPassword",
        "aws:secretsmanager/secret:Secret",
        "aws:secretsmanager/secretVersion:SecretVersion",
        # No IAM role: the database Jobs use the one the shared stack owns.
        "aws:elasticache/user:User",
        "aws:elasticache/userGroupAssociation:UserGroupAssociation",
        "kubernetes:core/v1:Namespace",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:core/v1:ResourceQuota",
        "kubernetes:core/v1:LimitRange",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:batch/v1:Job",
        "kubernetes:batch/v1:CronJob",
        "stagecraft:index:SharedEnvironment",
        "stagecraft:index:Workloads",
        "stagecraft:index:DatabaseJobs",
    }


def test_own_database_option_adds_only_a_small_instance(small_plans):
    plan = small_plans["pr-7"]
    (instance,) = plan.of_type("aws:rds/instance:Instance")
    assert instance.inputs["instanceClass"] == "db.t4g.micro"
    assert instance.inputs["identifier"] == "stagecraft-pr-7"
    assert plan.of_type("aws:eks/cluster:Cluster") == []
    assert plan.of_type("aws:ec2/vpc:Vpc") == []
    job = plan.one("kubernetes:batch/v1:Job")
    env = {
        e["name"]: e.get("value")
        for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PGHOST"].startswith("stagecraft-pr-7.")  # its own instance, not staging's


@pytest.mark.parametrize(("stack", "parent"), [("pr-123", "staging"), ("dev-alice", "dev")])
def test_stack_reference_points_at_the_allowed_parent(small_plans, stack, parent):
    reference = small_plans[stack].one("pulumi:pulumi:StackReference")
    assert reference.inputs["name"] == f"organization/stagecraft/{parent}"
    job = small_plans[stack].one("kubernetes:batch/v1:Job")
    env = {
        e["name"]: e.get("value")
        for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["PGHOST"].startswith(f"stagecraft-{parent}.")  # the shared instance


def _job_env(plan: Plan) -> dict[str, str]:
    job = plan.one("kubernetes:batch/v1:Job")
    return {
        e["name"]: e.get("value")
        for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    }


def test_each_stack_gets_its_own_database_role_and_secrets(small_plans):
    pr, dev = _job_env(small_plans["pr-123"]), _job_env(small_plans["dev-alice"])
    assert (pr["DBNAME"], pr["ROLE"]) == ("pr-123", "pr-123")
    assert (dev["DBNAME"], dev["ROLE"]) == ("dev-alice", "dev-alice")
    for stack, plan in small_plans.items():
        names = {s.inputs["name"] for s in plan.of_type("aws:secretsmanager/secret:Secret")}
        own_server = {f"stagecraft-{stack}/database-master"} if stack == "pr-7" else set()
        assert names == {
            f"stagecraft-{stack}/database-credentials",
            f"stagecraft-{stack}/jwt-secret",
            f"stagecraft-{stack}/redis-password",
            *own_server,
        }
        assert plan.outputs["redisKeyPrefix"] == f"{stack}:"
        assert plan.of_type("aws:iam/role:Role") == []
        # The jobs' ServiceAccount lives apart from the application, in the
        # namespace only it may assume the shared stack's jobs role from: no
        # pod of the app's namespace can read the instance's master secret.
        accounts = plan.of_type("kubernetes:core/v1:ServiceAccount")
        assert [a.inputs["metadata"]["namespace"] for a in accounts] == [f"{stack}-dbadmin"]
        job = plan.one("kubernetes:batch/v1:Job")
        assert job.inputs["metadata"]["namespace"] == f"{stack}-dbadmin"


def test_namespace_isolation_denies_other_namespaces(small_plans):
    plan = small_plans["pr-123"]
    policies = {
        p.inputs["metadata"]["name"]: p.inputs["spec"]
        for p in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    assert policies["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    sources = [peer for rule in policies["allow-app-traffic"]["ingress"] for peer in rule["from"]]
    assert sources == [
        {"podSelector": {}},  # its own namespace
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
    ]
    namespaces = sorted(
        n.inputs["metadata"]["name"] for n in plan.of_type("kubernetes:core/v1:Namespace")
    )
    assert namespaces == ["pr-123", "pr-123-dbadmin"]


def test_ttl_is_a_tag_and_an_output(small_plans, workspace):
    plan = small_plans["dev-alice"]
    tags = json.loads(plan.one("pulumi:providers:aws").inputs["defaultTags"])["tags"]
    created = yaml.safe_load((workspace / "ephemeral" / "Pulumi.dev-alice.yaml").read_text())[
        "config"
    ]["stagecraft:createdAt"]
    expected = (
        datetime.fromisoformat(created.replace("Z", "+00:00")) + timedelta(days=30)
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tags["ttl"] == "30d"
    assert tags["expires-at"] == expected
    assert plan.outputs["ttl"] == "30d"
    assert plan.outputs["expiresAt"] == expected


def test_teardown_template_and_setup_job_run_the_shipped_sql(small_plans):
    plan = small_plans["pr-123"]
    drop = plan.one("kubernetes:batch/v1:CronJob")
    assert drop.inputs["metadata"]["name"] == "database-drop"
    assert drop.inputs["spec"]["suspend"] is True
    command = drop.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
        "command"
    ]
    assert command == ["sh", "/sql/run.sh", "drop"]
    sql = next(
        c
        for c in plan.of_type("kubernetes:core/v1:ConfigMap")
        if c.inputs["metadata"]["name"] == "database-sql"
    )
    assert set(sql.inputs["data"]) == {
        "create.sql", "reset.sql", "drop.sql", "seed.sql", "restore.sql", "export_role.sql",
        "access_roles.sql",
        "run.sh",
    }  # fmt: skip


def test_sandbox_resets_its_database_every_working_morning(project):
    plan = evaluate("sandbox", project_dir=REPO)
    (reset,) = [
        c for c in plan.of_type("kubernetes:batch/v1:CronJob")
        if c.inputs["metadata"]["name"] == "database-reset"
    ]  # fmt: skip
    # After the off-hours schedule has started the database (06:00 UTC).
    assert reset.inputs["spec"]["schedule"] == "30 6 * * 1-5"
    container = reset.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "/sql/run.sh", "reset"]
    assert len(plan.of_type("aws:eks/cluster:Cluster")) == 1  # a full environment


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("feature-x", "'feature-x' must be dev, sandbox, staging or production"),
        ("pr-0", "'pr-0' must be dev, sandbox, staging or production"),
        ("dev-Alice", "'dev-Alice' must be"),
        # The dev environment's own Redis user is stagecraft-dev-app.
        ("dev-app", "not dev-app or dev-default, the dev environment's own Redis user ids"),
        # dev-alice's database Jobs run in the namespace dev-alice-dbadmin.
        ("dev-alice-dbadmin", "nor a name ending in -dbadmin"),
        ("staging", "'staging' is a full environment"),
    ],
)
def test_bad_names_are_refused_with_the_rule(workspace, capsys, name, message):
    assert main(["--project-dir", str(workspace), "env", "create", name]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "pr-<1..999999>" in err or "full environment" in err
    assert not (workspace / "ephemeral" / f"Pulumi.{name}.yaml").exists()


def test_a_pr_stack_can_never_share_production(workspace):
    project = load_project(workspace / "ephemeral")
    values = dict(project.config_map("pr-123").values)
    values["stagecraft:sharedStack"] = "organization/stagecraft/production"
    with pytest.raises(ConfigError) as caught:
        parse_ephemeral_config(values, project="stagecraft", stack="pr-123")
    assert [str(p) for p in caught.value.problems] == [
        'stagecraft:sharedStack = "organization/stagecraft/production": a pr-* stack may only '
        "share 'staging' of project 'stagecraft' (<organization>/stagecraft/staging); it can "
        "never use another environment's resources"
    ]


def test_the_isolation_policy_refuses_a_reference_to_production(small_plans):
    import dataclasses

    plan = small_plans["pr-123"]
    config = load_policy_config(CONFIG_DIR / "preview.json")
    rule = RULES_BY_NAME["environment-isolation"]
    assert evaluate_rule(rule, plan, config).status == "pass"
    resources = [
        dataclasses.replace(r, inputs={"name": "organization/stagecraft/production"})
        if r.type == "pulumi:pulumi:StackReference"
        else r
        for r in plan.resources
    ]
    verdict = evaluate_rule(rule, dataclasses.replace(plan, resources=resources), config)
    assert verdict.status == "fail"
    assert verdict.enforcement == "mandatory"
    assert "references stack 'organization/stagecraft/production'" in verdict.violations[0].message
    assert audit(plan, config).passed


def test_marginal_cost_is_secrets_and_a_storage_share(small_plans):
    cost = estimate(small_plans["pr-123"], budget=50, shared_database_gb=1)
    assert cost.total == pytest.approx(3 * 0.40 + 1 * 0.115)
    assert cost.unpriced == []


def test_env_list_and_gc_with_past_and_future_ttls(workspace, capsys):
    old = datetime.now(UTC) - timedelta(days=10)
    root = load_project(workspace)
    create(root, "pr-900", now=old)
    create(root, "pr-901")
    try:
        assert main(["--project-dir", str(workspace), "env", "list"]) == 0
        listing = capsys.readouterr().out
        rows = {line.split()[1]: line for line in listing.splitlines() if "pr-90" in line}
        assert "EXPIRED" in rows["pr-900"]
        assert "EXPIRED" not in rows["pr-901"]
        assert "10d0h" in rows["pr-900"]

        assert main(["--project-dir", str(workspace), "env", "gc", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "pr-900: expired" in out
        assert "pr-901" not in out
        drop = out.index(
            "kubectl --kubeconfig .stagecraft-kubeconfig-staging -n pr-900-dbadmin create job database-drop-gc --from=cronjob/database-drop"
        )
        destroy = out.index("pulumi destroy --stack pr-900 --yes --skip-preview --cwd ephemeral")
        remove = out.index("pulumi stack rm pr-900 --yes --cwd ephemeral")
        assert drop < destroy < remove  # the database goes first: only the cluster reaches it
    finally:
        for stack in ("pr-900", "pr-901"):
            (workspace / "ephemeral" / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)


def test_plan_of_a_new_pr_from_the_cli(workspace, capsys):
    assert main(["--project-dir", str(workspace), "plan", "--stack", "pr-123"]) == 0
    out = capsys.readouterr().out
    assert "namespace  kubernetes:core/v1:Namespace  pr-123" in out
    assert "aws:eks/cluster:Cluster" not in out
    assert "pulumi:pulumi:StackReference" in out


def test_rewriting_a_stack_file_keeps_its_choices_and_a_failed_rewrite_keeps_the_file(workspace):
    root = load_project(workspace)
    path = create(root, "pr-300", own_database=True, ttl="3d")
    try:
        create(root, "pr-300")  # as CI does on every push: no flags
        config = yaml.safe_load(path.read_text())["config"]
        assert config["stagecraft:ownDatabase"] is True
        assert config["stagecraft:ttl"] == "3d"
        before = path.read_text()
        with pytest.raises(Exception, match="ttl"):
            create(root, "pr-300", ttl="900d")
        assert path.read_text() == before
    finally:
        path.unlink(missing_ok=True)


def test_isolation_catches_another_small_stack_and_strings_in_lists(small_plans):
    import dataclasses

    plan = small_plans["pr-123"]
    config = load_policy_config(CONFIG_DIR / "preview.json")
    rule = RULES_BY_NAME["environment-isolation"]
    resources = [
        dataclasses.replace(
            r, inputs={**r.inputs, "tags": {"peers": ["stagecraft-pr-124-database"]}}
        )
        if r.type == "aws:secretsmanager/secret:Secret"
        else r
        for r in plan.resources
    ]
    verdict = evaluate_rule(rule, dataclasses.replace(plan, resources=resources), config)
    assert verdict.status == "fail"
    assert "refers to environment 'pr-124'" in verdict.violations[0].message


FAKE_TOOL = """#!/bin/sh
# A stand-in for {tool}: records its arguments and answers like the real one.
echo "{tool} $*" >> "$FAKE_LOG"
case "$*" in
  "stack ls --json --cwd ephemeral") echo '{stacks}' ;;
  "stack output expiresAt --stack pr-800 --cwd ephemeral") echo "2026-01-01T00:00:00Z" ;;
  "stack output expiresAt --stack pr-801 --cwd ephemeral") echo "2999-01-01T00:00:00Z" ;;
  "stack output expiresAt --stack pr-802 --cwd ephemeral") exit 255 ;;
  *"get cronjob/database-drop"*) case "$*" in *pr-802*) exit 1 ;; esac ;;
esac
exit 0
"""


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    """pulumi, kubectl and aws on PATH as recorders, so --execute can run here."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    stacks = json.dumps(
        [
            {"name": "organization/stagecraft/staging"},
            {"name": "organization/stagecraft/pr-800"},
            {"name": "organization/stagecraft/pr-801"},
            # never deployed successfully: no outputs, last update long ago
            {"name": "organization/stagecraft/pr-802", "lastUpdate": "2026-01-01T00:00:00Z"},
        ]
    )
    for tool in ("pulumi", "kubectl", "aws"):
        path = bin_dir / tool
        path.write_text(FAKE_TOOL.format(tool=tool, stacks=stacks))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)  # Pulumi Cloud: through the CLI
    return log


def test_gc_from_backend_executes_the_teardown_in_order(workspace, fake_tools, capsys):
    code = main(["--project-dir", str(workspace), "env", "gc", "--from-backend", "--execute"])
    assert code == 0
    out = capsys.readouterr().out
    assert "pr-800: removed" in out
    assert "pr-802: removed" in out  # no outputs: the default TTL from its last update
    assert "pr-801" not in out  # not expired yet
    calls = fake_tools.read_text().splitlines()
    pr800 = [c for c in calls if "pr-800" in c and "stack output" not in c]
    assert [c.split()[0] for c in pr800][:1] == ["kubectl"]
    assert any("create job database-drop-gc --from=cronjob/database-drop" in c for c in pr800)
    assert pr800.index(
        next(c for c in pr800 if "wait --for=condition=complete" in c)
    ) < pr800.index(next(c for c in pr800 if c.startswith("pulumi destroy")))
    assert any(c.startswith("pulumi stack rm pr-800") for c in pr800)
    # pr-802 never got its cluster objects: the drop is skipped, destroy still runs.
    pr802 = [c for c in calls if "pr-802" in c]
    assert not any("create job" in c for c in pr802)
    assert any(c.startswith("pulumi destroy --stack pr-802") for c in pr802)
    for stack in ("pr-800", "pr-802"):
        assert not (workspace / "ephemeral" / f"Pulumi.{stack}.yaml").exists()


def _checkpoint(stack: str, *, updated: str | None, expires: str | None) -> bytes:
    """A checkpoint as `pulumi up` leaves it in a DIY backend (trimmed to what matters)."""
    resources = []
    if expires is not None:
        resources.append(
            {
                "urn": f"urn:pulumi:{stack}::stagecraft::pulumi:pulumi:Stack::stagecraft-{stack}",
                "type": "pulumi:pulumi:Stack",
                "outputs": {"expiresAt": expires, "namespace": stack},
            }
        )
    latest = {"manifest": {"time": updated}, "resources": resources} if updated else None
    return json.dumps({"version": 3, "checkpoint": {"stack": stack, "latest": latest}}).encode()


def test_gc_reads_an_s3_backend_opening_only_the_stacks_it_removes(
    workspace, aws_on_moto, monkeypatch, capsys
):
    import gzip

    import botocore.session

    s3: Any = botocore.session.get_session().create_client("s3", region_name="eu-west-1")
    s3.create_bucket(
        Bucket="stagecraft-state",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    stacks = ".pulumi/stacks/stagecraft/"
    objects = {
        # CI's role may not read these: opening one would fail the run.
        f"{stacks}staging.json": b"AccessDenied for this role",
        f"{stacks}production.json": b"AccessDenied for this role",
        f"{stacks}pr-800.json": _checkpoint(
            "pr-800", updated="2026-11-01T10:00:00.123456789+01:00", expires="2026-11-08T09:00:00Z"
        ),
        f"{stacks}pr-800.json.bak": b"a backup the CLI keeps",
        f"{stacks}pr-801.json.gz": gzip.compress(
            _checkpoint("pr-801", updated="2026-11-30T10:00:00Z", expires="2999-01-01T00:00:00Z")
        ),
        # First `up` failed: no outputs; the default TTL counts from the update.
        f"{stacks}pr-802.json": _checkpoint("pr-802", updated="2026-01-01T00:00:00Z", expires=None),
        # Created, never updated: its object is new, so it is kept for now.
        f"{stacks}pr-803.json": _checkpoint("pr-803", updated=None, expires=None),
        f"{stacks}dev-alice.json": _checkpoint(
            "dev-alice", updated="2026-10-01T00:00:00Z", expires="2026-10-31T00:00:00Z"
        ),
        ".pulumi/stacks/another-project/pr-900.json": _checkpoint(
            "pr-900", updated="2026-01-01T00:00:00Z", expires="2026-01-02T00:00:00Z"
        ),
    }
    for key, body in objects.items():
        s3.put_object(Bucket="stagecraft-state", Key=key, Body=body)
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://stagecraft-state?region=eu-west-1&awssdk=v2")
    monkeypatch.setenv("PATH", "/nonexistent")  # no Pulumi CLI needed to find them

    code = main(
        ["--project-dir", str(workspace), "env", "gc", "--from-backend", "--kind", "preview"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    listed = [line.split(":")[0] for line in out.splitlines() if "expired" in line]
    assert listed == ["pr-800", "pr-802"]
    assert "pulumi destroy --stack pr-800" in out.replace("'", "")


def test_gc_names_the_bucket_it_cannot_read(workspace, aws_on_moto, monkeypatch, capsys):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://no-such-state-bucket?region=eu-west-1")
    code = main(["--project-dir", str(workspace), "env", "gc", "--from-backend"])
    err = capsys.readouterr().err
    assert code != 0
    assert "s3://no-such-state-bucket/.pulumi/stacks/stagecraft/: NoSuchBucket" in err
    assert "Traceback" not in err


def test_a_preview_logs_in_to_redis_as_itself_confined_to_its_prefix(small_plans):
    plan = small_plans["pr-123"]
    user = plan.one("aws:elasticache/user:User").inputs
    assert user["userName"] == "pr-123"
    assert user["accessString"] == "on ~pr-123:* &pr-123:* +@all -@dangerous"
    assert user["authenticationMode"] == {"type": "password", "passwords": ["[secret]"]}
    membership = plan.one("aws:elasticache/userGroupAssociation:UserGroupAssociation").inputs
    assert membership["userGroupId"] == "stagecraft-staging"  # the shared cache's group
    # No credential of the shared stack reaches the preview.
    for resource in plan.resources:
        assert "getSecretVersion" not in json.dumps(resource.inputs)
    assert not [r for r in plan.resources if "redis-auth" in r.name]


def test_developers_may_edit_a_preview_but_never_its_database_admin_namespace(small_plans):
    plan = small_plans["pr-123"]
    (binding,) = plan.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert binding.inputs["metadata"]["namespace"] == "pr-123"
    assert binding.inputs["roleRef"]["name"] == "edit"


def test_a_local_backend_is_read_the_same_way(tmp_path):
    from stagecraft import backend_state

    folder = tmp_path / ".pulumi" / "stacks" / "stagecraft"
    folder.mkdir(parents=True)
    (folder / "pr-5.json").write_bytes(
        _checkpoint("pr-5", updated="2026-11-01T00:00:00Z", expires="2026-11-08T00:00:00Z")
    )
    (folder / "staging.json").write_text("never opened")
    (folder / "pr-6.json").write_text("{not json")

    found = backend_state.stacks(f"file://{tmp_path}", "stagecraft", lambda n: n == "pr-5")
    assert [(s.name, s.outputs["expiresAt"]) for s in found] == [("pr-5", "2026-11-08T00:00:00Z")]
    with pytest.raises(backend_state.BackendError, match="stack 'pr-6': the checkpoint is not"):
        backend_state.stacks(f"file://{tmp_path}", "stagecraft", lambda n: n.startswith("pr-"))


def test_a_preview_may_start_from_stagings_anonymised_copy(workspace):
    ephemeral = workspace / "ephemeral"
    edit_stack(ephemeral, "pr-123", **{"stagecraft:initialData": "anonymised"})
    try:
        plan = evaluate("pr-123", project_dir=ephemeral)
    finally:
        edit_stack(ephemeral, "pr-123", **{"stagecraft:initialData": "seed"})
    (setup,) = [j for j in plan.of_type("kubernetes:batch/v1:Job") if j.name.endswith("-setup")]
    (psql_step,) = setup.inputs["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in psql_step["env"]}
    assert env["SEED_FROM_DATABASE"] == "anonymised_snapshot"


def test_a_developer_environment_has_no_anonymised_copy_to_start_from(workspace):
    ephemeral = workspace / "ephemeral"
    edit_stack(ephemeral, "dev-alice", **{"stagecraft:initialData": "anonymised"})
    try:
        with pytest.raises(ConfigError) as caught:
            evaluate("dev-alice", project_dir=ephemeral)
    finally:
        edit_stack(ephemeral, "dev-alice", **{"stagecraft:initialData": "seed"})
    assert [str(p) for p in caught.value.problems] == [
        'stagecraft:initialData = "anonymised": organization/stagecraft/dev keeps no anonymised '
        "copy of production (only a stack with dataImport keeps one: staging, for pr-<n>); use "
        "initialData: seed"
    ]
    # An error raised inside an apply leaves nothing behind: the next plan in
    # this process (stagecraft report plans every stack in one) still works.
    assert evaluate("dev-alice", project_dir=ephemeral).stack == "dev-alice"


def test_an_own_database_cannot_start_from_the_shared_copy(workspace):
    project = load_project(workspace / "ephemeral")
    values = dict(project.config_map("pr-7").values)
    values["stagecraft:initialData"] = "anonymised"
    with pytest.raises(ConfigError) as caught:
        parse_ephemeral_config(values, project="stagecraft", stack="pr-7")
    assert [str(p) for p in caught.value.problems] == [
        'stagecraft:initialData = "anonymised": is copied inside the shared database server, '
        "and ownDatabase gives this environment a server of its own; use initialData: seed "
        "there, or drop ownDatabase"
    ]


def test_env_create_writes_the_initial_data_and_refuses_it_where_there_is_none(workspace, capsys):
    root = str(workspace)
    assert (
        main(["--project-dir", root, "env", "create", "pr-88", "--initial-data", "anonymised"]) == 0
    )
    path = workspace / "ephemeral" / "Pulumi.pr-88.yaml"
    assert yaml.safe_load(path.read_text())["config"]["stagecraft:initialData"] == "anonymised"
    # A re-run on the next push keeps it.
    assert main(["--project-dir", root, "env", "create", "pr-88"]) == 0
    assert yaml.safe_load(path.read_text())["config"]["stagecraft:initialData"] == "anonymised"
    path.unlink()
    capsys.readouterr()
    assert (
        main(["--project-dir", root, "env", "create", "dev-bob", "--initial-data", "anonymised"])
        == 2
    )
    err = capsys.readouterr().err
    assert "the shared stack 'dev' keeps no anonymised copy of production" in err
    assert not (workspace / "ephemeral" / "Pulumi.dev-bob.yaml").exists()
