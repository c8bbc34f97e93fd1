"""The stagecraft Pulumi program: one stack, one environment."""

import sys
from pathlib import Path

# `pulumi up` runs this file as a script from inside infra/ (Pulumi.yaml `main`),
# so the repository root has to be importable for `infra.*` to resolve.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.components.environment import Environment
from infra.config import load_stack_config

config = load_stack_config()
environment = Environment(config.resource_prefix, config)
for output_name, value in environment.outputs.items():
    pulumi.export(output_name, value)
