"""The PR comment as GitHub shows it, and the JSON beside it, for the changes reviewers must see.

Each scenario is a scratch commit on a throwaway clone; the comment is
rendered with cmark-gfm (GitHub's own Markdown library), the way GitHub
renders a comment (raw HTML such as <details> allowed).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from stagecraft.cli.main import main
from stagecraft.offline.engine import evaluate
from stagecraft.replacements import load
from tests.conftest import REPO

SCENARIOS = {
    "vpc-range": ("staging", "stagecraft:vpcCidr: 10.20.0.0/16",
                  "stagecraft:vpcCidr: 10.21.0.0/16"),
    "database-name": ("staging", "stagecraft:dbMaxAllocatedStorageGb: 200",
                      "stagecraft:dbMaxAllocatedStorageGb: 200\n  stagecraft:dbName: orders"),
    "cache-replica": ("staging", "stagecraft:cacheNodeCount: 1", "stagecraft:cacheNodeCount: 2"),
    "node-ceiling": ("staging", "stagecraft:nodeMaxSize: 5", "stagecraft:nodeMaxSize: 6"),
    "bigger-nodes": ("staging", "stagecraft:nodeInstanceType: m5.large",
                     "stagecraft:nodeInstanceType: m5.2xlarge"),
    "nothing": ("staging", "stagecraft:owner: platform-team", "stagecraft:owner: platform-team"),
    "desired-size": ("staging", "stagecraft:nodeDesiredSize: 2", "stagecraft:nodeDesiredSize: 5"),
    # Route 53 health checks alarm from us-east-1 only: the move drops staging's.
    "other-region": ("staging", "aws:region: us-east-1\n",
                     "aws:region: us-west-2\n", "  stagecraft:healthCheckPath: /healthz\n"),
}  # fmt: skip


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed project, its stack files as in the working tree, in a repository of its own."""
    root = tmp_path_factory.mktemp("comment") / "clone"
    root.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return root


_COMMENTS: dict[tuple[Path, str], tuple[str, dict, int]] = {}


def _comment(clone: Path, scenario: str, tmp_path: Path) -> tuple[str, dict, int]:
    """The comment, the JSON and the exit code of one scenario, the JSON in tmp_path/diff.json.

    Each scenario is diffed once per module (two plans of a stack each), then reused.
    """
    key = (clone, scenario)
    if key not in _COMMENTS:
        stack, old, new, *dropped = SCENARIOS[scenario]
        path = clone / f"Pulumi.{stack}.yaml"
        original = path.read_text()
        assert old in original
        assert all(line in original for line in dropped)
        changed = original.replace(old, new)
        for line in dropped:
            changed = changed.replace(line, "")
        path.write_text(changed)
        markdown, artifact = clone.parent / f"{scenario}.md", clone.parent / f"{scenario}.json"
        try:
            code = main(
                ["--project-dir", str(clone), "diff", "--stack", stack, "--base", "HEAD",
                 "--write", f"markdown={markdown}", "--write", f"json={artifact}"]
            )  # fmt: skip
        finally:
            path.write_text(original)
        _COMMENTS[key] = (markdown.read_text(), json.loads(artifact.read_text()), code)
    markdown_text, document, code = _COMMENTS[key]
    (tmp_path / "diff.json").write_text(json.dumps(document))
    return markdown_text, document, code


def _html(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_markdown_and_json_both_describe_every_scenario(clone, tmp_path, scenario):
    markdown, document, _ = _comment(clone, scenario, tmp_path)
    html = _html(markdown)
    assert "<h3>stagecraft: infrastructure diff</h3>" in html
    (stack,) = document["stacks"]
    # The JSON and the comment count the same resources.
    for action in ("create", "update", "replace", "delete"):
        assert stack["summary"][action] == sum(
            1 for r in stack["resources"] if r["action"] == action
        )
    assert f"<strong>{stack['summary']['replace']}</strong>" in html or (
        stack["summary"]["replace"] == 0
    )


def test_a_new_vpc_range_replaces_the_vpc_and_what_is_in_it(clone, tmp_path):
    markdown, document, code = _comment(clone, "vpc-range", tmp_path)
    assert code == 1  # and refused: nothing running can move to the new VPC
    resources = {(r["type"], r["name"]): r for r in document["stacks"][0]["resources"]}
    vpc = resources[("aws:ec2/vpc:Vpc", "stagecraft-staging-network")]
    assert vpc["action"] == "replace"
    assert vpc["replaceReasons"] == ["cidrBlock"]
    subnets = [r for (kind, _), r in resources.items() if kind == "aws:ec2/subnet:Subnet"]
    assert len(subnets) == 4
    assert all(s["action"] == "replace" for s in subnets)
    assert all("cidrBlock" in s["replaceReasons"] for s in subnets)
    # What holds the VPC's id goes with it: a security group names its VPC.
    group = resources[("aws:ec2/securityGroup:SecurityGroup", "stagecraft-staging-database")]
    assert group["action"] == "replace"
    assert group["replaceReasons"] == ["vpcId (the new stagecraft-staging-network)"]
    html = _html(markdown)
    assert "<strong>⚠ Replaced: deleted and created again, with everything they hold</strong>" in (
        html
    )
    assert re.search(
        r"<li><strong>staging</strong> <code>aws:ec2/vpc:Vpc</code> stagecraft-staging-network: "
        r"replaced \(created first\); forced by: cidrBlock</li>",
        html,
    )
    assert (
        "<strong>⛔ Refused: AWS would reject these changes to a running environment</strong>"
        in (html)
    )


def test_a_new_database_name_says_the_database_is_replaced(clone, tmp_path):
    _, document, _ = _comment(clone, "database-name", tmp_path)
    database = next(
        r for r in document["stacks"][0]["resources"] if r["type"] == "aws:rds/instance:Instance"
    )
    assert database["action"] == "replace"
    assert database["replaceReasons"] == ["dbName"]
    forced = [p for p in database["properties"] if p.get("forcesReplacement")]
    assert [(p["path"], p["before"], p["after"]) for p in forced] == [("dbName", "app", "orders")]
    # Its identifier stays: two instances cannot hold it, so the old one goes first.
    assert database["deleteBeforeReplace"] is True
    replaced = {r["type"] for r in document["stacks"][0]["resources"] if r["action"] == "replace"}
    # Names that merely look alike (the cluster is also "stagecraft-staging")
    # are not references: only what takes the database's values goes with it.
    assert "aws:eks/cluster:Cluster" not in replaced
    assert "aws:elasticache/replicationGroup:ReplicationGroup" not in replaced
    # The database's values go to its secrets, the app's Secret, the data
    # import, the people's rds-db:connect grants (its DbiResourceId) and the
    # Job that makes its roles.
    assert len(document["stacks"][0]["resources"]) <= 10


def test_a_desired_size_the_autoscaler_owns_costs_nothing_in_the_diff(clone, tmp_path):
    # scalingConfig.desiredSize is ignored after creation: `pulumi up` leaves
    # the running node count alone, so neither the bill nor the budget moves.
    markdown, document, _ = _comment(clone, "desired-size", tmp_path)
    summary = document["stacks"][0]["summary"]
    assert summary["monthlyDelta"] == 0
    assert summary["budgetFindings"] == [
        {
            "kind": "max",
            "message": "over its budget if every node group reaches its max size: $680.89 > "
            "$500.00",
            "crossedByThisChange": False,
        }
    ]
    assert "No infrastructure changes." in markdown


def test_a_region_without_prices_leaves_the_budget_unknown(clone, tmp_path):
    markdown, document, _ = _comment(clone, "other-region", tmp_path)
    summary = document["stacks"][0]["summary"]
    (finding,) = summary["budgetFindings"]
    assert finding["kind"] == "unknown"
    assert "resources are unpriced" in finding["message"]
    html = _html(markdown)
    assert "within $500.00" not in html
    assert "not comparable: resources unpriced" in html
    assert "⚠ not known ($500.00;" in html


def test_the_gate_judges_the_offline_diff_as_it_would_a_preview(clone, tmp_path, capsys):
    # What the pull-request workflow does with the diff's JSON artifact.
    _comment(clone, "database-name", tmp_path)
    artifact = str(tmp_path / "diff.json")
    capsys.readouterr()
    assert main(["gate", artifact]) == 1
    out = capsys.readouterr().out
    assert "aws:rds/instance:Instance" in out
    assert "dbName" in out
    assert main(["gate", artifact, "--labels", "ready,stagecraft:allow-data-loss"]) == 0
    capsys.readouterr()
    # A VPC range is refused outright: no label lets it through.
    _comment(clone, "vpc-range", tmp_path)
    assert main(["gate", artifact, "--labels", "stagecraft:allow-data-loss"]) == 1
    assert "stagecraft:vpcCidr 10.20.0.0/16 -> 10.21.0.0/16" in capsys.readouterr().out
    # Another instance type replaces the node group (its `instanceTypes`
    # forces it): guarded, since every pod is rescheduled.
    _comment(clone, "bigger-nodes", tmp_path)
    assert main(["gate", artifact]) == 1
    assert "(replace reasons: instanceTypes)" in capsys.readouterr().out
    # A higher ceiling only updates the node group: nothing to gate.
    _comment(clone, "node-ceiling", tmp_path)
    assert main(["gate", artifact]) == 0


def test_raising_the_node_ceiling_shows_what_the_bill_can_reach(clone, tmp_path):
    markdown, document, _ = _comment(clone, "node-ceiling", tmp_path)
    (stack,) = document["stacks"]
    # Nothing runs more today: the desired size is the autoscaler's.
    assert stack["summary"]["monthlyDelta"] == 0
    one_node = 0.096 * 730 + 50 * 0.08  # an m5.large and its 50 GiB gp3 root volume
    assert stack["summary"]["monthlyAtMaxDelta"] == pytest.approx(one_node, abs=0.01)
    assert "(+$74.08)" in markdown
    assert "+$74.08/mo at max size" in markdown


def test_a_change_that_crosses_the_budget_is_flagged(clone, tmp_path):
    markdown, document, _ = _comment(clone, "bigger-nodes", tmp_path)
    flags = document["stacks"][0]["summary"]["budgetFlags"]
    assert flags
    assert flags[0].startswith("over its budget at desired size")
    assert flags[0].endswith("(crossed by this change)")
    html = _html(markdown)
    assert "<strong>⚠ Budget</strong>" in html
    assert "⚠ <strong>over</strong> $500.00" in html


def test_nothing_changed_says_so(clone, tmp_path):
    markdown, document, code = _comment(clone, "nothing", tmp_path)
    assert code == 0
    assert document["stacks"][0]["resources"] == []
    assert "No infrastructure changes." in markdown


def test_the_replacement_table_covers_every_type_the_program_creates(plans, scratch):
    table = load()
    assert table.provenance["pulumiAws"] == "7.51.1"
    # The small environments too, the own-database variant included.
    for arguments in (["pr-1", "--own-database"], ["dev-bob"]):
        assert main(["--project-dir", str(scratch), "env", "create", *arguments]) == 0
    small = [evaluate(s, project_dir=scratch / "ephemeral") for s in ("pr-1", "dev-bob")]
    for plan in [*plans.values(), *small]:
        for resource in plan.resources:
            if resource.custom and resource.inputs:
                assert table.knows(resource.type), (
                    f"{resource.type}: add it to stagecraft/replacements (README there)"
                )


def test_the_whole_comment_stays_under_githubs_limit(clone, tmp_path):
    # Every environment moved to another region: hundreds of replacements
    # and four audits. GitHub refuses a comment over 65,536 characters.
    originals = {}
    for stack in ("dev", "staging", "production", "sandbox"):
        path = clone / f"Pulumi.{stack}.yaml"
        originals[path] = path.read_text()
        moved = originals[path].replace("aws:region: us-east-1", "aws:region: us-west-2")
        # Backups are copied to another region than the stack's own.
        moved = moved.replace("backupCopyRegion: us-west-2", "backupCopyRegion: us-east-1")
        # Route 53 health checks alarm from us-east-1 only: none elsewhere.
        path.write_text(moved.replace("stagecraft:healthCheckPath: /healthz\n", ""))
    comment = tmp_path / "comment.md"
    try:
        main(["--project-dir", str(clone), "diff", "--base", "HEAD", "--audit",
              "--write", f"markdown={comment}"])  # fmt: skip
    finally:
        for path, text in originals.items():
            path.write_text(text)
    markdown = comment.read_text()
    assert len(markdown) <= 65_536
    html = _html(markdown)
    assert "<h3>stagecraft: infrastructure diff</h3>" in html
    assert "<h3>stagecraft: policy audit</h3>" in html
    # The replaced resources are still all accounted for: one line each where
    # that fits beside the audit, else grouped by type.
    assert re.search(
        r"<li><strong>production</strong> (\d+ x )?<code>aws:ec2/subnet:Subnet</code>", html
    )


def test_a_removed_stack_file_shows_as_everything_deleted(clone, tmp_path, capsys):
    path = clone / "Pulumi.sandbox.yaml"
    original = path.read_text()
    path.unlink()
    artifact = tmp_path / "diff.json"
    try:
        main(["--project-dir", str(clone), "diff", "--base", "HEAD",
              "--write", f"json={artifact}"])  # fmt: skip
    finally:
        path.write_text(original)
    stacks = {s["stack"]: s for s in json.loads(artifact.read_text())["stacks"]}
    sandbox = stacks["sandbox"]
    assert "stack file removed" in sandbox["title"]
    assert sandbox["summary"]["delete"] > 40
    assert sandbox["summary"]["create"] == sandbox["summary"]["update"] == 0
    assert sandbox["summary"]["monthlyAfter"] == 0
