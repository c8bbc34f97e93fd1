"""The README documents what the stack files really say."""

from __future__ import annotations

import re
import shlex

from infra.config import EPHEMERAL_SECTIONS, config_keys
from stagecraft.docs import environment_table, load_stack, render_readme, stale_sections
from tests.conftest import REPO

README = REPO / "README.md"


def test_readme_tables_are_generated_from_the_current_stack_files(project):
    assert stale_sections(README, project) == [], "README is stale: run `make docs`"


def test_environment_table_shows_the_issue_values(project):
    table = environment_table([load_stack(project, s) for s in ("dev", "staging", "production")])
    assert "| AZs / NAT gateways | 2 / 1 shared | 2 / 1 shared | 3 / one per AZ |" in table
    assert (
        "| EKS node group | t3.medium, min 1, max 3, desired 1 | m5.large, min 2, max 5, "
        "desired 2 | m5.large, min 3, max 9, desired 3 |"
    ) in table
    assert (
        "db.m5.large, 500 GB, Multi-AZ, backups 30 days, 1 read replica, deletion protection, "
        "Performance Insights, enhanced monitoring"
    ) in table
    assert "db.t3.medium, 100 GB, single-AZ, backups 7 days" in table
    assert "primary + replica in 2 AZs, automatic failover, cache.m6g.large" in table
    assert "1 node, cache.t4g.micro, `maxmemory-policy allkeys-lru`" in table
    assert "| Log retention: application and database logs | 3 days | 7 days | 30 days |" in table
    assert (
        "| Log retention: audit trail (EKS control plane, VPC flow logs) | 14 days | 90 days | "
        "365 days |"
    ) in table
    assert "| Tier | non-production | non-production | production |" in table
    assert "| Monthly budget (USD) | 200 | 500 | 1,800 |" in table


def test_a_changed_stack_file_makes_the_readme_stale(project, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        README.read_text().replace("m5.large, min 2, max 5", "m5.large, min 2, max 6")
    )
    assert stale_sections(readme, project) == ["environment-table"]


def test_every_config_key_is_documented():
    text = README.read_text()
    for key in [*config_keys(), *config_keys(EPHEMERAL_SECTIONS)]:
        assert f"`{key.namespaced}`" in text


def test_readme_explains_staging_single_az_and_the_two_commands():
    text = README.read_text()
    assert "Staging's database is single-AZ on purpose" in text
    assert "make plan STACK=staging" in text
    assert "make test" in text
    # The bootstrap's state stays local, named per command (step 3).
    assert "PULUMI_BACKEND_URL=file://~ pulumi up --stack bootstrap --cwd bootstrap" in text


def _readme_commands(program: str) -> list[str]:
    """Every command line of ``program`` in the README's code blocks, continuations joined."""
    lines, in_block, pending = [], False, ""
    for line in README.read_text().splitlines():
        if line.strip().startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        text = pending + line.strip()
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        if text.startswith(program):
            lines.append(text)
    return lines


def test_every_stagecraft_command_in_the_readme_parses():
    from stagecraft.cli.main import _parser

    commands = _readme_commands(".venv/bin/stagecraft ")
    assert len(commands) > 20
    for line in commands:
        command = re.sub(r"\[[^]]*\]", "", line.split(" #")[0].split(" | ")[0])
        argv = shlex.split(command)[1:]
        try:
            _parser().parse_args(argv)
        except SystemExit as exit_:
            raise AssertionError(f"README: `{command}` does not parse") from exit_


def test_the_policy_configs_and_folders_the_readme_names_exist():
    text = README.read_text()
    for config in set(re.findall(r"policy/config/([\w-]+\.json)", text)):
        assert (REPO / "policy" / "config" / config).is_file(), config
    for folder in set(re.findall(r"--cwd ([\w-]+)", text)):
        assert (REPO / folder / "Pulumi.yaml").is_file(), folder


def test_render_keeps_text_outside_the_markers():
    source = "intro\n<!-- BEGIN GENERATED: x -->\nold\n<!-- END GENERATED: x -->\noutro\n"
    assert render_readme(source, {"x": "new"}) == (
        "intro\n<!-- BEGIN GENERATED: x -->\nnew\n<!-- END GENERATED: x -->\noutro\n"
    )
