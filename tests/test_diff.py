"""`stagecraft diff`: a stack against a git revision, or two stacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from stagecraft.cli.main import main
from stagecraft.cost import estimate
from stagecraft.diff import GITHUB_COMMENT_LIMIT, compare_plans, render_markdown, render_text
from stagecraft.offline.engine import evaluate
from tests.conftest import REPO

DB = "aws:rds/instance:Instance"


def _compare(before, after, **costs):
    return compare_plans(
        before, after, title="t", before_label="before", after_label="after", **costs
    )


def test_a_plan_compared_with_itself_has_no_changes(staging):
    assert _compare(staging, staging).changes == []


def test_instance_class_change_with_its_cost_delta(staging):
    bigger = evaluate(
        "staging", project_dir=REPO, config_overrides={"stagecraft:dbInstanceClass": "db.t3.large"}
    )
    diff = _compare(
        staging,
        bigger,
        cost_before=estimate(staging, budget=500),
        cost_after=estimate(bigger, budget=500),
    )
    (change,) = [c for c in diff.changes if c.type == DB]
    assert change.action == "update"
    assert [(p.path, p.before, p.after) for p in change.properties] == [
        ("instanceClass", "db.t3.medium", "db.t3.large")
    ]
    assert change.cost_delta == pytest.approx((0.145 - 0.072) * 730)
    # The alarms whose thresholds follow the class's memory move with it (8 GiB now).
    alarms = {c.name.rsplit("-alerting-", 1)[1]: c for c in diff.changes if c.type != DB}
    assert set(alarms) == {"database-connections", "database-freeable-memory"}
    assert ("threshold", 360, 720) in [
        (p.path, p.before, p.after) for p in alarms["database-connections"].properties
    ]
    assert all(c.action == "update" and not c.cost_delta for c in alarms.values())
    assert 'instanceClass: "db.t3.medium" -> "db.t3.large"  ' not in render_text([diff])
    assert '      instanceClass: "db.t3.medium" -> "db.t3.large"' in render_text([diff])


def test_a_changed_secret_is_reported_but_never_shown(staging):
    renamed = evaluate(
        "staging", project_dir=REPO, config_overrides={"stagecraft:dbName": "orders"}
    )
    diff = _compare(staging, renamed)
    secret_changes = [(c.name, p.path) for c in diff.changes for p in c.properties if p.secret]
    assert ("stagecraft-staging-connection-info-value", "secretString") in secret_changes
    assert ("stagecraft-staging-workloads-connection", "stringData") in secret_changes
    text = render_text([diff]) + render_markdown([diff])
    assert "(secret changed)" in text
    assert "orders" in text  # the plain dbName change itself is shown
    for change in diff.changes:
        for p in change.properties:
            if p.secret:
                assert (p.before, p.after) == ("[secret]", "[secret]")


def test_staging_against_production_shows_real_differences(staging, production):
    diff = compare_plans(
        staging,
        production,
        title="staging -> production",
        before_label="staging",
        after_label="production",
    )
    by_name = {(c.type, c.name): c for c in diff.changes}
    nodes = by_name["aws:eks/nodeGroup:NodeGroup", "stagecraft-production-cluster-nodes"]
    assert ("scalingConfig.maxSize", 5, 9) in [
        (p.path, p.before, p.after) for p in nodes.properties
    ]
    added = {c.name for c in diff.changes if c.action == "create"}
    assert {
        "stagecraft-production-network-nat-az2",
        "stagecraft-production-network-nat-az3",
    } <= added
    assert "stagecraft-production-database-replica-1" in added
    database = by_name[DB, "stagecraft-production-database"]
    paths = {p.path for p in database.properties}
    assert {"multiAz", "instanceClass", "backupRetentionPeriod"} <= paths
    # Names differ only by the stack: not reported as differences.
    assert "identifier" not in paths


def test_markdown_keeps_the_summary_and_trims_details_to_the_limit(staging, production):
    diff = compare_plans(
        staging,
        production,
        title="staging -> production",
        before_label="staging",
        after_label="production",
        cost_before=estimate(staging, budget=500),
        cost_after=estimate(production, budget=1800),
    )
    full = render_markdown([diff])
    assert len(full) < GITHUB_COMMENT_LIMIT
    small = render_markdown([diff], limit=3000)
    assert len(small) <= 3000
    assert small.startswith("### stagecraft: infrastructure diff")
    assert "| staging -> production | 111 | " in small
    assert "$375.17 → $1,390.56 (**+$1,015.39**)" in small
    assert "omitted to stay under GitHub's 65,536-character comment limit" in small
    assert full.count("<details>") > small.count("<details>") > 0


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A throwaway clone of the project's committed files with its own history."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    for name in ("Pulumi.staging.yaml", "Pulumi.production.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((REPO / name).read_text())
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    stack_file = tmp_path / "Pulumi.staging.yaml"
    stack_file.write_text(
        stack_file.read_text().replace(
            "dbInstanceClass: db.t3.medium", "dbInstanceClass: db.t3.large"
        )
    )
    subprocess.run([*git, "commit", "-qam", "scratch: bigger staging database"], check=True)
    return tmp_path


def test_diff_against_a_git_revision(git_repo, capsys):
    before = subprocess.run(
        ["git", "-C", str(git_repo), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    code = main(
        [
            "--project-dir",
            str(git_repo),
            "diff",
            "--stack",
            "staging",
            "--base",
            "HEAD~1",
            "--format",
            "markdown",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert '| `instanceClass` | `"db.t3.medium"` | `"db.t3.large"` |' in out
    assert "| 0 | 3 | 0 | 0 | $375.17 → $428.46 (**+$53.29**) |" in out
    assert (
        "~ update <code>aws:rds/instance:Instance</code> stagecraft-staging-database (+$53.29/mo)"
        in out
    )
    after = subprocess.run(
        ["git", "-C", str(git_repo), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert before == after == ""  # the working tree was never touched

    assert (
        main(
            [
                "--project-dir",
                str(git_repo),
                "diff",
                "--stack",
                "staging",
                "--base",
                "HEAD~1",
                "--format",
                "json",
                "--exit-code",
            ]
        )
        == 1
    )
    document = json.loads(capsys.readouterr().out)
    (stack,) = document["stacks"]
    assert stack["summary"]["update"] == 3  # the database and its two class-bound alarms
    assert stack["summary"]["monthlyDelta"] == pytest.approx(53.29)


def test_unknown_revision_is_a_clear_error(git_repo, capsys):
    code = main(["--project-dir", str(git_repo), "diff", "--stack", "staging", "--base", "nope"])
    assert code == 2
    assert "'nope' is not a commit" in capsys.readouterr().err


def test_a_stack_new_in_this_change_is_all_additions(git_repo, capsys):
    sandbox = git_repo / "Pulumi.sandbox.yaml"
    text = (git_repo / "Pulumi.staging.yaml").read_text()
    sandbox.unlink(missing_ok=True)
    git = ["git", "-C", str(git_repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-qam", "no sandbox yet", "--allow-empty"], check=True)
    document = yaml.safe_load(
        text.replace("stagecraft:namespace: staging", "stagecraft:namespace: sandbox")
    )
    # Only staging hosts the pull requests' stacks.
    document["config"].pop("stagecraft:clusterSmallStackDeployerRoleArns")
    sandbox.write_text(yaml.safe_dump(document, sort_keys=False))
    assert (
        main(["--project-dir", str(git_repo), "diff", "--stack", "sandbox", "--base", "HEAD"]) == 0
    )
    out = capsys.readouterr().out
    assert "sandbox: HEAD" in out
    assert " to update, 0 to replace, 0 to delete" in out
    assert "+ create aws:rds/instance:Instance stagecraft-sandbox-database" in out


def test_against_another_stack_from_the_cli(capsys):
    args = ["--project-dir", str(REPO), "diff", "--stack", "staging", "--against", "production"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("staging -> production: 111 to create")
    assert 'nodeType: "cache.t4g.micro" -> "cache.m6g.large"' in out


def test_stack_names_in_keys_are_neutral_too(staging, production):
    diff = compare_plans(
        staging, production, title="t", before_label="staging", after_label="production"
    )
    paths = [p.path for c in diff.changes for p in c.properties]
    assert not [p for p in paths if "kubernetes.io/cluster/" in p]


def test_list_order_is_not_a_change_and_additions_show_as_lists(staging):
    from stagecraft.diff import flatten

    assert dict(flatten({"cidrs": ["b", "a"]})) == dict(flatten({"cidrs": ["a", "b"]}))
    one = evaluate(
        "staging",
        project_dir=REPO,
        config_overrides={"stagecraft:clusterPublicAccessCidrs": ["198.51.100.0/24"]},
    )
    wider = evaluate(
        "staging",
        project_dir=REPO,
        config_overrides={
            "stagecraft:clusterPublicAccessCidrs": ["203.0.113.0/24", "198.51.100.0/24"]
        },
    )
    (change,) = _compare(one, wider).changes
    assert [(p.path, p.before, p.after) for p in change.properties] == [
        (
            "vpcConfig.publicAccessCidrs",
            ["198.51.100.0/24"],
            ["198.51.100.0/24", "203.0.113.0/24"],
        )
    ]


def test_ignored_properties_are_not_changes(staging):
    scaled = evaluate(
        "staging", project_dir=REPO, config_overrides={"stagecraft:nodeDesiredSize": 3}
    )
    diff = _compare(
        staging,
        scaled,
        cost_before=estimate(staging, budget=500),
        cost_after=estimate(scaled, budget=500),
    )
    # `pulumi up` leaves the running size to the autoscaler (ignoreChanges).
    assert diff.changes == []


def test_one_huge_detail_block_does_not_push_out_the_others(staging):
    from stagecraft.diff import PropertyChange, ResourceChange, StackDiff

    huge = ResourceChange(
        "update",
        "k1",
        "urn:a",
        "t",
        "huge",
        [PropertyChange(f"p{i}", "x" * 100, "y" * 100) for i in range(400)],
    )
    small = ResourceChange("update", "k2", "urn:b", "t", "small", [PropertyChange("q", 1, 2)])
    diff = StackDiff("staging", "staging", "a", "b", [huge, small], None, None)
    text = render_markdown([diff], limit=5000)
    assert len(text) <= 5000
    assert "small" in text
    assert "Details of 1 more resource change(s) omitted" in text


def _set(git_repo: Path, stack: str, old: str, new: str) -> None:
    path = git_repo / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_an_unchanged_tree_shows_no_change_in_any_environment(git_repo, capsys):
    # Both sides fingerprint secrets under one key, so no secret "changes".
    code = main(["--project-dir", str(git_repo), "diff", "--base", "HEAD", "--format", "json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    # Every full environment, the sandbox too (the audit covers all four).
    assert [s["stack"] for s in document["stacks"]] == ["dev", "staging", "production", "sandbox"]
    for stack in document["stacks"]:
        assert stack["resources"] == [], stack["stack"]


def test_one_run_writes_the_comment_and_the_json_with_the_audit(git_repo, tmp_path, capsys):
    comment, artifact = tmp_path / "comment.md", tmp_path / "diff.json"
    code = main(
        [
            "--project-dir", str(git_repo), "diff", "--base", "HEAD~1", "--audit",
            "--write", f"markdown={comment}", "--write", f"json={artifact}",
        ]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == ""  # files asked for, nothing on stdout
    text = comment.read_text()
    assert "\n\n### stagecraft: policy audit\n" in text  # a heading, not text of </details>
    assert "config `policy/config/production.json`" in text  # repository-relative
    document = json.loads(artifact.read_text())
    assert [a["stack"] for a in document["audit"]] == ["dev", "staging", "production", "sandbox"]
    assert document["audit"][2]["policyConfig"] == "policy/config/production.json"


def test_json_reports_properties_that_appear_or_disappear(git_repo, capsys):
    _set(git_repo, "staging", "stagecraft:cacheNodeCount: 1", "stagecraft:cacheNodeCount: 2")
    code = main(
        ["--project-dir", str(git_repo), "diff", "--stack", "staging", "--base", "HEAD",
         "--format", "json"]
    )  # fmt: skip
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    cache = next(
        r for r in document["stacks"][0]["resources"]
        if r["type"] == "aws:elasticache/replicationGroup:ReplicationGroup"
    )  # fmt: skip
    zones = next(p for p in cache["properties"] if p["path"] == "preferredCacheClusterAzs")
    assert zones == {
        "path": "preferredCacheClusterAzs",
        "change": "added",
        "after": ["us-east-1a", "us-east-1b"],
    }


def test_changes_aws_refuses_on_a_running_environment_are_refused(git_repo, capsys):
    _set(git_repo, "staging", 'kubernetesVersion: "1.34"', 'kubernetesVersion: "1.33"')
    _set(git_repo, "staging", "availabilityZoneCount: 2", "availabilityZoneCount: 3")
    _set(git_repo, "staging", 'dbEngineVersion: "16"', 'dbEngineVersion: "17"')
    code = main(
        ["--project-dir", str(git_repo), "diff", "--stack", "staging", "--base", "HEAD",
         "--format", "markdown"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "**⛔ Refused: AWS would reject these changes to a running environment**" in out
    assert "- **staging** `stagecraft:kubernetesVersion` 1.34 → 1.33: EKS never downgrades" in out
    assert "`stagecraft:availabilityZoneCount` 2 → 3: a running EKS cluster keeps the zones" in out
    assert "`stagecraft:dbEngineVersion` 16 → 17: a major upgrade needs " in out


def test_a_major_database_upgrade_applied_at_once_is_a_sane_plan(git_repo, capsys):
    _set(git_repo, "production", 'dbEngineVersion: "16"', 'dbEngineVersion: "17"')
    _set(
        git_repo,
        "production",
        "stagecraft:dbMonitoringIntervalSeconds: 60",
        "stagecraft:dbMonitoringIntervalSeconds: 60\n  stagecraft:dbApplyImmediately: true",
    )
    code = main(
        ["--project-dir", str(git_repo), "diff", "--stack", "production", "--base", "HEAD",
         "--format", "json"]
    )  # fmt: skip
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    (stack,) = document["stacks"]
    assert stack["refused"] == []
    by_type = {(r["type"], r["name"]): r for r in stack["resources"]}
    name = "stagecraft-production-database"
    instance = by_type[("aws:rds/instance:Instance", name)]
    changed = {p["path"]: p for p in instance["properties"]}
    assert changed["engineVersion"]["after"] == "17"
    assert changed["applyImmediately"]["after"] is True
    # The instance and its replica are changed in place, never replaced.
    assert instance["action"] == "update"
    assert by_type[("aws:rds/instance:Instance", f"{name}-replica-1")]["action"] == "update"
    family = by_type[("aws:rds/parameterGroup:ParameterGroup", name)]
    assert {p["path"]: p.get("after") for p in family["properties"]}["family"] == "postgres17"
