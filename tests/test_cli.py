"""The `stagecraft` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import ConfigError
from stagecraft.cli.main import main
from stagecraft.offline.engine import STACK_TYPE, evaluate
from tests.conftest import REPO, edit_stack


def test_plan_prints_tree_with_sizing_and_summary(capsys):
    assert main(["--project-dir", str(REPO), "plan", "--stack", "staging"]) == 0
    out = capsys.readouterr().out
    assert "stagecraft/staging" in out
    assert "m5.large; ON_DEMAND; min 2 / desired 2 / max 5" in out
    assert "db.t3.medium; postgres 16; 100-200 GiB gp3; single-AZ; backups 7 d" in out
    assert "maxmemory-policy=allkeys-lru" in out
    assert "[ignores changes to scalingConfig.desiredSize]" in out
    assert "Plan for stagecraft/staging: " in out
    assert "aws:ec2/subnet:Subnet" in out
    # A real secret value never reaches the screen; the kubeconfig output is masked.
    assert "kubeconfig" in out
    assert "[secret]" in out


def test_plan_json_matches_the_documented_shape(capsys):
    assert main(["--project-dir", str(REPO), "plan", "--stack", "production", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"project", "stack", "resources", "outputs"}
    assert (document["project"], document["stack"]) == ("stagecraft", "production")
    for resource in document["resources"]:
        assert {"urn", "type", "name", "parent", "custom", "protect", "inputs"} <= set(resource)
    types = {r["type"] for r in document["resources"]}
    assert {"aws:rds/instance:Instance", "aws:eks/nodeGroup:NodeGroup"} <= types
    assert document["outputs"]["kubeconfig"] == "[secret]"


def test_console_script_runs_from_the_virtualenv():
    script = Path(sys.executable).parent / "stagecraft"
    result = subprocess.run(
        [str(script), "plan", "--stack", "production", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    groups = [r for r in document["resources"] if r["type"] == "aws:eks/nodeGroup:NodeGroup"]
    assert groups[0]["inputs"]["scalingConfig"] == {"minSize": 3, "maxSize": 9, "desiredSize": 3}


def test_unknown_stack_lists_the_stacks_that_exist(capsys):
    assert main(["--project-dir", str(REPO), "plan", "--stack", "prod"]) == 2
    err = capsys.readouterr().err
    assert "no stack 'prod'" in err
    assert "Stacks: dev, production, sandbox, staging" in err
    assert "Traceback" not in err


def test_bad_stack_file_exits_2_with_one_line_per_problem(scratch, capsys):
    edit_stack(
        scratch,
        "staging",
        **{"stagecraft:dbBackupRetentionDays": 40, "stagecraft:nodeInstanceType": "m5.huge"},
    )
    code = main(["--project-dir", str(scratch), "plan", "--stack", "staging"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "stack 'staging' has 2 configuration problems; nothing was created" in captured.err
    assert "stagecraft:dbBackupRetentionDays = 40: must be at most 35" in captured.err
    assert 'stagecraft:nodeInstanceType = "m5.huge"' in captured.err
    assert "Traceback" not in captured.err


def test_bad_config_registers_nothing(scratch):
    edit_stack(scratch, "production", **{"stagecraft:vpcCidr": "8.8.0.0/16"})
    with pytest.raises(ConfigError):
        evaluate("production", project_dir=scratch)


def test_bad_config_stops_before_any_resource_is_registered(scratch):
    from stagecraft.offline import engine

    recorded: list[str] = []
    original = engine.RecordingMonitor.RegisterResource

    def spy(self, request):
        recorded.append(request.type)
        return original(self, request)

    engine.RecordingMonitor.RegisterResource = spy  # type: ignore[method-assign]
    try:
        edit_stack(scratch, "dev", **{"stagecraft:nodeMinSize": 5})
        with pytest.raises(ConfigError):
            evaluate("dev", project_dir=scratch)
    finally:
        engine.RecordingMonitor.RegisterResource = original  # type: ignore[method-assign]
    assert recorded == [STACK_TYPE]


def test_malformed_yaml_names_file_and_line(scratch, capsys):
    (scratch / "Pulumi.dev.yaml").write_text("config:\n  aws:region: [us-east-1\n")
    assert main(["--project-dir", str(scratch), "plan", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.dev.yaml line 3" in err
    assert "not valid YAML" in err


def test_secure_stagecraft_value_is_refused_without_showing_it(scratch, capsys):
    ciphertext = "v1:Zm9vYmFy:c2VjcmV0LW93bmVy"
    edit_stack(scratch, "staging", **{"stagecraft:owner": {"secure": ciphertext}})
    assert main(["--project-dir", str(scratch), "plan", "--stack", "staging"]) == 2
    err = capsys.readouterr().err
    assert 'stagecraft:owner = "[secret]": is stored as a secret' in err
    assert ciphertext not in err


def test_secure_values_of_other_namespaces_do_not_break_the_plan(scratch):
    ciphertext = "v1:Zm9vYmFy:c2VjcmV0LWtleQ=="
    edit_stack(scratch, "staging", **{"datadog:apiKey": {"secure": ciphertext}})
    plan = evaluate("staging", project_dir=scratch)
    assert len(plan.resources) > 50
    assert ciphertext not in json.dumps(plan.to_json())


def test_too_few_zones_in_the_region_stops_before_anything_is_created(scratch, capsys):
    # Route 53 health checks alarm from us-east-1 only: none elsewhere.
    edit_stack(
        scratch, "production", **{"aws:region": "us-west-1", "stagecraft:healthCheckPath": ""}
    )
    assert main(["--project-dir", str(scratch), "plan", "--stack", "production"]) == 2
    err = capsys.readouterr().err
    assert (
        "stagecraft:availabilityZoneCount = 3: us-west-1 offers 1 zone EKS can use (usw1-az1) "
        "(usw1-az2 excluded: EKS does not run there); choose at most 1"
    ) in err
    assert "Traceback" not in err


def test_duplicate_resource_names_fail_like_the_real_engine(tmp_path):
    from stagecraft.offline.engine import DuplicateUrnError

    (tmp_path / "Pulumi.yaml").write_text("name: twice\nruntime: python\nmain: program/\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "program").mkdir()
    (tmp_path / "program" / "__main__.py").write_text(
        "import pulumi_random as random\n"
        "random.RandomId('same', byte_length=4)\n"
        "random.RandomId('same', byte_length=8)\n"
    )
    with pytest.raises(DuplicateUrnError, match="Duplicate resource URN"):
        evaluate("test", project_dir=tmp_path)


def test_stacks_command_lists_stack_files(capsys):
    assert main(["--project-dir", str(REPO), "stacks"]) == 0
    assert capsys.readouterr().out.split() == ["dev", "production", "sandbox", "staging"]


def test_two_plans_of_the_same_stack_are_identical():
    first = evaluate("staging", project_dir=REPO).to_json()
    second = evaluate("staging", project_dir=REPO).to_json()
    for before, after in zip(first["resources"], second["resources"], strict=True):
        assert before == after
    assert first["outputs"] == second["outputs"]
