"""The program of pr-<n> and dev-<name> stacks: one namespace-sized environment."""

import sys
from pathlib import Path

# `pulumi up` runs this file from inside ephemeral/; the package lives one up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.components.shared_environment import SharedEnvironment
from infra.config import load_ephemeral_config

config = load_ephemeral_config()
environment = SharedEnvironment(config.resource_prefix, config)
for output_name, value in environment.outputs.items():
    pulumi.export(output_name, value)
