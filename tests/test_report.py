"""`stagecraft report`: every environment side by side, deviations from production marked."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from stagecraft.cli.main import main
from stagecraft.cost import estimate
from stagecraft.docs import load_stack
from stagecraft.report import (
    EXCEPTIONS_FILE,
    ExceptionsError,
    build_report,
    environment_facts,
    load_exceptions,
    render_html,
    render_markdown,
)
from tests.conftest import REPO, STACKS, SUBJECT, edit_stack, shipped_value


@pytest.fixture(scope="module")
def report(project, plans):
    facts = []
    for stack in STACKS:
        config = load_stack(project, stack)
        cost = estimate(plans[stack], budget=config.general.monthly_budget_usd)
        facts.append(environment_facts(plans[stack], config, cost))
    return build_report(facts, prices_read_on="2026-11-23")


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """`stagecraft report` of the real repository, as the HTML page."""
    target = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["--project-dir", str(REPO), "report", "--format", "html", "-o", str(target)]) == 0
    return {"html": target.read_text(encoding="utf-8")}


@pytest.fixture
def registered(scratch: Path) -> Path:
    """A scratch copy of the stack files with the real exceptions register beside them."""
    (scratch / "policy").mkdir()
    shutil.copy(REPO / EXCEPTIONS_FILE, scratch / EXCEPTIONS_FILE)
    return scratch


class _Page(HTMLParser):
    """The parts of the report page a reader sees: headings, tables (by class) and the chart."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tables: list[dict[str, object]] = []
        self.svg_elements: list[tuple[str, dict[str, str | None]]] = []
        self.code_spans: list[str] = []
        self._stack: list[str] = []
        self._text: list[str] = []
        self._row: list[tuple[str, str, str]] | None = None
        self._cell_class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "br":
            self._text.append(" ")
            return  # a void element: no end tag follows
        self._stack.append(tag)
        if "svg" in self._stack:
            self.svg_elements.append((tag, attributes))
        if tag == "table":
            self.tables.append({"class": attributes.get("class") or "", "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th", "h1", "h2", "code", "caption"):
            self._text = []
            self._cell_class = attributes.get("class") or ""

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text).strip()
        if tag in ("h1", "h2"):
            self.headings.append(text)
        elif tag == "code":
            self.code_spans.append(text)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append((tag, text, self._cell_class))
        elif tag == "caption" and self.tables:
            self.tables[-1]["caption"] = text
        elif tag == "tr" and self._row is not None and self.tables:
            rows = self.tables[-1]["rows"]
            assert isinstance(rows, list)
            rows.append(self._row)
            self._row = None
        while self._stack and self._stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def table(self, css_class: str) -> list[list[tuple[str, str, str]]]:
        found = [t for t in self.tables if t["class"] == css_class]
        assert len(found) == 1, css_class
        rows = found[0]["rows"]
        assert isinstance(rows, list)
        return rows


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


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
    assert report.value("production", "Protected stateful resources (`protect`)") == "18 of 18"
    assert report.value("production", "Encryption at rest") == "KMS, all"
    assert report.value("production", "API endpoint") == "private only"
    office = ", ".join(shipped_value("stagecraft:clusterPublicAccessCidrs"))
    assert report.value("staging", "API endpoint") == f"public from {office}"
    assert report.value("production", "Database and cache reachable from") == (
        "cluster nodes, and the Session Manager bastion (port forwarding)"
    )
    assert report.value("production", "Shell access") == (
        "Session Manager bastion (t4g.nano): no inbound rule, no public IP, no SSH key, IMDSv2, "
        "encrypted root volume; shell sessions logged (KMS-encrypted), kept 365 days; port "
        "forwarding to the database and cache only"
    )
    assert "kept 90 days" in report.value("staging", "Shell access")


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
    # No register given: every deviation is unexplained.
    assert page.count('class="deviation unexplained"') == len(report.deviations())
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


def test_final_snapshot_row_reads_the_plan(report):
    assert report.value("production", "Final snapshot on delete") == (
        "yes, a uniquely named final snapshot; automated backups kept"
    )
    assert report.value("dev", "Final snapshot on delete") == (
        "no: deleting the database deletes its data"
    )
    assert report.deviates("dev", "Final snapshot on delete")


def test_every_deviation_of_the_shipped_stacks_is_explained(full_report):
    # The register is complete and has nothing stale: a new deviation needs
    # an entry in the same change (review dates are checked by --check, not
    # here, so the suite does not start failing on a date).
    page = _page(full_report["html"])
    main_table = page.tables[0]["rows"]
    assert isinstance(main_table, list)
    marked = [c for row in main_table for c in row if "deviation" in c[2]]
    assert marked, "production differs from the other environments"
    assert all("unexplained" not in c[2] for c in marked)
    register = page.table("exceptions")
    ids = [row[0][1] for row in register[1:]]
    assert "disposable-non-production-data" in ids
    assert "Deviations from production" in page.headings


def test_report_html_structure(full_report):
    page = _page(full_report["html"])
    text = full_report["html"]
    assert page.headings[0] == "stagecraft environment report"
    assert {
        "Cost by environment",
        "Deviations from production",
        "Exceptions register",
        "Policy verdicts",
        "Preview and developer environments",
    } <= set(page.headings)
    assert "<script" not in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # The side-by-side table: one column per full environment.
    header = [cell[1] for cell in page.tables[0]["rows"][0]]  # type: ignore[index]
    assert header == ["", "dev", "staging", "production", "sandbox"]
    # Markdown code spans become <code>, never raw backticks in a cell.
    assert "protect" in page.code_spans
    for table in page.tables:
        for row in table["rows"]:  # type: ignore[attr-defined]
            for _, cell_text, _ in row:
                assert "`" not in cell_text, cell_text
    # Verdicts: a header per stack, each cell a verdict with its threshold.
    verdicts = page.table("verdicts")
    assert [c[1] for c in verdicts[0]] == [
        "policy",
        "severity",
        "controls",
        "dev",
        "staging",
        "production",
        "sandbox",
    ]
    backups = next(row for row in verdicts if row[0][1] == "rds-backup-retention")
    assert backups[1][1] == "high"
    assert backups[3] == (
        "td",
        "pass, under a WEAKER threshold: minimumDays 1 (weaker than the control's 7)",
        "weaker",
    )
    assert backups[5][1] == "pass: minimumDays 30"


def test_cost_chart_is_inline_svg_with_desired_max_and_budget(full_report, plans, project):
    page = _page(full_report["html"])
    bars = {
        kind: [a for tag, a in page.svg_elements if tag == "rect" and a.get("class") == kind]
        for kind in ("desired", "max")
    }
    budgets = [a for tag, a in page.svg_elements if tag == "line" and a.get("class") == "budget"]
    assert len(bars["desired"]) == len(bars["max"]) == len(budgets) == 4
    # Bars are drawn to one scale: production's desired-size bar is as much
    # longer than dev's as its estimate is larger.
    width = {i: float(a["width"] or 0) for i, a in enumerate(bars["desired"])}
    dev = estimate(plans["dev"], budget=200)
    production = estimate(plans["production"], budget=1800)
    assert width[2] / width[0] == pytest.approx(production.total / dev.total, rel=0.01)
    # Each budget line sits at the budget on that scale.
    scale = width[0] / dev.total
    assert float(budgets[2]["x1"] or 0) - 110 == pytest.approx(1800 * scale, rel=0.01)
    assert "<title>production budget: $1,800.00</title>" in full_report["html"]


def test_the_report_names_the_commit_and_uncommitted_changes(registered, capsys):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(registered), *args],
            check=True,
            capture_output=True,
            text=True,
            env={
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@example.com",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.com",
                "PATH": "/usr/bin:/bin",
            },
        ).stdout.strip()

    arguments = [
        "--project-dir",
        str(registered),
        "report",
        "--stack",
        "dev",
        "--stack",
        "production",
    ]
    assert main(arguments) == 0
    assert "not a git checkout: the commit of these stack files is unknown" in (
        capsys.readouterr().out
    )
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "stack files")
    commit = git("rev-parse", "HEAD")
    assert main(arguments) == 0
    assert f"commit {commit}, no uncommitted changes" in capsys.readouterr().out
    edit_stack(registered, "dev", **{"stagecraft:nodeMaxSize": 4})
    assert main(arguments) == 0
    assert (
        f"commit {commit}, with uncommitted changes to Pulumi.dev.yaml: this report describes "
        "files no commit holds"
    ) in capsys.readouterr().out


def test_an_unexplained_deviation_is_told_apart_and_fails_check(registered, capsys):
    edit_stack(registered, "staging", **{"stagecraft:kubernetesVersion": "1.33"})
    arguments = [
        "--project-dir",
        str(registered),
        "report",
        "--stack",
        "staging",
        "--stack",
        "production",
    ]
    assert main([*arguments, "--check"]) == 1
    captured = capsys.readouterr()
    assert "- **staging**, Kubernetes version: 1.33 (production: 1.34): **UNEXPLAINED**" in (
        captured.out
    )
    assert (
        "- **staging**, RDS deletion protection: no (production: yes): intended: "
        "`disposable-non-production-data`" in captured.out
    )
    assert (
        "error: staging, Kubernetes version: differs from production and no entry of "
        "policy/exceptions.yaml explains it"
    ) in captured.err
    assert main([*arguments, "--format", "html"]) == 0
    page = _page(capsys.readouterr().out)
    unexplained = [c for row in page.tables[0]["rows"] for c in row if "unexplained" in c[2]]  # type: ignore[attr-defined]
    # Told in words too (a printed page has no colours). The autoscaler follows
    # the cluster's minor version, so its chart differs too.
    assert unexplained == [
        ("td", "1.33 UNEXPLAINED", "deviation unexplained"),
        (
            "td",
            "aws-load-balancer-controller 3.5.0, cluster-autoscaler 9.51.0, external-dns "
            "1.21.1, external-secrets 2.9.0, metrics-server 3.13.1 UNEXPLAINED",
            "deviation unexplained",
        ),
    ]


def test_an_overdue_or_stale_entry_fails_check(registered, capsys):
    path = registered / EXCEPTIONS_FILE
    document = yaml.safe_load(path.read_text())
    document["exceptions"][0]["review"] = "2020-01-31"
    document["exceptions"].append(
        {
            "id": "old-kubernetes",
            "stacks": ["staging"],
            "rows": ["Kubernetes version"],
            "reason": "staging upgrades later",
            "owner": "platform-team",
            "review": "2099-01-01",
        }
    )
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["--project-dir", str(registered), "report", "--check"]) == 1
    captured = capsys.readouterr()
    assert "| 2020-01-31 **(overdue)** |" in captured.out
    assert (
        "error: policy/exceptions.yaml: small-non-production-sizing was due for review on "
        "2020-01-31" in captured.err
    )
    assert (
        "error: policy/exceptions.yaml: old-kubernetes covers no deviation any more; "
        "remove it" in captured.err
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"rows": ["Kubernets version"]},
            "exceptions[0] (small-non-production-sizing): 'Kubernets version' is not a row of the "
            "report; rows: AZs / NAT gateways, ",
        ),
        (
            {"stacks": ["prod"]},
            "exceptions[0] (small-non-production-sizing): no stack file for prod; stacks: dev, "
            "production, sandbox, staging",
        ),
        ({"owner": ""}, "exceptions[0] lacks owner"),
        (
            {"review": "next year"},
            "exceptions[0] (small-non-production-sizing): review 'next year' is not a date "
            "(YYYY-MM-DD)",
        ),
        (
            {"approved": True},
            "exceptions[0] (small-non-production-sizing): unknown key approved; allowed: id, "
            "stacks, rows, reason, owner, review",
        ),
        (
            {"id": "small-non-production-sizing"},
            "exceptions[1]: the id small-non-production-sizing is used twice",
        ),
    ],
)
def test_a_bad_register_entry_is_one_clear_error(registered, capsys, change, message):
    path = registered / EXCEPTIONS_FILE
    document = yaml.safe_load(path.read_text())
    entries = document["exceptions"]
    # A second entry reusing the first one's id; else the first entry is broken.
    entries[1 if "id" in change else 0].update(change)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["--project-dir", str(registered), "report", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert f"error: policy/exceptions.yaml: {message}" in err
    assert "Traceback" not in err


def test_the_register_loader_reads_dates_from_yaml(tmp_path):
    path = tmp_path / "exceptions.yaml"
    path.write_text(
        "exceptions:\n  - {id: a, stacks: [dev], rows: [Tier], reason: r, owner: o, "
        "review: 2027-01-31}\n"
    )
    (entry,) = load_exceptions(path, stacks=["dev"], rows=["Tier"])
    assert entry.review == date(2027, 1, 31)
    path.write_text("exceptions: {}\n")
    with pytest.raises(ExceptionsError, match="needs a list under `exceptions:`"):
        load_exceptions(path, stacks=["dev"], rows=["Tier"])


def test_previews_and_developer_stacks_are_summarised(registered, capsys):
    for arguments in (["pr-123"], ["dev-alice", "--ttl", "30d"], ["pr-7", "--own-database"]):
        assert main(["--project-dir", str(registered), "env", "create", *arguments]) == 0
    capsys.readouterr()
    assert main(["--project-dir", str(registered), "report"]) == 0
    out = capsys.readouterr().out
    rows = _table(out, "| stack | kind | shares |")
    assert set(rows) == {"pr-123", "pr-7", "dev-alice"}
    assert rows["pr-123"][:4] == ["preview", "staging", "pr-123", "in the shared instance"]
    assert rows["pr-7"][3] == "own instance"
    assert rows["dev-alice"][:2] == ["developer", "dev"]
    assert all(r[-1] == "passes" for r in rows.values())
    assert all(r[-2].startswith("$") for r in rows.values())


def test_no_small_stacks_says_where_they_are(full_report):
    assert "No pr-&lt;n&gt; or dev-&lt;name&gt; stack file in ephemeral/" in full_report["html"]


def test_cli_renders_every_full_environment(capsys):
    assert main(["--project-dir", str(REPO), "report", "--no-small"]) == 0
    out = capsys.readouterr().out
    assert "| | dev | staging | production | sandbox |" in out
    assert "## Preview and developer environments" not in out


def test_a_missing_baseline_is_an_error(capsys):
    code = main(["--project-dir", str(REPO), "report", "--stack", "dev", "--baseline", "prod"])
    assert code == 2
    assert "the baseline stack 'prod' is not among the reported stacks (dev)" in (
        capsys.readouterr().err
    )


def test_the_secrets_rows_list_slots_delivery_and_what_rotates_by_hand(report):
    slots = ", ".join(sorted(shipped_value("stagecraft:thirdPartySecrets", "production")))
    assert report.value("production", "Third-party secret slots") == (
        f"{slots}: values put by hand, none in the stack"
    )
    assert report.value("staging", "Third-party secrets delivered by").startswith(
        "External Secrets 2.9.0: namespaced SecretStore reading as third-party-secrets-reader"
    )
    # AWS rotates none of them without a rotation Lambda we would own (README
    # "Secrets that are not ours to generate"), so each is listed with its age.
    assert report.value("production", "Secrets rotated automatically") == "none"
    assert report.value("production", "Secret age policy (rotate by hand)") == "every 90 days"
    assert report.value("staging", "Secret age policy (rotate by hand)") == "every 30 days"
    by_hand = report.value("production", "Secrets rotated by hand").split(", ")
    assert {"database-master", "jwt-secret", "redis-password"} <= set(by_hand)
    assert {f"third-party/{name}" for name in slots.split(", ")} <= set(by_hand)


def test_budget_row_compares_status_and_flags_the_ceiling(report):
    # Production at desired size stays under its $1,800 budget, but since AWS
    # Backup (a snapshot and its copy, ~$95) its ceiling of 9 nodes does not;
    # staging's ($680.89) does not fit its $500 either: the row says so.
    assert report.value("production", "Budget check") == (
        "within budget at desired size; OVER at max size"
    )
    assert report.value("staging", "Budget check") == (
        "within budget at desired size; OVER at max size"
    )
    # Both read the same now, so staging no longer differs from production.
    assert not report.deviates("staging", "Budget check")


def test_the_report_shows_who_ci_is_and_what_trusts_it(full_report):
    page = _page(full_report["html"])
    assert "CI access (the account's bootstrap)" in page.headings
    roles = {row[0][1]: row for row in page.table("ci")[1:]}
    assert roles["stagecraft-ci-deploy-production"][1][1] == (f"{SUBJECT}:environment:production")
    assert roles["stagecraft-ci-preview"][1][1] == f"{SUBJECT}:pull_request"
    assert all(row[2][1] == "yes" for row in roles.values())  # audience pinned
    assert "Bootstrap stack bootstrap: policy pack passes." in full_report["html"].replace(
        "<code>", ""
    ).replace("</code>", "")


def test_the_report_says_who_may_do_what(report):
    production = report.value("production", "Who may do what (audience roles)")
    # Read from the plan: trust, access entries and rds-db:connect grants.
    assert production == (
        "developers (1 principal(s)): cluster view; database as stagecraft_readonly on "
        "2 instance(s); oncall (1 principal(s)): cluster cluster-admin; database as "
        "stagecraft_readwrite on 1 instance(s)"
    )
    assert "qa (1 principal(s)): cluster view; database as stagecraft_readonly" in report.value(
        "staging", "Who may do what (audience roles)"
    )
    assert report.value("production", "Application's database login") == (
        "stagecraft_app with an IAM token (ServiceAccount `app`), never the master user"
    )
