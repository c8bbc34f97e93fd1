"""Pulumi.yaml's config schema, the pydantic models and the stack files agree."""

from __future__ import annotations

import yaml

from infra.config import config_keys, project_config_schema
from tests.conftest import REPO, STACKS


def _pulumi_yaml() -> dict:
    return yaml.safe_load((REPO / "Pulumi.yaml").read_text())


def test_pulumi_yaml_declares_exactly_what_the_models_define():
    declared = _pulumi_yaml()["config"]
    expected = project_config_schema()
    assert set(declared) == set(expected), "keys differ between Pulumi.yaml and infra/config.py"
    for key, schema in expected.items():
        assert declared[key] == schema, f"Pulumi.yaml config.{key} differs from the model"


def test_ephemeral_project_declares_what_its_model_defines():
    from infra.config import EPHEMERAL_SECTIONS

    declared = yaml.safe_load((REPO / "ephemeral" / "Pulumi.yaml").read_text())
    assert declared["name"] == "stagecraft"  # same project: its stacks sit beside staging
    assert declared["config"] == project_config_schema(EPHEMERAL_SECTIONS)


def test_every_declared_key_has_type_and_description():
    for key, schema in _pulumi_yaml()["config"].items():
        assert schema["type"] in {"string", "integer", "boolean", "array"}, key
        assert len(schema["description"]) > 20, key
        if schema["type"] == "array":
            assert schema["items"]["type"] == "string", key


def test_defaults_in_pulumi_yaml_are_valid_for_their_type():
    python_types = {"string": str, "integer": int, "boolean": bool, "array": list}
    for key, schema in _pulumi_yaml()["config"].items():
        if "default" in schema:
            assert isinstance(schema["default"], python_types[schema["type"]]), key


def test_project_settings_point_at_the_program():
    project = _pulumi_yaml()
    assert project["name"] == "stagecraft"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert (REPO / project["main"] / "__main__.py").is_file()


def test_stack_files_set_only_declared_keys_and_every_required_one():
    # Secret keys are left out of Pulumi.yaml (infra/config.py _secret_field).
    declared = set(_pulumi_yaml()["config"]) | {k.name for k in config_keys() if k.secret}
    required = {k.name for k in config_keys() if k.required}
    for stack in (*STACKS, "sandbox"):
        config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
        ours = {k.split(":", 1)[1] for k in config if k.startswith("stagecraft:")}
        assert ours <= declared, f"{stack}: undeclared keys {ours - declared}"
        # The Pulumi CLI refuses a stack that leaves out a key declared without default.
        assert required <= ours, f"{stack}: missing {required - ours}"
        assert "aws:region" in config


def test_requirements_txt_pins_what_pyproject_pins():
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = sorted(pyproject["project"]["dependencies"])
    lines = (REPO / "requirements.txt").read_text().splitlines()
    pinned = sorted(line for line in lines if line and not line.startswith("#"))
    assert pinned == runtime
    assert all("==" in requirement for requirement in runtime), "every dependency is pinned"
    for extra in pyproject["project"]["optional-dependencies"].values():
        assert all("==" in requirement for requirement in extra)
