"""`stagecraft report`: every environment side by side, deviations from production marked."""

from __future__ import annotations

import dataclasses
import re

import pytest

from stagecraft.cli.main import main
from stagecraft.cost import estimate
from stagecraft.docs import load_stack
from stagecraft.report import build_report, environment_facts, render_html, render_markdown
from tests.conftest import REPO, STACKS


@pytest.fixture(scope="module")
def report(project, plans):
    facts = []
    for stack in STACKS:
        config = load_stack(project, stack)
        cost = estimate(plans[stack], budget=config.general.monthly_budget_usd)
        facts.append(environment_facts(plans[stack], config, cost))
    return build_report(facts, prices_read_on="2026-11-23")


def _table(markdown: str, header_start: str) -> dict[str, list[str]]:
    """Rows of the first markdown table whose header starts with ``header_start``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = [re.sub(r"^⚠ \*\*(.*)\*\*$", r"\1", c) for c in cells[1:]]
    return rows


def test_readme_table_matches_the_report(report):
    readme = _table((REPO / "README.md").read_text(), "| | dev | staging | production |")
    rendered = _table(render_markdown(report), "| | dev | staging | production |")
    assert readme
    for row, cells in readme.items():
        assert rendered[row] == cells, row


def test_report_covers_the_safety_settings(report):
    expected_rows = {
        "Encryption at rest",
        "API endpoint",
        "Database and cache reachable from",
        "Protected stateful resources (`protect`)",
        "RDS deletion protection",
        "RDS backup retention",
        "VPC flow logs",
        "IAM database authentication",
        "Monthly budget (USD)",
        "Estimated monthly cost (desired / max nodes)",
    }
    assert expected_rows <= set(report.row_names)
    assert report.value("production", "Protected stateful resources (`protect`)") == "5 of 5"
    assert report.value("production", "Encryption at rest") == "KMS, all"
    assert report.value("production", "API endpoint") == "private only"
    assert report.value("staging", "API endpoint") == "public from 198.51.100.0/24"
    assert report.value("production", "Database and cache reachable from") == "cluster nodes only"


def test_deviations_from_production_are_marked(report):
    markdown = render_markdown(report)
    assert report.deviates("staging", "RDS deletion protection")
    assert not report.deviates("staging", "Encryption at rest")
    assert not report.deviates("production", "RDS deletion protection")
    rows = {
        line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| ")
    }
    assert "⚠ **no** | ⚠ **no** | yes |" in rows["RDS deletion protection"]
    assert "- **staging**, VPC flow logs: no (production: yes)" in markdown


def test_html_is_one_self_contained_page(report):
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert page.count('class="deviation"') == len(report.deviations())
    assert "<th>production</th>" in page


def test_a_weakened_production_shows_in_the_report(project, production):
    # The stack file cannot say it (production-tier rules refuse it), but a
    # plan can still differ from the file: the report reads the plan.
    weak = dataclasses.replace(
        production,
        resources=[
            dataclasses.replace(r, inputs={**r.inputs, "deletionProtection": False})
            if r.type == "aws:rds/instance:Instance"
            else r
            for r in production.resources
        ],
    )
    config = load_stack(project, "production")
    facts = environment_facts(weak, config, estimate(weak, budget=1800))
    assert facts.rows["RDS deletion protection"] == "no"


def test_cli_renders_all_three_environments(tmp_path, capsys):
    assert main(["--project-dir", str(REPO), "report"]) == 0
    out = capsys.readouterr().out
    assert "| | dev | staging | production |" in out
    target = tmp_path / "report.html"
    assert main(["--project-dir", str(REPO), "report", "--format", "html", "-o", str(target)]) == 0
    assert "<th>staging</th>" in target.read_text()


def test_a_missing_baseline_is_an_error(capsys):
    code = main(["--project-dir", str(REPO), "report", "--stack", "dev", "--baseline", "prod"])
    assert code == 2
    assert "the baseline stack 'prod' is not among the reported stacks (dev)" in (
        capsys.readouterr().err
    )


def test_budget_row_compares_status_not_amounts(report):
    assert not report.deviates("staging", "Budget check")
