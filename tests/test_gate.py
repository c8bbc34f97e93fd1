"""`stagecraft gate` on preview documents in the `pulumi preview --json` format."""

from __future__ import annotations

import io
import json

import pytest

from stagecraft.cli.main import main
from stagecraft.gate import ALLOW_ALL_LABEL, evaluate_gate, parse_preview, step_type
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "previews"
DB_URN = (
    "urn:pulumi:production::stagecraft::stagecraft:index:Environment$stagecraft:index:Database"
    "$aws:rds/instance:Instance::stagecraft-production-database"
)
SECRET_URN = (
    "urn:pulumi:production::stagecraft::stagecraft:index:Environment$stagecraft:index:Secrets"
    "$aws:secretsmanager/secret:Secret::stagecraft-production-secrets-jwt-secret"
)


def _gate(name: str, *extra: str) -> int:
    return main(["gate", str(FIXTURES / name), *extra])


@pytest.mark.parametrize("name", ["create-only.json", "update.json"])
def test_creates_and_updates_pass(name, capsys):
    assert _gate(name) == 0
    assert capsys.readouterr().out.startswith("gate passed:")


def test_replacing_the_production_database_fails_naming_it(capsys):
    assert _gate("replace-database.json") == 1
    out = capsys.readouterr().out
    assert "gate FAILED: 1 stateful resource(s) would be replaced or deleted" in out
    assert DB_URN in out
    assert "(replace reasons: dbName)" in out
    # The log group update in the same preview is no offender.
    assert "logGroup" not in out


def test_deleting_a_secret_fails_but_the_log_group_does_not(capsys):
    assert _gate("delete-secret.json", "--format", "json") == 1
    result = json.loads(capsys.readouterr().out)
    assert [(o["op"], o["type"], o["urn"]) for o in result["offenders"]] == [
        ("delete", "aws:secretsmanager/secret:Secret", SECRET_URN)
    ]
    assert result["stepsChecked"] == 2


@pytest.mark.parametrize(
    "allowance",
    [["--allow", DB_URN], ["--allow", "aws:rds/instance:Instance"], ["--label", ALLOW_ALL_LABEL]],
)
def test_the_pr_can_allow_the_replacement(allowance, capsys):
    assert _gate("replace-database.json", *allowance) == 0
    out = capsys.readouterr().out
    assert out.startswith("gate passed:")
    assert f"allowed ({' '.join(allowance).replace('--label ', 'label ')})" in out


def test_labels_arrive_comma_separated_from_github(capsys):
    code = _gate("replace-database.json", "--labels", f"documentation, {ALLOW_ALL_LABEL}")
    assert code == 0
    capsys.readouterr()


def test_allowing_another_resource_does_not_help(capsys):
    assert _gate("replace-database.json", "--allow", SECRET_URN) == 1
    capsys.readouterr()


def test_malformed_json_is_refused_with_a_clear_error(capsys):
    assert _gate("malformed.json") == 2
    err = capsys.readouterr().err
    assert "malformed.json: not JSON (line 4, column 1" in err
    assert "pass the output of `pulumi preview --json`" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "expected a JSON object with a `steps` list"),
        ('{"steps": {}}', "`steps` must be a list"),
        ('{"steps": [{"urn": "x"}]}', "steps[0] has no `op` string"),
        ('{"steps": [{"op": "explode", "urn": "x"}]}', "steps[0] has unknown op 'explode'"),
    ],
)
def test_documents_of_the_wrong_shape_are_refused(document, message, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(document))
    assert main(["gate", "-"]) == 2
    assert message in capsys.readouterr().err


def test_missing_file(capsys):
    assert main(["gate", "/nonexistent/preview.json"]) == 2
    assert "cannot read /nonexistent/preview.json" in capsys.readouterr().err


def test_one_replacement_is_reported_once():
    steps = parse_preview((FIXTURES / "replace-database.json").read_text())
    result = evaluate_gate(steps)
    assert len(result.offenders) == 1
    assert result.offenders[0].op == "create-replacement"


def test_type_comes_from_the_urn_when_states_are_absent():
    assert step_type({"op": "delete", "urn": SECRET_URN}) == "aws:secretsmanager/secret:Secret"
    assert (
        step_type({"op": "delete", "urn": "urn:pulumi:s::p::kubernetes:core/v1:Namespace::ns"})
        == "kubernetes:core/v1:Namespace"
    )


@pytest.mark.parametrize(
    "type_token",
    [
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:kms/key:Key",
        "pulumi:providers:kubernetes",
        "kubernetes:core/v1:Namespace",
    ],
)
def test_every_stateful_type_is_guarded(type_token):
    urn = f"urn:pulumi:production::stagecraft::{type_token}::thing"
    result = evaluate_gate([{"op": "replace", "urn": urn, "replaceReasons": ["x"]}])
    assert not result.passed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{}", "neither `steps` nor `changeSummary`"),
        (
            '{"steps": [{"op": "delete", "urn": "u", "oldState": "x"}]}',
            "oldState must be an object",
        ),
        (
            '{"steps": [{"op": "replace", "urn": "u", "replaceReasons": "dbName"}]}',
            "replaceReasons must be a list of strings",
        ),
    ],
)
def test_odd_documents_fail_closed(document, message, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(document))
    assert main(["gate", "-"]) == 2
    assert message in capsys.readouterr().err


def test_an_empty_preview_passes(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"changeSummary": {"same": 40}}'))
    assert main(["gate", "-"]) == 0
    assert capsys.readouterr().out.startswith("gate passed: 0 steps")


def test_updates_aws_would_refuse_fail_and_cannot_be_allowed(capsys):
    assert _gate("refused-updates.json", "--label", "stagecraft:allow-data-loss") == 1
    out = capsys.readouterr().out
    assert "Kubernetes 1.32 -> 1.34: EKS upgrades one minor version at a time" in out
    assert "adds 2 subnet(s) to the cluster: EKS accepts subnets only in the zones" in out
    assert "PostgreSQL 16 -> 17 without applyImmediately" in out


def test_a_one_step_upgrade_applied_at_once_passes():
    steps = parse_preview((FIXTURES / "refused-updates.json").read_text())
    cluster, database = (dict(s) for s in steps)
    cluster["newState"] = {
        **cluster["newState"],
        "inputs": {**cluster["oldState"]["inputs"], "version": "1.33"},
    }
    database["newState"] = {
        **database["newState"],
        "inputs": {**database["newState"]["inputs"], "applyImmediately": True},
    }
    assert evaluate_gate([cluster, database]).passed
