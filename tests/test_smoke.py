"""`stagecraft check-outputs`: the smoke check after `pulumi up`."""

from __future__ import annotations

import json

from stagecraft.cli.main import main
from stagecraft.smoke import check_outputs


def test_real_plan_outputs_pass(plans):
    for plan in plans.values():
        assert check_outputs(plan.outputs) == []


def test_missing_and_malformed_outputs_are_named(production):
    outputs = dict(production.outputs)
    del outputs["redisEndpoint"]
    outputs["clusterEndpoint"] = "http://insecure.example"
    assert check_outputs(outputs) == [
        "clusterEndpoint: 'http://insecure.example' is not an https:// API endpoint",
        "redisEndpoint: missing (expected the Redis primary endpoint host)",
    ]


def test_command_exit_codes(production, tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(production.outputs))
    assert main(["check-outputs", str(good)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**production.outputs, "vpcId": ""}))
    assert main(["check-outputs", str(bad)]) == 1
    assert "output vpcId" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["check-outputs", str(broken)]) == 2
