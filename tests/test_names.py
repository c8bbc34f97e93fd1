"""Every AWS name a plan produces fits AWS's limit, for the longest names config allows.

Not a list of special cases: every custom AWS resource of every plan must be
either in ``NAME_RULES`` (with its limit) or in ``UNNAMED_AWS_TYPES``, so a new
resource type fails here until someone has looked up how AWS names it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.aws_types import (
    AUTONAME_SUFFIX_LENGTH,
    NAME_RULES,
    UNNAMED_AWS_TYPES,
    fitted_name,
    physical_name,
)
from infra.config import MAX_RESOURCE_PREFIX, PROJECT_NAME, stack_kind
from stagecraft.cli.main import main
from stagecraft.offline.engine import Plan, evaluate
from stagecraft.offline.stackfiles import load_project, scratch_copy
from tests.conftest import REPO

# The longest stack names the name rules allow.
LONGEST_DEVELOPER = "dev-" + "a" * (MAX_RESOURCE_PREFIX - len(f"{PROJECT_NAME}-dev-"))
LONGEST_PREVIEW = "pr-999999"


def test_the_longest_names_are_the_longest_allowed():
    assert stack_kind(LONGEST_DEVELOPER) == "developer"
    assert stack_kind(LONGEST_DEVELOPER + "a") is None
    assert stack_kind(LONGEST_PREVIEW) == "preview"


@pytest.fixture(scope="module")
def longest_plans(tmp_path_factory: pytest.TempPathFactory) -> list[Plan]:
    root = scratch_copy(load_project(REPO), tmp_path_factory.mktemp("names")).directory
    for stack in (LONGEST_DEVELOPER, LONGEST_PREVIEW):
        # Their own database too: the most resources a small stack can have.
        assert main(["--project-dir", str(root), "env", "create", stack, "--own-database"]) == 0
    ephemeral = Path(root) / "ephemeral"
    return [
        evaluate("production", project_dir=REPO),
        evaluate("sandbox", project_dir=REPO),
        evaluate(LONGEST_DEVELOPER, project_dir=ephemeral),
        evaluate(LONGEST_PREVIEW, project_dir=ephemeral),
    ]


def _final_name(resource, rule):
    explicit = resource.inputs.get(rule.property)
    if explicit:
        return str(explicit)
    assert rule.autonamed, f"{resource.type} {resource.name} needs an explicit {rule.property}"
    return resource.name + "-" + "f" * (AUTONAME_SUFFIX_LENGTH - 1)


def test_every_aws_resource_type_has_a_known_naming_rule(longest_plans):
    for plan in longest_plans:
        for resource in plan.resources:
            if not resource.custom or not resource.type.startswith("aws:"):
                continue
            assert resource.type in NAME_RULES or resource.type in UNNAMED_AWS_TYPES, (
                f"{resource.type}: look up its name limit and add it to infra/aws_types.py"
            )


def test_every_final_name_fits_its_aws_limit(longest_plans):
    too_long = []
    for plan in longest_plans:
        for resource in plan.resources:
            rule = NAME_RULES.get(resource.type)
            if rule is None or not resource.custom:
                continue
            name = _final_name(resource, rule)
            if len(name) > rule.limit:
                too_long.append(
                    f"{plan.stack}: {resource.type} {name} ({len(name)} > {rule.limit})"
                )
    assert too_long == []


def test_names_too_long_for_an_autoname_are_set_explicitly_and_cut_only_when_needed():
    role = "aws:iam/role:Role"
    # Fits with Pulumi's 8-character suffix: left to auto-naming.
    assert physical_name(role, "stagecraft-staging-network-flow-logs") is None
    # Would not fit with the suffix, fits without: the logical name itself.
    jobs = f"stagecraft-{LONGEST_DEVELOPER}-database-jobs-irsa"
    assert len(jobs) + AUTONAME_SUFFIX_LENGTH > 64 >= len(jobs)
    assert physical_name(role, jobs) == jobs
    # Longer than the limit itself: cut, with a hash of the whole name.
    longer = jobs + "-for-the-reset-cronjob"
    cut = physical_name(role, longer)
    assert cut is not None
    assert len(cut) == 64
    assert cut.startswith(f"stagecraft-{LONGEST_DEVELOPER}-database-jobs")
    assert physical_name(role, longer) == cut  # stable from run to run
    assert physical_name(role, longer.replace("cronjob", "cronjobs")) != cut


def test_fitted_names_never_end_in_a_dash_before_the_hash():
    assert fitted_name("a" * 10, 10) == "a" * 10
    name = fitted_name("stagecraft-dev-" + "b" * 30, 24)
    assert len(name) <= 24
    assert "--" not in name
