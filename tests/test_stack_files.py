"""A stack file is untrusted input: the ways it can be wrong, each refused in one line.

The classes of mistake, and where each is covered:

- syntax: not YAML, not a mapping, a misspelled top-level key (here);
- a key written twice, in the stack file or a policy config (here);
- an unknown or misspelled key, a provider setting that would be ignored
  (tests/test_config.py);
- a value of the wrong type, out of range, or naming something that does not
  exist: a region, an instance family, a Kubernetes version
  (tests/test_config.py);
- combinations: within a section, across sections, and what a
  production-tier stack must never be (tests/test_config.py);
- what only the account knows: zones EKS can use, the identity running
  `pulumi up` (tests/test_network.py, tests/test_cluster.py);
- across stacks: overlapping VPC ranges, a VPC overlapping an operator
  network (tests/test_stack_set.py).

Every one exits 2 with the problem named and no traceback, before anything is
planned.
"""

from __future__ import annotations

import pytest

from stagecraft.cli.main import main


def _plan(scratch, capsys, stack="production"):
    code = main(["--project-dir", str(scratch), "plan", "--stack", stack])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err.strip()


def _add_to_config(scratch, stack, line):
    """Add ``line`` as the config mapping's last entry; returns its line number.

    Not simply at the end of the file: `pulumi stack init` writes top-level
    keys (secretsprovider, encryptedkey) there.
    """
    path = scratch / f"Pulumi.{stack}.yaml"
    lines = path.read_text().splitlines()
    start = lines.index("config:")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")),
        len(lines),
    )
    lines.insert(end, line)
    path.write_text("\n".join(lines) + "\n")
    return end + 1


def test_a_key_set_twice_is_refused_naming_both_lines(scratch, capsys):
    # The reviewer reads the first line; YAML parsers keep the second.
    added = _add_to_config(scratch, "production", "  stagecraft:dbMultiAz: false")
    lines = (scratch / "Pulumi.production.yaml").read_text().splitlines()
    first = lines.index("  stagecraft:dbMultiAz: true") + 1
    code, err = _plan(scratch, capsys)
    assert code == 2
    assert err == (
        f"error: Pulumi.production.yaml: key 'stagecraft:dbMultiAz' is set twice, on line "
        f"{first} and line {added}; keep one"
    )


def test_a_key_set_twice_inside_a_nested_mapping_is_refused_too(scratch, capsys):
    path = scratch / "Pulumi.staging.yaml"
    config_line = path.read_text().splitlines().index("config:") + 1
    path.write_text(path.read_text().replace("config:", "config:\n  x:\n    a: 1\n    a: 2", 1))
    code, err = _plan(scratch, capsys, "staging")
    assert code == 2
    assert f"key 'a' is set twice, on line {config_line + 2} and line {config_line + 3}" in err


def test_a_misspelled_top_level_key_is_named_not_reported_as_every_key_missing(scratch, capsys):
    path = scratch / "Pulumi.staging.yaml"
    path.write_text(path.read_text().replace("config:", "confg:", 1))
    code, err = _plan(scratch, capsys, "staging")
    assert code == 2
    assert err == (
        "error: Pulumi.staging.yaml: top-level key 'confg' is not one a stack file has "
        "(config, secretsprovider, encryptedkey, encryptionsalt, environment); did you mean "
        "'config'?"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config: [a, b\n", "Pulumi.staging.yaml line 2, column 1: not valid YAML"),
        ("- just\n- a list\n", "Pulumi.staging.yaml: must be a mapping with a `config:` key"),
        ("config: 42\n", "Pulumi.staging.yaml: `config:` must be a mapping of key: value"),
    ],
)
def test_a_malformed_stack_file_is_one_line(scratch, capsys, text, expected):
    (scratch / "Pulumi.staging.yaml").write_text(text)
    code, err = _plan(scratch, capsys, "staging")
    assert code == 2
    assert expected in err
    assert len(err.splitlines()) == 1


def test_a_policy_config_with_a_key_set_twice_is_refused(tmp_path, capsys):
    config = tmp_path / "twice.json"
    config.write_text('{"all": "mandatory", "all": "advisory"}')
    code = main(["audit", "--stack", "dev", "--policy-config", str(config)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{config}: 'all' is set twice in one object; keep one" in err


def test_a_usage_file_with_a_key_set_twice_is_refused(tmp_path, capsys):
    usage = tmp_path / "usage.yaml"
    usage.write_text("log_storage_gb: 1\nlog_storage_gb: 9\n")
    code = main(["cost", "--stack", "dev", "--usage", str(usage)])
    err = capsys.readouterr().err
    assert code == 2
    assert "key 'log_storage_gb' is set twice, on line 1 and line 2; keep one" in err
