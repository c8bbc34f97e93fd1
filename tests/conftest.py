"""Shared fixtures: each real stack is evaluated once per test session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import StackConfig, parse_stack_config
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from stagecraft.offline.stackfiles import Project, load_project, scratch_copy

REPO = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "production")


@pytest.fixture(scope="session")
def project() -> Project:
    return load_project(REPO)


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    return {stack: evaluate(stack, project_dir=REPO) for stack in STACKS}


@pytest.fixture(scope="session")
def dev(plans: dict[str, Plan]) -> Plan:
    return plans["dev"]


@pytest.fixture(scope="session")
def staging(plans: dict[str, Plan]) -> Plan:
    return plans["staging"]


@pytest.fixture(scope="session")
def production(plans: dict[str, Plan]) -> Plan:
    return plans["production"]


@pytest.fixture
def scratch(tmp_path: Path, project: Project) -> Path:
    """A copy of the stack files (running the real program) to edit freely."""
    return scratch_copy(project, tmp_path / "project").directory


def edit_stack(directory: Path, stack: str, **changes: object) -> None:
    """Set keys (fully qualified, e.g. "stagecraft:dbMultiAz") in a copied stack file."""
    path = directory / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].update(changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def stack_config(project: Project, stack: str, **overrides: Any) -> StackConfig:
    """Parse a real stack file with some keys replaced (names without namespace)."""
    values = {f"stagecraft:{k}": v for k, v in overrides.items()}
    config = project.config_map(stack, values)
    return parse_stack_config(config.values, project=project.name, stack=stack)


def inside(plan: Plan, component_type: str) -> list[PlannedResource]:
    """Every resource below the one component of ``component_type``."""
    component = plan.one(component_type)
    return list(plan.descendants_of(component.urn))
